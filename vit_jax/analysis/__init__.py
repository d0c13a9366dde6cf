"""The paper's instruments for looking at what a model learned: few-shot linear evaluation of its
frozen representation (fewshot.py, section 4.1 of Dosovitskiy et al.), and the pictures of
section 4.5: attention rollout and mean attention distance (attention_maps.py), the patch-embedding
filters' principal components and position embedding similarity (embeddings.py), drawn by
figures.py and put together for a checkpoint and image files by inspection.py.

May import: common, models, data, checkpoints, inference.
Imported by: training (the study's few-shot cells); and the fewshot and inspect commands.

The few-shot defaults live here, free of JAX, for the fewshot command's --help: the paper's
shots per class and big_vision's fixed L2 strength.
"""

DEFAULT_SHOTS = (1, 5, 10, 25)
DEFAULT_L2 = 2.0**10
