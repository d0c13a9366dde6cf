"""The study report: our runs' test-set numbers beside the course study's Tables 1 (zero-shot)
and 2 (fine-tuned), its Figure 2 (validation curves) and the training runtime per model.
"""

import json
from pathlib import Path

from vit_jax.common import files
from vit_jax.reporting.markdown import percent, table
from vit_jax.reporting.plots import plot_runtime, plot_validation_curves
from vit_jax.reporting.results import NOT_RUN, check_mode

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


def _load_cells(cells: list[dict]) -> dict[tuple[str, str], dict | None]:
    """Maps (mode, model) to the cell's results.json content, or None when the file is absent."""
    loaded = {}
    for i, cell in enumerate(cells):
        for key in ("model", "mode", "results_path"):
            if key not in cell:
                raise ValueError(f"cells[{i}] lacks the key {key!r}")
        check_mode(cell["mode"], where=f"cells[{i}]")
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
                NOT_RUN if test is None else percent(test["accuracy"]),
                "—" if study is None else f"{study['accuracy']:.2f}",
                NOT_RUN if test is None else percent(test["f1_macro"]),
                "—" if study is None else f"{study['f1']:.2f}",
            ]
        )
    return table(
        header=["model", "accuracy ours (%)", "accuracy study (%)", "F1 ours (%)", "F1 study (%)"],
        rows=rows,
    )


def _fewshot_table(*, models: list[str], loaded: dict) -> str:
    """Few-shot cells: one row per model, one column per k (mean and spread over seeds)."""
    results = {m: (loaded.get(("fewshot", m)) or {}).get("fewshot") for m in models}
    shots = sorted({e["shots"] for entries in results.values() if entries for e in entries})
    rows = []
    for model in models:
        by_k = {e["shots"]: e for e in results[model] or []}
        rows.append(
            [model]
            + [
                NOT_RUN
                if results[model] is None
                else "n/a"
                if by_k.get(k, {}).get("mean") is None
                else f"{percent(by_k[k]['mean'])} ± {percent(by_k[k]['std'])}"
                for k in shots
            ]
        )
    if not shots:
        return f"{NOT_RUN}\n"
    return table(header=["model", *(f"{k}-shot (%)" for k in shots)], rows=rows)


def write_study_report(*, workdir: str | Path, cells: list[dict]) -> list[Path]:
    """Writes report.md comparing our test-set numbers with the study's Table 1 (zero-shot) and
    Table 2 (fine-tuned), our few-shot accuracies, Figure 2 (figure2_validation.png: validation
    loss and accuracy per epoch of the fine-tuned models) and runtime.png (training time per
    fine-tuned model). Cells whose results.json does not exist are shown as "not run". Returns
    the paths written.

    cells: [{"model", "mode": "zeroshot"|"fewshot"|"finetune", "results_path": a run's
    results.json}].
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    loaded = _load_cells(cells)
    models = list(dict.fromkeys(cell["model"] for cell in cells))  # in the cells' order, once
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
        "Each run's settings are in the config of its results.json (see Sources). Rows follow "
        "the order of the cells; a model the study did not run has no study numbers (—).\n",
        "## Table 1: zero-shot (pretrained backbone, no fine-tuning)\n",
        _comparison_table(mode="zeroshot", models=models, loaded=loaded),
        "## Few-shot linear evaluation of the pretrained representation (paper, section 4.1)\n",
        "Not in the course study. Mean ± standard deviation over seeds of the test accuracy of a "
        "ridge regression on k training images per class (vit_jax.analysis.fewshot).\n",
        _fewshot_table(models=models, loaded=loaded),
        "## Table 2: fine-tuned\n",
        _comparison_table(mode="finetune", models=models, loaded=loaded),
        "## Figure 2: validation loss and accuracy per epoch (fine-tuned)\n",
        f"![figure 2]({plots[0].name})\n" if histories else f"{NOT_RUN}\n",
        "## Training runtime (fine-tuning)\n",
        table(header=["model", "training time (s)", "epochs"], rows=runtime_rows),
        "![runtime](runtime.png)\n" if finetuned else "",
        "## Sources\n",
        "".join(f"- {c['model']} {c['mode']}: {c['results_path']}\n" for c in cells),
    ]
    report_path = workdir / "report.md"
    files.write_text(report_path, "\n".join(parts))
    return [report_path, *plots]
