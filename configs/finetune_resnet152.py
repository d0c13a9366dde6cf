"""Fine-tune ResNet-152 on Shoe vs Sandal vs Boot (the study's Table 2, ResNet-152 row): the same
experiment as configs/finetune.py:resnet152.

Prepare the data once:
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/finetune_resnet152.py --workdir runs/resnet152_ft
Expected: the study reports test accuracy 92.76% and macro F1 92.77% after 3 epochs.
"""

from configs import finetune


def get_config():
    return finetune.get_config("resnet152")
