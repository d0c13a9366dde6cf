"""What a finished run leaves beside its checkpoints: the run report (results.json with its
provenance, results.md and the plots), the exports of its final and best models, and the summary
on the console."""

import datetime
from pathlib import Path

import jax
import ml_collections

from vit_jax.reporting import run_report
from vit_jax.training import EXPORTS, console, provenance
from vit_jax.training.config_checks import set_model_overrides
from vit_jax.training.experiment import Experiment
from vit_jax.training.export import export_run


def write_run_outputs(
    *,
    config: ml_collections.ConfigDict,
    exp: Experiment,
    workdir: Path,
    results: dict,
    started: datetime.datetime,
) -> None:
    """Writes the report and (fine-tuning, one process) the exports; prints the summary."""
    report_config = {**config.to_dict(), "model_overrides": set_model_overrides(config)}
    if config.init == "scratch":  # fields that did not apply
        for field in ("checkpoint_dir", "head"):
            report_config.pop(field, None)
    title = console.run_title(model=exp.label, config=config)
    run_report.write_run_report(
        workdir=workdir,
        config=report_config,
        model=exp.model_name,
        label=exp.label,
        provenance=provenance.provenance(started=started),
        mode=config.mode,
        results=results,
        title=title,
    )
    if config.mode == "finetune" and jax.process_count() == 1:  # Orbax syncs all processes
        for which in EXPORTS:
            export_run(
                workdir=workdir, which=which, output=workdir / "export" / which, overwrite=True
            )
    print(console.summary(title=title, results=results, workdir=workdir))
