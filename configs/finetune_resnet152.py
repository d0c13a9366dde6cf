"""Fine-tune ResNet-152 on Shoe vs Sandal vs Boot (the study's Table 2, ResNet-152 row).

Prepare once (data, and the converted Hugging Face checkpoint microsoft/resnet-152):
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot \
      --source_dir ../shared/datasets/shoe_sandal_boot --data_dir data
  python -m vit_jax.convert_checkpoint --input <folder of microsoft/resnet-152> \
      --model ResNet-152 --output checkpoints/ResNet-152_imagenet1k --keep_head
Run:
  python main.py --config configs/finetune_resnet152.py --workdir runs/resnet152_ft
Expected: the study reports test accuracy 92.76% and macro F1 92.77% after 3 epochs.
The paper's recipe (SGD, cosine, batch 512 by accumulation) instead: add --config.recipe=paper.
"""

from configs import common


def get_config():
    return common.get_config(model="resnet152", mode="finetune")
