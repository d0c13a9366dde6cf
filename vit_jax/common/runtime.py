"""Process settings for XLA, in one place: main.py and vit_jax.benchmark call `apply()` first,
before JAX creates its backends (XLA reads XLA_FLAGS once, at the first computation) and before
any other thread starts.

1. XLA_FLAGS: the flags in FLAGS, unless the environment's XLA_FLAGS sets them already (so a
   user can override any of them). None is needed at present: the XLA:CPU options tried
   (oneDNN, XNNPACK/YNNPACK fusion types, vector width) helped one model and slowed another.
2. The C allocator (glibc only): XLA's CPU runtime allocates every temporary and output buffer
   of a computation afresh on each call. With glibc's defaults large blocks are mmap()ed and
   unmapped again, so each training step page-faults all its working memory back in (measured
   for ViT-B/16, batch 16: 860k page faults and 3-11 s of kernel time per 7 s step, worse
   after PyTorch ran in the same process). Keeping freed memory in the heap (no mmap, no
   trimming, one arena) removes those faults, at a cost in memory: the heap stays at its
   fragmented high-water mark (measured, ViT-B/16 training step at batch 16: 7.45 s and 12.9 GB
   peak RSS with these settings, 8.2-8.8 s and 6.2 GB without). So they apply only where JAX
   will compute on the CPU (JAX_PLATFORMS=cpu, or no accelerator plugin installed: on a GPU they
   only cost host memory) and the machine has at least MIN_MEMORY_GIB of memory; on a smaller
   one they stay off and apply() says so in one line. VIT_JAX_KEEP_FREED_MEMORY=0 in the
   environment leaves the C allocator at its defaults, =1 applies the settings regardless.
3. Accelerator memory, with `share_accelerator` (another framework computes on the same GPU in
   this process, as in `vit_jax.benchmark --compare pytorch`): XLA allocates as it needs instead
   of taking 75% of the GPU's memory at start (XLA_PYTHON_CLIENT_PREALLOCATE=false, unless the
   environment sets it), so PyTorch's run has memory left.
"""

import ctypes
import importlib.util
import os
import sys

# Flag name -> value, appended to XLA_FLAGS by apply().
FLAGS: dict[str, str] = {}

# Twice the measured 12.9 GB peak would not fit below this; 16 GB laptops are kept safe.
MIN_MEMORY_GIB = 20
ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin", "libtpu")

# glibc mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8


def merged(*, current: str) -> str:
    """`current` (an XLA_FLAGS value) with every flag of FLAGS that it does not set appended."""
    present = {item.split("=", 1)[0] for item in current.split()}
    added = [f"{name}={value}" for name, value in FLAGS.items() if name not in present]
    return " ".join([*current.split(), *added])


def keep_freed_memory() -> bool:
    """glibc malloc: no mmap()ed blocks, no trimming of the heap, one arena. False where the C
    library has no mallopt (not glibc); then nothing changes."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    # -1 is the largest size_t for M_TRIM_THRESHOLD, i.e. never trim.
    settings = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1))
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)


def computes_on_cpu() -> bool:
    """Whether JAX will run on its CPU backend, decided without starting it."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    return not any(importlib.util.find_spec(name) for name in ACCELERATOR_PLUGINS)


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def apply(*, share_accelerator: bool = False) -> bool:
    """Sets XLA_FLAGS, the allocator and (with `share_accelerator`) XLA's accelerator memory
    preallocation for this process; call before the first JAX computation. Returns whether the
    allocator settings took effect (see the module docstring for when)."""
    os.environ["XLA_FLAGS"] = merged(current=os.environ.get("XLA_FLAGS", ""))
    if share_accelerator:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    setting = os.environ.get("VIT_JAX_KEEP_FREED_MEMORY", "")
    if setting == "0" or (setting != "1" and not computes_on_cpu()):
        return False
    if setting != "1" and memory_gib() < MIN_MEMORY_GIB:
        print(
            f"C allocator settings off: {memory_gib():.1f} GiB of memory, below the "
            f"{MIN_MEMORY_GIB} GiB they need (they trade memory for about 10% CPU speed); "
            "VIT_JAX_KEEP_FREED_MEMORY=1 applies them anyway",
            file=sys.stderr,
        )
        return False
    return keep_freed_memory()
