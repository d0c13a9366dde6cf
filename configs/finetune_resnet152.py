"""Fine-tune ResNet-152 on Shoe vs Sandal vs Boot (the study's Table 2, ResNet-152 row).

Prepare the data once; the checkpoint resnet152-in1k (Hugging Face microsoft/resnet-152) is
downloaded and converted into $VIT_JAX_CACHE on first use (offline: README.md, checkpoints):
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot \
      --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/finetune_resnet152.py --workdir runs/resnet152_ft
Expected: the study reports test accuracy 92.76% and macro F1 92.77% after 3 epochs.
The paper's recipe (SGD, cosine, batch 512 by accumulation) instead: add --config.recipe=paper.
"""

from configs import common


def get_config():
    return common.get_config(model="resnet152", mode="finetune")
