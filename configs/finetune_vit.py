"""Fine-tune ViT-B/16 on Shoe vs Sandal vs Boot (the study's Table 2, ViT-B/16 row).

Prepare once (data, and the converted Hugging Face checkpoint google/vit-base-patch16-224):
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot \
      --source_dir ../shared/datasets/shoe_sandal_boot --data_dir data
  python -m vit_jax.convert_checkpoint --input <folder of google/vit-base-patch16-224> \
      --model ViT-B_16 --output checkpoints/ViT-B_16_imagenet1k --keep_head
Run:
  python main.py --config configs/finetune_vit.py --workdir runs/vit_ft
Expected: the study reports test accuracy 99.33% and macro F1 99.33% after 3 epochs.
The paper's recipe (SGD, cosine, batch 512 by accumulation) instead: add --config.recipe=paper.
"""

from configs import common


def get_config():
    return common.get_config(model="vit", mode="finetune")
