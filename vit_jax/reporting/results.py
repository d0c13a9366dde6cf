"""The results.json contract (docs/ARCHITECTURE.md, contract 4): the modes, the keys of each
split's metrics and of each epoch's history entry, and checks naming the first key missing.
"""

MODES = ("zeroshot", "fewshot", "finetune")
SPLIT_KEYS = ("accuracy", "f1_macro", "per_class", "confusion_matrix")
HISTORY_KEYS = (
    "epoch",
    "step",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_f1_macro",
    "learning_rate",
    "images_per_second",
    "epoch_seconds",
)
FEWSHOT_KEYS = ("shots", "accuracies", "mean", "std")
NOT_RUN = "not run"


def check_mode(mode: str, *, where: str) -> None:
    if mode not in MODES:
        raise ValueError(f"{where}: mode {mode!r} is not one of {MODES}")


def check_results(results: dict) -> None:
    """Raises a ValueError naming the first key missing from `results` (contract 4)."""
    for key in ("splits", "history", "train_seconds"):
        if key not in results:
            raise ValueError(f"results lacks the key {key!r}")
    for split, metrics in results["splits"].items():
        for key in SPLIT_KEYS:
            if key not in metrics:
                raise ValueError(f"results['splits'][{split!r}] lacks the key {key!r}")
    for i, entry in enumerate(results["history"]):
        for key in HISTORY_KEYS:
            if key not in entry:
                raise ValueError(f"results['history'][{i}] lacks the key {key!r}")
    for i, entry in enumerate(results.get("fewshot", [])):
        for key in FEWSHOT_KEYS:
            if key not in entry:
                raise ValueError(f"results['fewshot'][{i}] lacks the key {key!r}")
