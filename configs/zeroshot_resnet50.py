"""Zero-shot ResNet-50 on Shoe vs Sandal vs Boot (the study's Table 1, ResNet-50 row): the same
experiment as configs/zeroshot.py:resnet50.

Prepare the data once:
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/zeroshot_resnet50.py --workdir runs/resnet50_zs
Expected: the study reports test accuracy 36.60% and macro F1 26.90%
(an untrained head: near chance).
"""

from configs import zeroshot


def get_config():
    return zeroshot.get_config("resnet50")
