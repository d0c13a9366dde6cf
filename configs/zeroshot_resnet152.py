"""Zero-shot ResNet-152 on Shoe vs Sandal vs Boot (the study's Table 1, ResNet-152 row): the same
experiment as configs/zeroshot.py:resnet152.

Prepare the data once:
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/zeroshot_resnet152.py --workdir runs/resnet152_zs
Expected: the study reports test accuracy 42.30% and macro F1 36.20%
(an untrained head: near chance).
"""

from configs import zeroshot


def get_config():
    return zeroshot.get_config("resnet152")
