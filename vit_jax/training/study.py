"""The study: every cell of a study config (configs/study.py) run into its own sub-folder of
the workdir, then the study report beside the published numbers.
"""

import contextlib
from pathlib import Path

import jax
import ml_collections

from vit_jax.common.workdir_lock import WorkdirLock
from vit_jax.reporting import study_report
from vit_jax.training.config_checks import check_config
from vit_jax.training.loop import train_and_evaluate


def run_study(*, config: ml_collections.ConfigDict, workdir: str | Path) -> None:
    """Runs every cell of config.cells into workdir/<cell>, then writes the study report.
    Every cell's config is checked before the first one starts."""
    workdir = Path(workdir)
    for cell in config.cells.values():
        check_config(cell)
    chief = jax.process_index() == 0
    with WorkdirLock(workdir=workdir) if chief else contextlib.nullcontext():
        _run_cells(config=config, workdir=workdir)


def _run_cells(*, config: ml_collections.ConfigDict, workdir: Path) -> None:
    cells = []
    for name, cell in config.cells.items():
        train_and_evaluate(config=cell, workdir=workdir / name)
        cells.append(
            {
                "model": cell.model,
                "mode": cell.mode,
                "results_path": workdir / name / "results.json",
            }
        )
    if jax.process_index() == 0:
        study_report.write_study_report(workdir=workdir, cells=cells)
