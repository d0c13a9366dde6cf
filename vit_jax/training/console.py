"""What a run says on the console: one block when it starts (model, init, data, schedule,
devices, workdir, where it resumes), one line per finished epoch, and the summary at the end."""

import jax
import ml_collections
import numpy as np

from vit_jax.training import experiment


def describe_init(config: ml_collections.ConfigDict) -> str:
    """'from scratch', or the checkpoint and what happens to its head."""
    if config.init == "scratch":
        return "from scratch"
    heads = {"new": "new head", "imagenet1k": "ImageNet-1k head pooled", "keep": "head kept"}
    return f"from {config.checkpoint_dir} ({heads[config.head]})"


def start_block(
    *,
    config: ml_collections.ConfigDict,
    exp: experiment.Experiment,
    workdir: str,
    total_steps: int = 0,
    resumed_step: int | None = None,
) -> str:
    parameters = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(exp.variables["params"]))
    sizes = exp.info.split_sizes
    recipe = exp.recipe
    lines = [
        f"{exp.label}: {parameters:,} parameters, {describe_init(config)}",
        f"data: {config.dataset} ({exp.info.num_classes} classes), train {sizes['train']} / "
        f"validation {sizes['validation']} / test {sizes['test']} images at "
        f"{config.image_size[0]}x{config.image_size[1]}",
    ]
    if config.mode == "finetune":
        lines.append(
            f"training: {config.num_epochs} epoch(s) x {exp.steps_per_epoch} steps = "
            f"{total_steps} steps of batch {recipe.batch_size} ({recipe.optimizer}, learning "
            f"rate {recipe.learning_rate:g}, {recipe.schedule} schedule, warm-up "
            f"{recipe.warmup_steps}, accumulation {recipe.grad_accum_steps})"
        )
    elif config.mode == "fewshot":
        shots = ", ".join(map(str, config.fewshot.shots))
        lines.append(
            f"few-shot: linear evaluation of the frozen representation with {shots} training "
            f"image(s) per class over {config.fewshot.seeds} seeds, no training"
        )
    else:
        lines.append("zero-shot: evaluation of validation and test, no training")
    devices = jax.devices()
    lines.append(
        f"devices: {len(devices)} x {devices[0].platform} ({jax.process_count()} process(es))"
    )
    resumed = f", resuming from step {resumed_step}" if resumed_step else ""
    lines.append(f"workdir: {workdir}{resumed}")
    return "\n".join(lines)


def epoch_line(*, entry: dict, num_epochs: int) -> str:
    return (
        f"epoch {entry['epoch']}/{num_epochs}: train loss {entry['train_loss']:.4f}, "
        f"validation loss {entry['val_loss']:.4f}, accuracy {100 * entry['val_accuracy']:.2f}%, "
        f"F1 macro {100 * entry['val_f1_macro']:.2f}%"
    )


def summary(*, title: str, results: dict, workdir) -> str:
    """One line per evaluated split, then where the report is."""
    trained = results["history"] or results["train_seconds"]
    lines = [f"{title}: training time {results['train_seconds']:.1f} s" if trained else title]
    for split, metrics in results["splits"].items():
        lines.append(
            f"  {split}: accuracy {100 * metrics['accuracy']:.2f}%, "
            f"F1 macro {100 * metrics['f1_macro']:.2f}%"
        )
    for entry in results.get("fewshot", []):
        if entry["mean"] is not None:
            lines.append(
                f"  {entry['shots']}-shot linear: accuracy {100 * entry['mean']:.2f}% "
                f"(std {100 * entry['std']:.2f}, {len(entry['accuracies'])} seeds)"
            )
    lines.append(f"  report: {workdir / 'results.md'}")
    if (workdir / "export").is_dir():
        export = workdir / "export"
        lines.append(f"  model: {export / 'final'} (best on validation: {export / 'best'})")
    return "\n".join(lines)


def run_title(*, model: str, config: ml_collections.ConfigDict) -> str:
    """'ViT-B_16 fine-tuned', 'ViT-Ti_16 trained from scratch', 'ResNet-50 zero-shot', ..."""
    if config.mode == "zeroshot":
        return f"{model} zero-shot"
    if config.mode == "fewshot":
        return f"{model} few-shot linear evaluation"
    return f"{model} {'trained from scratch' if config.init == 'scratch' else 'fine-tuned'}"
