"""Where a run's numbers came from, recorded in its results.json: the versions of the packages
that compute them, the project's git commit when it runs from a checkout, the devices and the
start time."""

import datetime
import importlib.metadata
import subprocess
from pathlib import Path

import jax

PACKAGES = (
    "vit_jax",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
    "grain",
    "numpy",
    "scikit-learn",
)


def package_versions() -> dict[str, str | None]:
    """Installed version of each of PACKAGES (None where it is not installed as a package)."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_commit() -> str | None:
    """The commit of the checkout this package runs from, with '+changes' when files differ from
    it; None outside a git checkout or without git."""
    source = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if dirty else "")


def provenance(*, started: datetime.datetime) -> dict:
    """The results.json 'provenance' entry of a run started at `started`."""
    return {
        "started": started.isoformat(timespec="seconds"),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
    }
