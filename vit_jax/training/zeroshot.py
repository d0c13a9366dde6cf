"""Zero-shot runs: the initial model (a pretrained backbone with a new or pooled ImageNet head)
evaluated on validation and test without training, written like a training run's results."""

from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh

from vit_jax.reporting.writer import MetricWriter
from vit_jax.training import console, experiment, parallel
from vit_jax.training.evaluation import Evaluator


def evaluate_initial(
    *,
    config: ml_collections.ConfigDict,
    exp: experiment.Experiment,
    evaluator: Evaluator,
    mesh: Mesh,
    writer: MetricWriter | None,
    workdir: Path,
) -> dict:
    """The checkpoint's model, untrained, on validation and test (results as a run's)."""
    variables = parallel.replicate(exp.variables, mesh=mesh)
    if jax.process_index() == 0:
        print(console.start_block(config=config, exp=exp, workdir=str(workdir)), flush=True)
    splits = {}
    for split in ("validation", "test"):
        splits[split] = evaluator(split=split, variables=variables)
        if writer:
            writer.write(step=0, split=split, metrics=splits[split])
    return {"splits": splits, "history": [], "train_seconds": 0.0}
