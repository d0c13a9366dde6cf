"""Experiments: the config fields and their defaults (config_defaults.py, which configs/*.py build
on), config checks (config_checks.py) and experiment building (experiment.py), optimizer recipes
(optim.py), the train state and head initialisation (train_state.py), jit-compiled train and eval
steps (steps.py) made data-parallel over a device mesh (parallel.py), the training state replicated
or split over the devices (sharding.py), the train step's memory before a run (memory.py), batches
prefetched to the devices (prefetch.py), evaluation (evaluator.py), the run's host-side progress
(progress.py), what a run prints (console.py), the training loop (loop.py, starting from
run_start.py's restored run), zero-shot and few-shot runs (zeroshot.py, with footwear.py pooling
ImageNet-1k logits onto boot / sandal / shoe), exports of a run's model (export.py), what a finished
run leaves (outputs.py, with provenance.py for where its numbers came from), main.py's flag parsing
(command_line.py) and the study (study.py).

May import: common, models, data, checkpoints, reporting, analysis.
Imported by: bench; and main.py and the export command.

What the export command's --help lists lives here, free of JAX and Orbax: which model of a run
is exported, and the formats it is written in.
"""

EXPORTS = ("final", "best")
EXPORT_FORMATS = ("vit_jax", "hf")
