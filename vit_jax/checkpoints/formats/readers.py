"""Reading weight files into {name: numpy array}: .npz and .safetensors without PyTorch,
PyTorch .bin/.pth (pickled state dicts) with it. Every failure names the file and the fault."""

import json
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import safetensors.numpy

from vit_jax.checkpoints.formats.source import ConversionError, UnreadableFileError

TORCH_INSTALL_HINT = "pip install torch"


def _first_line(error: BaseException) -> str:
    """The first line of a library's error (PyTorch's run to a page of advice)."""
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def file_kind(path: Path) -> str:
    """'npz', 'safetensors', 'torch' or 'unknown', from the file's leading bytes (not its name)."""
    with open(path, "rb") as f:
        head = f.read(9)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if names and all(name.endswith(".npy") for name in names):
            return "npz"
        if any(name.endswith("data.pkl") for name in names):
            return "torch"
        return "unknown"
    if head[:1] == b"\x80":  # pickle protocol 2+: legacy (non-zip) torch.save
        return "torch"
    if len(head) == 9 and head[8:9] == b"{":
        header_size = struct.unpack("<Q", head[:8])[0]
        if 0 < header_size <= path.stat().st_size - 8:
            return "safetensors"
    return "unknown"


def _check_npz_sizes(path: Path) -> None:
    """Every member's declared array size against the bytes the archive holds for it, before
    anything is allocated (a damaged header may claim terabytes)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(member)
                declared = math.prod(shape) * dtype.itemsize
                if declared > info.file_size:
                    raise UnreadableFileError(
                        f"{path}: array {info.filename.removesuffix('.npy')!r} declares shape "
                        f"{shape} ({declared:,} bytes) but the file holds {info.file_size:,} "
                        "bytes for it (corrupt header?)"
                    )


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file (np.savez layout, keys as written), loaded eagerly."""
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except UnreadableFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, MemoryError) as e:
        raise UnreadableFileError(
            f"{path} is not a readable .npz file (truncated or corrupt?): {_first_line(e)}"
        ) from e


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a .safetensors file as numpy arrays (no PyTorch needed)."""
    try:
        return safetensors.numpy.load_file(path)
    except Exception as e:  # safetensors raises its own SafetensorError for every fault
        raise UnreadableFileError(
            f"{path} is not a readable .safetensors file (truncated or corrupt?): {_first_line(e)}"
        ) from e


def read_torch(path: Path) -> dict[str, np.ndarray]:
    """A state dict saved with torch.save (pytorch_model.bin, torchvision .pth) as numpy arrays."""
    try:
        import torch
    except ImportError as e:
        raise ConversionError(
            f"reading {path} (a PyTorch file) needs PyTorch, which is not installed; "
            f"install it with `{TORCH_INSTALL_HINT}` or convert a .safetensors/.npz file instead"
        ) from e
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch reports truncation as RuntimeError, pickle faults otherwise
        raise UnreadableFileError(
            f"{path} is not a readable PyTorch file (truncated or corrupt?): {_first_line(e)}"
        ) from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        found = sorted(map(str, state))[:10] if isinstance(state, dict) else type(state).__name__
        raise ConversionError(f"{path} does not hold a state dict of tensors (found {found})")
    if not all(isinstance(key, str) for key in state):
        odd = next(key for key in state if not isinstance(key, str))
        raise ConversionError(
            f"{path} holds a tensor under the key {odd!r}; a state dict's keys are parameter "
            "names (strings)"
        )
    # numpy has no bfloat16: half-precision tensors become float32 (exactly); float64 stays, so
    # that values beyond float32's range are reported by name (source.as_float32).
    half = (torch.float16, torch.bfloat16)
    return {key: (t.float() if t.dtype in half else t).numpy() for key, t in state.items()}


_READERS = {"npz": read_npz, "safetensors": read_safetensors, "torch": read_torch}
_SUFFIX_KINDS = {
    ".npz": "npz",
    ".safetensors": "safetensors",
    ".bin": "torch",
    ".pth": "torch",
    ".pt": "torch",
}


def read_sharded(index: Path) -> dict[str, np.ndarray]:
    """The arrays of a sharded Hugging Face checkpoint: `index` (model.safetensors.index.json or
    pytorch_model.bin.index.json) maps every key to one shard file in the same folder; each
    shard must hold exactly the keys the index gives it."""
    weight_map = read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise ConversionError(f"{index}: weight_map must map tensor names to shard file names")
    arrays: dict[str, np.ndarray] = {}
    for shard in sorted(set(weight_map.values())):
        if Path(shard).name != shard:
            raise ConversionError(f"{index}: shard {shard!r} is not a file beside the index")
        if not (index.parent / shard).is_file():
            raise ConversionError(f"{index} lists {shard}, which is not in {index.parent}")
        held = read_weights(index.parent / shard)
        listed = {key for key, file in weight_map.items() if file == shard}
        if set(held) != listed:
            odd = sorted(set(held) ^ listed)[:3]
            raise ConversionError(
                f"{index.parent / shard} does not hold the tensors its index lists (e.g. {odd})"
            )
        arrays.update(held)
    return arrays


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a weight file, read as the kind its leading bytes show (a sharded
    checkpoint's index file: all its shards).

    A file whose bytes match no kind is read as the kind its suffix names, so that a truncated
    'x.npz' is reported as a broken .npz rather than as an unknown format.
    """
    if path.name.endswith(".index.json"):
        return read_sharded(path)
    kind = file_kind(path)
    if kind == "unknown":
        kind = _SUFFIX_KINDS.get(path.suffix.lower(), "unknown")
    if kind == "unknown":
        raise UnreadableFileError(
            f"{path}: unknown checkpoint format (not an .npz, .safetensors or PyTorch file)"
        )
    return _READERS[kind](path)


def read_json(path: Path) -> dict:
    """A JSON object from `path` (config.json, preprocessor_config.json)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConversionError(f"{path} is not readable JSON: {_first_line(e)}") from e
    if not isinstance(value, dict):
        raise ConversionError(f"{path} does not hold a JSON object")
    return value
