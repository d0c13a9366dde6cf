"""Plots of the reports: validation loss and accuracy per epoch, and training time per epoch or
per model. Drawn on matplotlib Figure objects (Agg canvas, no pyplot), so no display is needed.
"""

from pathlib import Path

from matplotlib.figure import Figure

from vit_jax.common import files
from vit_jax.reporting.markdown import as_float


def plot_validation_curves(
    *, histories: dict[str, list[dict]], path: Path, train_loss: bool = False
) -> Path:
    """Two panels: validation loss and validation accuracy (%) per epoch, one line per run; with
    `train_loss` the loss panel also draws each run's mean training loss of the epoch (dashed, in
    the run's colour)."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for label, history in histories.items():
        epochs = [entry["epoch"] for entry in history]
        losses = [as_float(e["val_loss"]) for e in history]
        name = f"{label} validation" if train_loss else label
        (line,) = loss_axes.plot(epochs, losses, marker="o", label=name)
        if train_loss:
            loss_axes.plot(
                epochs,
                [as_float(e["train_loss"]) for e in history],
                marker="s",
                linestyle="--",
                color=line.get_color(),
                label=f"{label} training",
            )
        accuracy = [100 * as_float(e["val_accuracy"]) for e in history]
        accuracy_axes.plot(epochs, accuracy, marker="o", label=label)
    for axes, title, ylabel in (
        (
            loss_axes,
            "Training and validation loss" if train_loss else "Validation loss",
            "cross-entropy loss",
        ),
        (accuracy_axes, "Validation accuracy", "accuracy (%)"),
    ):
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
        axes.xaxis.get_major_locator().set_params(integer=True)
    return files.save_png(figure, path)


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
    return files.save_png(figure, path)


def plot_confusion_matrix(
    *, matrix: list[list[int]], class_names: list[str], title: str, path: Path
) -> Path:
    """Counts per (true class, predicted class), darker for more, each cell annotated."""
    size = max(4.0, 0.6 * len(class_names) + 2)
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, label="images")
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    if len(class_names) <= 20:
        largest = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                color = "white" if count > largest / 2 else "black"
                axes.text(j, i, str(count), ha="center", va="center", color=color)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    return files.save_png(figure, path)
