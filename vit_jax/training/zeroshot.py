"""Runs without training, written like a training run's results: zero-shot (the initial model, a
pretrained backbone with a new or pooled ImageNet head, on validation and test) and few-shot
(linear evaluation of the checkpoint's frozen representation, paper section 4.1)."""

from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh

from vit_jax.analysis import fewshot
from vit_jax.reporting.writer import MetricWriter
from vit_jax.training import console, experiment, parallel
from vit_jax.training.evaluator import Evaluator


def evaluate_initial(
    *,
    config: ml_collections.ConfigDict,
    exp: experiment.Experiment,
    evaluator: Evaluator,
    mesh: Mesh,
    writer: MetricWriter | None,
    workdir: Path,
) -> dict:
    """The checkpoint's model, untrained, on validation and test, or (mode 'fewshot') its
    few-shot accuracies (results as a run's)."""
    if jax.process_index() == 0:
        print(console.start_block(config=config, exp=exp, workdir=str(workdir)), flush=True)
    if config.mode == "fewshot":
        entries = _fewshot(
            config=config, checkpoint=exp.checkpoint_dir, num_classes=exp.info.num_classes
        )
        return {"splits": {}, "history": [], "train_seconds": 0.0, "fewshot": entries}
    variables = parallel.replicate(exp.variables, mesh=mesh)
    splits = {}
    for split in ("validation", "test"):
        splits[split] = evaluator(split=split, variables=variables)
        if writer:
            writer.write(step=0, split=split, metrics=splits[split])
    return {"splits": splits, "history": [], "train_seconds": 0.0}


def _fewshot(
    *, config: ml_collections.ConfigDict, checkpoint: Path, num_classes: int
) -> list[dict]:
    """config.fewshot's k-shot accuracies of the `checkpoint`'s representation (at the
    checkpoint's own image size and preprocessing; features cached as the fewshot command's)."""
    splits = fewshot.extract(
        checkpoint=checkpoint,
        dataset=config.dataset,
        data_dir=config.data_dir,
        splits=("train", "test"),
        batch_size=config.eval_batch_size,
    )
    shots = tuple(config.fewshot.shots)
    results = fewshot.fewshot_accuracies(
        train=splits["train"],
        test=splits["test"],
        num_classes=num_classes,
        shots=shots,
        seeds=config.fewshot.seeds,
        l2=config.fewshot.l2,
    )
    return fewshot.summarise(results=results, shots=shots)
