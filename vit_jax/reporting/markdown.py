"""Markdown pieces of the reports: numbers as percent or fixed digits ("n/a" for missing
values) and pipe tables.
"""

import math


def percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.2f}"


def number(value: float | None, *, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def scientific(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3e}"


def table(*, header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def as_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def split_sections(splits: dict[str, dict]) -> list[str]:
    """The metrics table of every split, then each split's per-class scores and confusion
    matrix (metrics as vit_jax.reporting.metrics.classification_metrics, plus "loss")."""
    parts = [
        "## Metrics\n",
        table(
            header=["split", "examples", "loss", "accuracy (%)", "F1 macro (%)"],
            rows=[
                [
                    split,
                    sum(map(sum, m["confusion_matrix"])),
                    number(m.get("loss"), digits=4),
                    percent(m["accuracy"]),
                    percent(m["f1_macro"]),
                ]
                for split, m in splits.items()
            ],
        ),
    ]
    for split, metrics in splits.items():
        class_names = list(metrics["per_class"])
        parts += [
            f"## Per-class scores ({split})\n",
            table(
                header=["class", "precision (%)", "recall (%)", "F1 (%)", "support"],
                rows=[
                    [
                        name,
                        percent(c["precision"]),
                        percent(c["recall"]),
                        percent(c["f1"]),
                        c["support"],
                    ]
                    for name, c in metrics["per_class"].items()
                ],
            ),
            f"## Confusion matrix ({split}; rows true class, columns predicted class)\n",
            table(
                header=["true \\ predicted", *class_names],
                rows=[
                    [name, *row]
                    for name, row in zip(class_names, metrics["confusion_matrix"], strict=True)
                ],
            ),
        ]
    return parts


def fewshot_table(entries: list[dict]) -> str:
    """Few-shot accuracies ({"shots", "accuracies", "mean", "std"} per k, as
    vit_jax.analysis.fewshot.summarise gives them) as a table in percent."""
    rows = [
        [e["shots"], "n/a (a class has fewer training images)", "", 0]
        if e["mean"] is None
        else [e["shots"], percent(e["mean"]), percent(e["std"]), len(e["accuracies"])]
        for e in entries
    ]
    return table(header=["shots per class", "accuracy (%)", "spread (std, %)", "seeds"], rows=rows)
