"""Experiments: config checks and experiment building (experiment.py), optimizer recipes
(optim.py), the train state and head initialisation (train_state.py), jit-compiled train and
eval steps (steps.py) made data-parallel over a device mesh (parallel.py), evaluation
(evaluation.py), the run's host-side progress (progress.py), the training loop and zero-shot
runs (loop.py), and the study runner (study.py).

May import: models, kernels, data, checkpoints, reporting. Imported by: bench and main.py.
"""
