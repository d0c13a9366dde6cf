"""Zero-shot ResNet-152 on Shoe vs Sandal vs Boot (the study's Table 1, ResNet-152 row): the
pre-trained backbone with a new, randomly initialised 3-class head (uniform +-1/sqrt(2048), as
Hugging Face initialises ResNetForImageClassification's classifier), evaluated without training.

Prepare the data once; the checkpoint resnet152-in1k (Hugging Face microsoft/resnet-152) is
downloaded and converted into $VIT_JAX_CACHE on first use (offline: README.md, checkpoints):
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot \
      --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/zeroshot_resnet152.py --workdir runs/resnet152_zs
Expected: near chance, as the head is untrained: the study reports test accuracy 42.30% and macro F1
36.20% (a different random head gives a different number). With
--config.head=imagenet1k the checkpoint's ImageNet-1k head is kept and its 1000 logits are pooled
onto boot/sandal/shoe (vit_jax.reporting.footwear): a real zero-shot classifier (not measured).
"""

from configs import common


def get_config():
    return common.get_config(model="resnet152", mode="zeroshot")
