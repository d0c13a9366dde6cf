"""A training run's model as a converted checkpoint (docs/ARCHITECTURE.md, contract 2): the
final model (the latest checkpoint, also of a run still in progress) or the best one on
validation accuracy, loadable with `vit_jax.checkpoints.load` and usable as the checkpoint_dir
of a new run (head='keep' keeps its head, head='new' replaces it). The metadata adds the run it
came from, the dataset and its content fingerprint, and the metrics at that step.
"""

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from vit_jax import checkpoints
from vit_jax.checkpoints import run_checkpoints
from vit_jax.checkpoints.hf_export import write_hf_folder
from vit_jax.common.errors import UserError, describe
from vit_jax.training import EXPORT_FORMATS as FORMATS
from vit_jax.training import EXPORTS as WHICH

SOURCE_FORMAT = "vit_jax_run"


def _read_only_manager(directory: Path) -> ocp.CheckpointManager:
    """Reads a run's checkpoints without touching them (no clean-up of a running save)."""
    options = ocp.CheckpointManagerOptions(
        read_only=True, create=False, best_fn=lambda metrics: metrics[run_checkpoints.BEST_METRIC]
    )
    return ocp.CheckpointManager(directory.absolute(), options=options)


def _on_one_device(checkpoint: Path) -> Any:
    """The state of `checkpoint` as restore targets on this process's first device: the run may
    have been sharded over another number of devices than this process has."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    saved = ocp.StandardCheckpointer().metadata(checkpoint / "state").item_metadata
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), saved)


def export_run(
    *,
    workdir: Path | str,
    which: str = "final",
    output: Path | str,
    overwrite: bool = False,
    format: str = "vit_jax",
) -> dict:
    """Writes checkpoint `which` of the run in `workdir` to `output` as a converted checkpoint
    (format 'vit_jax') or a Hugging Face folder ('hf'); returns its metadata."""
    variables, metadata = run_model(workdir=workdir, which=which)
    write(variables=variables, metadata=metadata, output=output, overwrite=overwrite, format=format)
    return metadata


def write(*, variables: dict, metadata: dict, output: Path | str, overwrite: bool, format: str):
    """`variables` and `metadata` as a converted checkpoint or a Hugging Face folder."""
    if format not in FORMATS:
        raise ValueError(f"--format {format!r} is not one of {FORMATS}")
    if format == "hf":
        write_hf_folder(
            variables=variables, metadata=metadata, output=Path(output), overwrite=overwrite
        )
    else:
        checkpoints.save(
            directory=Path(output),
            variables=checkpoints.hand_over_to_jax(variables),
            metadata=metadata,
            overwrite=overwrite,
        )


def run_model(*, workdir: Path | str, which: str) -> tuple[dict, dict]:
    """(variables, converted-checkpoint metadata) of checkpoint `which` of a run."""
    if which not in WHICH:
        raise ValueError(f"--which {which!r} is not one of {WHICH}")
    directory = Path(workdir) / "checkpoints"
    if not directory.is_dir():
        raise FileNotFoundError(f"{workdir} holds no training run (no checkpoints/ folder)")
    manager = _read_only_manager(directory)
    try:
        step = manager.latest_step() if which == "final" else manager.best_step()
        if step is None:
            kind = "checkpoint" if which == "final" else "end-of-epoch checkpoint"
            hint = "; use --which final" if which == "best" else ""
            raise UserError(f"{directory} has no {kind} yet{hint}")
        try:
            restored = manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_on_one_device(directory / str(step))),
                    progress=ocp.args.JsonRestore(),
                ),
            )
        except Exception as error:  # damage shows as OSError, JSON, Orbax or tensorstore errors
            other = "best" if which == "final" else "final"
            raise UserError(
                f"checkpoint {step} in {directory} cannot be read ({describe(error)[:200]}); "
                f"export --which {other}, or run the training command again to repair the run"
            ) from error
    finally:
        manager.close()
    progress, state = restored.progress, restored.state
    model = progress.get("model")
    if model is None:
        raise UserError(
            f"{directory / str(step)} was written by a version of vit_jax that did not record "
            "the model; train the run again to export it"
        )
    variables = {"params": state["params"]}
    if state.get("batch_stats"):
        variables["batch_stats"] = state["batch_stats"]
    metadata = {
        "model": model["name"],
        "source_format": SOURCE_FORMAT,
        "source_file": str((directory / str(step)).absolute()),
        "sha256": None,
        "image_size": model["image_size"],
        "num_classes": model["num_classes"],
        "head_kept": True,
        "label_names": model["class_names"],
        "preprocessing": model["preprocessing"],
        "model_overrides": model["model_overrides"],
        "run": {"workdir": str(Path(workdir).absolute()), "step": step, "which": which},
        "dataset": {
            "name": progress["config"]["dataset"],
            "fingerprint": progress.get("dataset_fingerprint"),
        },
        "metrics": _metrics(progress=progress, step=step),
    }
    return variables, metadata


def _metrics(*, progress: dict, step: int) -> dict:
    """Test and validation accuracy / F1 of a finished run's final step, else the validation
    numbers of the epoch that ended at `step` (empty for a step inside an epoch)."""
    if progress.get("final_splits") and step == progress["step"]:
        return {
            split: {key: metrics[key] for key in ("accuracy", "f1_macro", "loss")}
            for split, metrics in progress["final_splits"].items()
        }
    for entry in progress["history"]:
        if entry["step"] == step:
            names = {"val_accuracy": "accuracy", "val_f1_macro": "f1_macro", "val_loss": "loss"}
            return {"validation": {new: entry[old] for old, new in names.items()}}
    return {}
