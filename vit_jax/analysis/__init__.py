"""The paper's instruments for looking at what a model learned: few-shot linear evaluation of its
frozen representation (fewshot.py, section 4.1 of Dosovitskiy et al.).

May import: common, models, data, checkpoints, inference. Imported by: the fewshot command.
"""
