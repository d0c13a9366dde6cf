"""Evaluation on a split: accuracy, macro F1, per-class scores, confusion matrix and loss."""

from collections.abc import Callable

import grain
import ml_collections
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from vit_jax.data import input_pipeline
from vit_jax.data.preprocessing import parse_preprocessing
from vit_jax.reporting.metrics import classification_metrics
from vit_jax.training import experiment, parallel
from vit_jax.training.parallel import DATA_AXIS
from vit_jax.training.steps import make_eval_step


def evaluate(
    *,
    eval_step: Callable,
    variables: dict,
    loader: grain.DataLoader,
    mesh: Mesh,
    class_names: list[str],
) -> dict:
    """classification_metrics plus the mean loss over the real (mask 1) examples of one pass."""
    outputs = [eval_step(variables, parallel.shard_batch(batch, mesh=mesh)) for batch in loader]
    outputs = parallel.gather(outputs)
    merged = {name: np.concatenate([o[name] for o in outputs]) for name in outputs[0]}
    real = merged["mask"] > 0
    metrics = classification_metrics(
        labels=merged["label"][real],
        predictions=merged["prediction"][real],
        class_names=class_names,
    )
    return {"loss": float(merged["loss"][real].mean()), **metrics}


class Evaluator:
    """Evaluates variables on a split of the experiment's dataset."""

    def __init__(
        self, *, config: ml_collections.ConfigDict, exp: experiment.Experiment, mesh: Mesh
    ):
        self._mesh = mesh
        self._class_names = list(exp.info.class_names)
        self._step = parallel.data_parallel(
            make_eval_step(
                model=exp.model,
                logits_fn=exp.logits_fn,
                normalisation=parse_preprocessing(preprocessing=exp.preprocessing),
            ),
            mesh=mesh,
            in_specs=(P(), P(DATA_AXIS)),
            out_specs=P(DATA_AXIS),
        )
        self._loaders = {
            split: input_pipeline.create_loader(
                dataset=config.dataset,
                data_dir=config.data_dir,
                split=split,
                batch_size=config.eval_batch_size,
                image_size=tuple(config.image_size),
                preprocessing=exp.preprocessing,
                train=False,
                seed=config.seed,
                worker_count=config.worker_count,
                pixels=True,
            )
            for split in ("validation", "test")
        }

    def __call__(self, *, split: str, variables: dict) -> dict:
        return evaluate(
            eval_step=self._step,
            variables=variables,
            loader=self._loaders[split],
            mesh=self._mesh,
            class_names=self._class_names,
        )
