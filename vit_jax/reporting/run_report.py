"""A run's report: results.json (contract 4), results.md (metrics, per-class scores, confusion
matrices, history) and, when it trained, val_curves.png and runtime.png.
"""

import json
from pathlib import Path

from vit_jax.common import files
from vit_jax.common.json_values import to_json_compatible
from vit_jax.reporting.markdown import (
    as_float,
    fewshot_table,
    number,
    percent,
    scientific,
    split_sections,
    table,
)
from vit_jax.reporting.plots import plot_confusion_matrix, plot_runtime, plot_validation_curves
from vit_jax.reporting.results import check_mode, check_results


def _run_markdown(*, report: dict, plots: list[Path], title: str) -> str:
    """results.md: per-split metrics, per-class scores, confusion matrices, history and plots."""
    splits = report["splits"]
    parts = [
        f"# {title}\n",
        f"Training time: {report['train_seconds']:.1f} s. Accuracy and F1 (macro) in percent.\n",
        "## Config\n",
        f"```json\n{json.dumps(report['config'], indent=2, sort_keys=True)}\n```\n",
    ]
    parts += split_sections(splits) if splits else []
    if "fewshot" in report:
        parts += [
            "## Few-shot linear evaluation (test split)\n",
            fewshot_table(report["fewshot"]),
        ]
    parts.append("## Training history\n")
    if report["history"]:
        parts.append(
            table(
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
                        number(e["train_loss"], digits=4),
                        number(e["val_loss"], digits=4),
                        percent(e["val_accuracy"]),
                        percent(e["val_f1_macro"]),
                        scientific(e["learning_rate"]),
                        number(e["images_per_second"], digits=1),
                        number(e["epoch_seconds"], digits=1),
                    ]
                    for e in report["history"]
                ],
            )
        )
    else:
        parts.append("No training epochs (evaluation of the initial model).\n")
    parts += [f"![{path.stem}]({path.name})\n" for path in plots]
    return "\n".join(parts)


def write_run_report(
    *,
    workdir: str | Path,
    config: dict,
    model: str,
    mode: str,
    results: dict,
    title: str | None = None,
    label: str | None = None,
    provenance: dict | None = None,
) -> list[Path]:
    """Writes results.json, results.md (headed `title`, default "<model> — <mode>"),
    confusion_matrix.png of the test split (or the last split evaluated) and, when there are
    training epochs, val_curves.png (training and validation loss, validation accuracy) and
    runtime.png into `workdir`. `label` names the model in the plots (default `model`; e.g. the
    family and sizes of an overridden model), `provenance` records where the numbers came from
    (vit_jax.training.provenance). Returns the paths written.

    Accuracies and F1 scores are fractions in results.json, percentages everywhere else.

    results = {"splits": {split: metrics}, "history": [per-epoch dicts], "train_seconds": float,
    "compile_seconds": float (optional), "fewshot": [{"shots", "accuracies", "mean", "std"}]
    (few-shot cells)},
    with metrics from vit_jax.reporting.metrics.classification_metrics plus "loss"
    (docs/ARCHITECTURE.md, contract 4).
    """
    check_mode(mode, where="write_run_report")
    check_results(results)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = to_json_compatible(
        {
            "model": model,
            "model_label": label or model,
            "mode": mode,
            "config": config,
            "splits": results["splits"],
            "history": results["history"],
            "train_seconds": results["train_seconds"],
            "compile_seconds": results.get("compile_seconds"),
            **({"fewshot": results["fewshot"]} if "fewshot" in results else {}),
            **({"provenance": provenance} if provenance else {}),
        },
        where="run report",
    )
    json_path = workdir / "results.json"
    files.write_text(json_path, json.dumps(report, indent=2, allow_nan=False) + "\n")
    plots = []
    if report["splits"]:
        split = "test" if "test" in report["splits"] else list(report["splits"])[-1]
        metrics = report["splits"][split]
        plots.append(
            plot_confusion_matrix(
                matrix=metrics["confusion_matrix"],
                class_names=list(metrics["per_class"]),
                title=f"{title or model}: {split} split",
                path=workdir / "confusion_matrix.png",
            )
        )
    if report["history"]:
        plots.append(
            plot_validation_curves(
                histories={label or model: report["history"]},
                path=workdir / "val_curves.png",
                train_loss=True,
            )
        )
        compile_seconds = report.get("compile_seconds")
        labels = [str(e["epoch"]) for e in report["history"]]
        seconds = [as_float(e["epoch_seconds"]) for e in report["history"]]
        plots.append(
            plot_runtime(
                labels=(["compile"] if compile_seconds is not None else []) + labels,
                seconds=([compile_seconds] if compile_seconds is not None else []) + seconds,
                xlabel="epoch (compile: the train step's compilation, not in epoch 1)",
                title=f"{title or model}: seconds per epoch "
                f"(total {report['train_seconds']:.1f} s)",
                path=workdir / "runtime.png",
            )
        )
    markdown_path = workdir / "results.md"
    files.write_text(
        markdown_path, _run_markdown(report=report, plots=plots, title=title or f"{model} — {mode}")
    )
    return [json_path, markdown_path, *plots]
