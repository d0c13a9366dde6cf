"""The study in one command: zero-shot, few-shot (linear evaluation of the pretrained
representation, paper section 4.1; not in the course study) and fine-tuned ViT-B/16, ResNet-50 and
ResNet-152 on Shoe vs Sandal vs Boot, each cell in workdir/<cell>, then workdir/report.md with the
study's Tables 1 and 2 and Figure 2 beside our numbers and a few-shot table
(vit_jax.reporting.study_report.write_study_report).

Prepare the data as the docstrings of configs/zeroshot_*.py say (the three checkpoints, named in
vit_jax/training/config_defaults.py, are downloaded and converted on first use), then:
  python main.py --config configs/study.py --workdir runs/study
Expected: the study's numbers (test accuracy / macro F1, %): zero-shot ViT-B/16 32.90 / 30.70,
ResNet-152 42.30 / 36.20, ResNet-50 36.60 / 26.90 (untrained heads: near chance, seed-dependent);
fine-tuned ViT-B/16 99.33 / 99.33, ResNet-152 92.76 / 92.77, ResNet-50 80.03 / 79.62.
The SHARED_FIELDS below are set once on the study and apply to every cell (e.g.
--config.recipe=paper, --config.data_dir=DIR); any other field per cell, e.g.
--config.cells.vit_finetune.num_epochs=1. The cells run in the order of cell_order.
"""

import ml_collections

from vit_jax.training import config_defaults

SHARED_FIELDS = (
    "dataset",
    "data_dir",
    "image_size",
    "recipe",
    "dtype",
    "seed",
    "worker_count",
    "progress_bar",
    "coordinator_address",
    "num_processes",
    "process_id",
)


# The study's order (its tables list ViT-B/16, ResNet-152, ResNet-50): the quick cells first.
MODELS = ("vit", "resnet152", "resnet50")
MODES = ("zeroshot", "fewshot", "finetune")


def get_config():
    cells = {
        f"{model}_{mode}": config_defaults.get_config(model=model, mode=mode)
        for mode in MODES
        for model in MODELS
    }
    config = ml_collections.ConfigDict()
    template = next(iter(cells.values()))
    for field in SHARED_FIELDS:
        reference = ml_collections.FieldReference(template[field])
        config[field] = reference
        for cell in cells.values():
            cell[field] = reference
    config.cells = ml_collections.ConfigDict(cells)
    config.cell_order = tuple(cells)  # the cells run, and the report lists them, in this order
    return config
