"""Host-side state of a fine-tuning run: the progress saved as JSON with every run checkpoint
(step, per-epoch history, timing), the window of steps whose metrics are still on the device,
and the check that a resumed run has the config it was started with.
"""

import dataclasses
import json
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from vit_jax.common.errors import UserError
from vit_jax.common.json_values import to_json_compatible
from vit_jax.training.config_checks import ConfigError, set_model_overrides

# Config fields that may differ between a run and its resumption (and between its processes).
# Not worker_count or num_processes: they change how grain composes and shards the batches.
RUNTIME_FIELDS = ("coordinator_address", "process_id", "progress_bar", "prefetch_batches")


class NonFiniteLossError(UserError):
    """The training loss or gradient norm became NaN or infinite."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; the message says the step reached and where a re-run
    resumes."""


@dataclasses.dataclass
class Progress:
    """Host-side state of a run, saved as JSON with every checkpoint."""

    config: dict
    dataset_fingerprint: str | None = None
    # What an export of the run needs: model name and overrides, classes, image size and
    # preprocessing (vit_jax.training.export).
    model: dict | None = None
    step: int = 0
    history: list[dict] = dataclasses.field(default_factory=list)
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    epoch_seconds: float = 0.0
    train_seconds: float = 0.0
    compile_seconds: float = 0.0  # of the train step, in every start of the run together
    final_splits: dict | None = None

    def add_steps(self, *, losses: np.ndarray, seconds: float) -> None:
        self.epoch_loss_sum += float(losses.sum())
        self.epoch_loss_count += len(losses)
        self.epoch_seconds += seconds
        self.train_seconds += seconds

    def end_epoch(
        self, *, epoch: int, step: int, validation: dict, learning_rate: float, images: int
    ) -> None:
        """Appends the epoch's history entry (vit_jax.reporting.results.HISTORY_KEYS) and starts
        the next."""
        self.history.append(
            {
                "epoch": epoch,
                "step": step,
                "train_loss": self.epoch_loss_sum / self.epoch_loss_count,
                "val_loss": validation["loss"],
                "val_accuracy": validation["accuracy"],
                "val_f1_macro": validation["f1_macro"],
                "learning_rate": learning_rate,
                "images_per_second": images / self.epoch_seconds,
                "epoch_seconds": self.epoch_seconds,
            }
        )
        self.epoch_loss_sum, self.epoch_loss_count, self.epoch_seconds = 0.0, 0, 0.0

    def results(self) -> dict:
        """The fine-tuning results given to vit_jax.reporting.run_report.write_run_report."""
        return {
            "splits": self.final_splits,
            "history": self.history,
            "train_seconds": self.train_seconds,
            "compile_seconds": self.compile_seconds,
        }


@dataclasses.dataclass
class Window:
    """The training steps since the last host sync; their metrics stay on the device until then."""

    first_step: int
    metrics: list[dict] = dataclasses.field(default_factory=list)
    start: float = dataclasses.field(default_factory=time.perf_counter)

    def close(self, *, step: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(losses, gradient norms, seconds) of every micro-batch step up to `step`; raises
        NonFiniteLossError naming the first step where either is not finite."""
        values = jax.device_get(self.metrics)
        losses = np.array([v["loss"] for v in values])
        norms = np.array([v["grad_norm"] for v in values])
        bad = ~(np.isfinite(losses) & np.isfinite(norms))
        if bad.any():
            micro_steps_per_step = len(bad) // (step - self.first_step + 1)
            at = self.first_step + int(np.argmax(bad)) // micro_steps_per_step
            raise NonFiniteLossError(
                f"training loss {losses[bad][0]} / gradient norm {norms[bad][0]} is not finite "
                f"at step {at}; the run stopped."
            )
        return losses, norms, time.perf_counter() - self.start


def json_config(config: ml_collections.ConfigDict) -> dict:
    """The config as it reads back from JSON, without RUNTIME_FIELDS."""
    fields = {k: v for k, v in config.to_dict().items() if k not in RUNTIME_FIELDS}
    if "model_overrides" in fields:  # unset fields: as before they were declared
        fields["model_overrides"] = set_model_overrides(config)
    return json.loads(json.dumps(to_json_compatible(fields, where="config")))


# Config fields added after runs were saved without them, with the value those runs had.
ADDED_FIELDS = {"sharding": "replicate", "mu_dtype": "float32"}


def check_same_config(*, saved: dict, current: dict, workdir: Path) -> None:
    saved = {**ADDED_FIELDS, **saved}
    changed = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
    if changed:
        field = changed[0]
        raise ConfigError(
            f"{workdir} holds a run with another config (config.{field}: saved "
            f"{saved.get(field)!r}, now {current.get(field)!r}); resume it with the same config "
            "or choose another --workdir"
        )


def check_same_data(*, saved: dict, current: Progress, dataset: str, workdir: Path) -> None:
    """Refuses to resume a run on data other than the data it started on."""
    before, now = saved.get("dataset_fingerprint"), current.dataset_fingerprint
    if before != now:
        raise ConfigError(
            f"{workdir} holds a run on other data: dataset {dataset!r} has changed since the run "
            f"started (content fingerprint then {str(before)[:12]}, now {str(now)[:12]}); resume "
            "it on the data it started with, or choose another --workdir"
        )
