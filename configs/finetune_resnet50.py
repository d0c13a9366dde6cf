"""Fine-tune ResNet-50 on Shoe vs Sandal vs Boot (the study's Table 2, ResNet-50 row).

Prepare once (data, and the converted Hugging Face checkpoint microsoft/resnet-50):
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot \
      --source_dir ../shared/datasets/shoe_sandal_boot --data_dir data
  python -m vit_jax.convert_checkpoint --input <folder of microsoft/resnet-50> \
      --model ResNet-50 --output checkpoints/ResNet-50_imagenet1k --keep_head
Run:
  python main.py --config configs/finetune_resnet50.py --workdir runs/resnet50_ft
Expected: the study reports test accuracy 80.03% and macro F1 79.62% after 3 epochs.
The paper's recipe (SGD, cosine, batch 512 by accumulation) instead: add --config.recipe=paper.
"""

from configs import common


def get_config():
    return common.get_config(model="resnet50", mode="finetune")
