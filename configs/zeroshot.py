"""Zero-shot: one of the study's models on Shoe vs Sandal vs Boot without training (the study's
Table 1): the pre-trained backbone with a new, randomly initialised 3-class head (normal, std
0.02, as Hugging Face initialises its classifiers), evaluated on validation and test.

The argument after the colon picks the model, as in configs/finetune.py: vit, resnet50 or
resnet152; configs/zeroshot_vit.py, zeroshot_resnet50.py and zeroshot_resnet152.py are the same
three experiments by file name. Prepare the data once:
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot \
      --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/zeroshot.py:vit --workdir runs/vit_zs
Expected: near chance, as the head is untrained; the study reports (test accuracy / macro F1) vit
32.90% / 30.70%, resnet152 42.30% / 36.20%, resnet50 36.60% / 26.90% (another random head gives
another number). With --config.head=imagenet1k the checkpoint's ImageNet-1k head is kept and its
1000 logits are pooled onto boot/sandal/shoe (vit_jax.training.footwear): a real zero-shot
classifier (not measured).
"""

from vit_jax.training import config_defaults


def get_config(arg: str = "vit"):
    return config_defaults.get_config(model=config_defaults.study_model(arg), mode="zeroshot")
