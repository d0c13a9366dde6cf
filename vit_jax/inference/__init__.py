"""Using a trained model: the Classifier that runs a converted checkpoint on images with its own
preprocessing, the Python API as `vit_jax.Classifier` (classifier.py), image files gathered
from paths, folders and globs and decoded off the device's critical path (image_files.py), and
evaluation of a checkpoint on a prepared dataset or a folder of class sub-folders
(evaluation.py).

May import: common, models, data, checkpoints, reporting.
Imported by: analysis; and the predict, evaluate, fewshot and inspect commands.
"""
