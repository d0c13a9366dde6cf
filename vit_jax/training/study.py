"""The study: every cell of a study config (configs/study.py) run into its own sub-folder of
the workdir, then the study report beside the published numbers.
"""

import contextlib
from pathlib import Path

import jax
import ml_collections

from vit_jax.common.workdir_lock import WorkdirLock
from vit_jax.reporting import study_report
from vit_jax.training.config_checks import ConfigError, check_config
from vit_jax.training.experiment import missing_prerequisites
from vit_jax.training.loop import train_and_evaluate


def cell_names(config: ml_collections.ConfigDict) -> list[str]:
    """The cells in the order they run: config.cell_order, then any other cell by name."""
    order = [name for name in config.get("cell_order", ()) if name in config.cells]
    return order + sorted(name for name in config.cells if name not in order)


def run_study(*, config: ml_collections.ConfigDict, workdir: str | Path) -> None:
    """Runs every cell of config.cells into workdir/<cell>, then writes the study report.
    Every cell's config is checked before the first one starts."""
    workdir = Path(workdir)
    unknown = [name for name in config.get("cell_order", ()) if name not in config.cells]
    if unknown:
        raise ConfigError(f"config.cell_order names {unknown[0]!r}, which is not in config.cells")
    for cell in config.cells.values():
        check_config(cell)
    needs = {}  # one check per distinct dataset and checkpoint
    for name in cell_names(config):
        cell = config.cells[name]
        key = (cell.dataset, cell.data_dir, cell.init, cell.checkpoint_dir, cell.model)
        needs.setdefault(key, cell)
    missing = [m for cell in needs.values() for m in missing_prerequisites(cell, resolve=True)]
    if missing:
        unique = list(dict.fromkeys(missing))
        raise FileNotFoundError(
            f"the study needs {len(unique)} thing(s) that are missing:\n" + "\n".join(unique)
        )
    chief = jax.process_index() == 0
    with WorkdirLock(workdir=workdir) if chief else contextlib.nullcontext():
        _run_cells(config=config, workdir=workdir)


def _run_cells(*, config: ml_collections.ConfigDict, workdir: Path) -> None:
    cells = []
    for name in cell_names(config):
        cell = config.cells[name]
        train_and_evaluate(config=cell, workdir=workdir / name)
        cells.append(
            {
                "model": cell.model,
                "mode": cell.mode,
                "results_path": workdir / name / "results.json",
            }
        )
    if jax.process_index() == 0:
        written = study_report.write_study_report(workdir=workdir, cells=cells)
        print(f"study report: {written[0]}")
