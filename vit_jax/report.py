"""Run reports (results.json, results.md, plots) and the study report (our runs beside the study).

Plots are drawn on matplotlib Figure objects (Agg canvas, no pyplot), so no display is needed.
"""

import json
import math
from pathlib import Path

from matplotlib.figure import Figure

from vit_jax.logging_utils import to_json_compatible

# The course study reproduced here: ViT-B/16, ResNet-152 and ResNet-50 on the Shoe vs Sandal vs Boot
# test set, in percent. Table 1 = zero-shot (pretrained backbone, untrained 3-class head);
# Table 2 = fine-tuned (3 epochs, lr 1e-5, batch 16).
STUDY_RESULTS: dict[str, dict[str, dict[str, float]]] = {
    "zeroshot": {
        "ViT-B_16": {"accuracy": 32.90, "f1": 30.70},
        "ResNet-152": {"accuracy": 42.30, "f1": 36.20},
        "ResNet-50": {"accuracy": 36.60, "f1": 26.90},
    },
    "finetune": {
        "ViT-B_16": {"accuracy": 99.33, "f1": 99.33},
        "ResNet-152": {"accuracy": 92.76, "f1": 92.77},
        "ResNet-50": {"accuracy": 80.03, "f1": 79.62},
    },
}
MODES = ("zeroshot", "finetune")
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
NOT_RUN = "not run"


def _check_mode(mode: str, *, where: str) -> None:
    if mode not in MODES:
        raise ValueError(f"{where}: mode {mode!r} is not one of {MODES}")


def _check_results(results: dict) -> None:
    """Raises a ValueError naming the first key missing from `results` (CONTRACTS.md section 4)."""
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


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.2f}"


def _number(value: float | None, *, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _scientific(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3e}"


def _table(*, header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _as_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def plot_validation_curves(*, histories: dict[str, list[dict]], path: Path) -> Path:
    """Two panels: validation loss and validation accuracy (%) per epoch, one line per run."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for label, history in histories.items():
        epochs = [entry["epoch"] for entry in history]
        loss_axes.plot(epochs, [_as_float(e["val_loss"]) for e in history], marker="o", label=label)
        accuracy = [100 * _as_float(e["val_accuracy"]) for e in history]
        accuracy_axes.plot(epochs, accuracy, marker="o", label=label)
    for axes, title, ylabel in (
        (loss_axes, "Validation loss", "cross-entropy loss"),
        (accuracy_axes, "Validation accuracy", "accuracy (%)"),
    ):
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
        axes.xaxis.get_major_locator().set_params(integer=True)
    figure.savefig(path, dpi=120)
    return path


def plot_runtime(
    *, labels: list[str] | list[int], seconds: list[float], xlabel: str, title: str, path: Path
) -> Path:
    """Bar plot of training seconds, one bar per label (names, or epoch numbers on a numeric axis);
    up to 12 bars are annotated with their value."""
    figure = Figure(figsize=(min(12.0, max(5.0, 1.3 * len(labels) + 2)), 4.2), layout="constrained")
    axes = figure.subplots()
    bars = axes.bar(labels, seconds, color="tab:blue")
    if len(bars) <= 12:
        axes.bar_label(bars, labels=[f"{s:.1f} s" for s in seconds], padding=2)
    if all(isinstance(label, int) for label in labels):
        axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("training time (s)")
    axes.margins(y=0.15)
    axes.grid(axis="y", alpha=0.3)
    figure.savefig(path, dpi=120)
    return path


def _run_markdown(*, report: dict, plots: list[Path]) -> str:
    """results.md: per-split metrics, per-class scores, confusion matrices, history and plots."""
    splits = report["splits"]
    parts = [
        f"# {report['model']} — {report['mode']}\n",
        f"Training time: {report['train_seconds']:.1f} s. Accuracy and F1 (macro) in percent.\n",
        "## Config\n",
        f"```json\n{json.dumps(report['config'], indent=2, sort_keys=True)}\n```\n",
        "## Metrics\n",
        _table(
            header=["split", "examples", "loss", "accuracy (%)", "F1 macro (%)"],
            rows=[
                [
                    split,
                    sum(map(sum, m["confusion_matrix"])),
                    _number(m.get("loss"), digits=4),
                    _percent(m["accuracy"]),
                    _percent(m["f1_macro"]),
                ]
                for split, m in splits.items()
            ],
        ),
    ]
    for split, metrics in splits.items():
        class_names = list(metrics["per_class"])
        parts += [
            f"## Per-class scores ({split})\n",
            _table(
                header=["class", "precision (%)", "recall (%)", "F1 (%)", "support"],
                rows=[
                    [
                        name,
                        _percent(c["precision"]),
                        _percent(c["recall"]),
                        _percent(c["f1"]),
                        c["support"],
                    ]
                    for name, c in metrics["per_class"].items()
                ],
            ),
            f"## Confusion matrix ({split}; rows true class, columns predicted class)\n",
            _table(
                header=["true \\ predicted", *class_names],
                rows=[
                    [name, *row]
                    for name, row in zip(class_names, metrics["confusion_matrix"], strict=True)
                ],
            ),
        ]
    parts.append("## Training history\n")
    if report["history"]:
        parts.append(
            _table(
                header=[
                    "epoch",
                    "step",
                    "train loss",
                    "val loss",
                    "val accuracy (%)",
                    "val F1 macro (%)",
                    "learning rate",
                    "images/s",
                    "epoch time (s)",
                ],
                rows=[
                    [
                        e["epoch"],
                        e["step"],
                        _number(e["train_loss"], digits=4),
                        _number(e["val_loss"], digits=4),
                        _percent(e["val_accuracy"]),
                        _percent(e["val_f1_macro"]),
                        _scientific(e["learning_rate"]),
                        _number(e["images_per_second"], digits=1),
                        _number(e["epoch_seconds"], digits=1),
                    ]
                    for e in report["history"]
                ],
            )
        )
    else:
        parts.append("No training epochs (zero-shot evaluation).\n")
    parts += [f"![{path.stem}]({path.name})\n" for path in plots]
    return "\n".join(parts)


def write_run_report(
    *, workdir: str | Path, config: dict, model: str, mode: str, results: dict
) -> list[Path]:
    """Writes results.json, results.md and, when there are training epochs, val_curves.png and
    runtime.png into `workdir`. Returns the paths written.

    results = {"splits": {split: metrics}, "history": [per-epoch dicts], "train_seconds": float},
    with metrics from vit_jax.metrics.classification_metrics plus "loss" (CONTRACTS.md section 4).
    """
    _check_mode(mode, where="write_run_report")
    _check_results(results)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = to_json_compatible(
        {
            "model": model,
            "mode": mode,
            "config": config,
            "splits": results["splits"],
            "history": results["history"],
            "train_seconds": results["train_seconds"],
        },
        where="run report",
    )
    json_path = workdir / "results.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    plots = []
    if report["history"]:
        plots.append(
            plot_validation_curves(
                histories={model: report["history"]}, path=workdir / "val_curves.png"
            )
        )
        plots.append(
            plot_runtime(
                labels=[e["epoch"] for e in report["history"]],
                seconds=[_as_float(e["epoch_seconds"]) for e in report["history"]],
                xlabel="epoch",
                title=f"{model}: seconds per epoch (total {report['train_seconds']:.1f} s)",
                path=workdir / "runtime.png",
            )
        )
    markdown_path = workdir / "results.md"
    markdown_path.write_text(_run_markdown(report=report, plots=plots))
    return [json_path, markdown_path, *plots]


def _load_cells(cells: list[dict]) -> dict[tuple[str, str], dict | None]:
    """Maps (mode, model) to the cell's results.json content, or None when the file is absent."""
    loaded = {}
    for i, cell in enumerate(cells):
        for key in ("model", "mode", "results_path"):
            if key not in cell:
                raise ValueError(f"cells[{i}] lacks the key {key!r}")
        _check_mode(cell["mode"], where=f"cells[{i}]")
        key = (cell["mode"], cell["model"])
        if key in loaded:
            raise ValueError(f"cells[{i}] repeats model {cell['model']!r} in mode {cell['mode']!r}")
        path = Path(cell["results_path"])
        if not path.is_file():
            loaded[key] = None
            continue
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        if (results.get("mode"), results.get("model")) != key:
            raise ValueError(
                f"{path} holds model {results.get('model')!r} in mode {results.get('mode')!r}, "
                f"but cells[{i}] names model {cell['model']!r} in mode {cell['mode']!r}"
            )
        loaded[key] = results
    return loaded


def _comparison_table(*, mode: str, models: list[str], loaded: dict) -> str:
    rows = []
    for model in models:
        study = STUDY_RESULTS[mode].get(model)
        test = (loaded.get((mode, model)) or {}).get("splits", {}).get("test")
        rows.append(
            [
                model,
                NOT_RUN if test is None else _percent(test["accuracy"]),
                "—" if study is None else f"{study['accuracy']:.2f}",
                NOT_RUN if test is None else _percent(test["f1_macro"]),
                "—" if study is None else f"{study['f1']:.2f}",
            ]
        )
    return _table(
        header=["model", "accuracy ours (%)", "accuracy study (%)", "F1 ours (%)", "F1 study (%)"],
        rows=rows,
    )


def write_study_report(*, workdir: str | Path, cells: list[dict]) -> list[Path]:
    """Writes report.md comparing our test-set numbers with the study's Table 1 (zero-shot) and
    Table 2 (fine-tuned), Figure 2 (figure2_validation.png: validation loss and accuracy per epoch
    of the fine-tuned models) and runtime.png (training time per fine-tuned model). Cells whose
    results.json does not exist are shown as "not run". Returns the paths written.

    cells: [{"model", "mode": "zeroshot"|"finetune", "results_path": path of a run's results.json}].
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    loaded = _load_cells(cells)
    models = list(STUDY_RESULTS["finetune"])
    models += [model for _, model in loaded if model not in models]
    finetuned = {
        model: loaded[("finetune", model)]
        for model in models
        if loaded.get(("finetune", model)) is not None
    }
    plots = []
    histories = {model: r["history"] for model, r in finetuned.items() if r["history"]}
    if histories:
        plots.append(
            plot_validation_curves(histories=histories, path=workdir / "figure2_validation.png")
        )
    if finetuned:
        plots.append(
            plot_runtime(
                labels=list(finetuned),
                seconds=[r["train_seconds"] for r in finetuned.values()],
                xlabel="model",
                title="Fine-tuning time per model",
                path=workdir / "runtime.png",
            )
        )
    runtime_rows = [
        [model, f"{r['train_seconds']:.1f}", len(r["history"])]
        if (r := loaded.get(("finetune", model))) is not None
        else [model, NOT_RUN, NOT_RUN]
        for model in models
    ]
    parts = [
        "# Shoe vs Sandal vs Boot: our runs beside the study\n",
        "Test set, percent. F1 is macro-averaged over the three classes. "
        f'"{NOT_RUN}" marks a run whose results.json does not exist yet. '
        "Each run's settings are in the config of its results.json (see Sources).\n",
        "## Table 1: zero-shot (pretrained backbone, no fine-tuning)\n",
        _comparison_table(mode="zeroshot", models=models, loaded=loaded),
        "## Table 2: fine-tuned\n",
        _comparison_table(mode="finetune", models=models, loaded=loaded),
        "## Figure 2: validation loss and accuracy per epoch (fine-tuned)\n",
        f"![figure 2]({plots[0].name})\n" if histories else f"{NOT_RUN}\n",
        "## Training runtime (fine-tuning)\n",
        _table(header=["model", "training time (s)", "epochs"], rows=runtime_rows),
        "![runtime](runtime.png)\n" if finetuned else "",
        "## Sources\n",
        "".join(f"- {c['model']} {c['mode']}: {c['results_path']}\n" for c in cells),
    ]
    report_path = workdir / "report.md"
    report_path.write_text("\n".join(parts))
    return [report_path, *plots]
