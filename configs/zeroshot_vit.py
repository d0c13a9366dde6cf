"""Zero-shot ViT-B/16 on Shoe vs Sandal vs Boot (the study's Table 1, ViT-B/16 row): the same
experiment as configs/zeroshot.py:vit.

Prepare the data once:
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/zeroshot_vit.py --workdir runs/vit_zs
Expected: the study reports test accuracy 32.90% and macro F1 30.70%
(an untrained head: near chance).
"""

from configs import zeroshot


def get_config():
    return zeroshot.get_config("vit")
