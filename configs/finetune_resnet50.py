"""Fine-tune ResNet-50 on Shoe vs Sandal vs Boot (the study's Table 2, ResNet-50 row): the same
experiment as configs/finetune.py:resnet50.

Prepare the data once:
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/finetune_resnet50.py --workdir runs/resnet50_ft
Expected: the study reports test accuracy 80.03% and macro F1 79.62% after 3 epochs.
"""

from configs import finetune


def get_config():
    return finetune.get_config("resnet50")
