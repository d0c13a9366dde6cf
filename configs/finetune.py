"""Fine-tune one of the study's models on Shoe vs Sandal vs Boot (the study's Table 2).

The argument after the colon picks the model (big_vision's `get_config(arg)`): vit (ViT-B/16,
checkpoint vit-b16-in1k), resnet50 (resnet50-in1k) or resnet152 (resnet152-in1k); each
checkpoint is downloaded and converted into $VIT_JAX_CACHE on first use (offline: README.md,
checkpoints). configs/finetune_vit.py, finetune_resnet50.py and finetune_resnet152.py are the
same three experiments by file name. Prepare the data once:
  python -m vit_jax.prepare_data --dataset shoe_sandal_boot \
      --source_dir archive.zip --data_dir data
Run:
  python main.py --config configs/finetune.py:vit --workdir runs/vit_ft
Expected: the study reports (test accuracy / macro F1 after 3 epochs) vit 99.33% / 99.33%, resnet152
92.76% / 92.77%, resnet50 80.03% / 79.62%.
The paper's recipe (SGD, cosine, batch 512 by accumulation) instead: add --config.recipe=paper.
The fields: vit_jax/training/config_defaults.py.
"""

from vit_jax.training import config_defaults


def get_config(arg: str = "vit"):
    return config_defaults.get_config(model=config_defaults.study_model(arg), mode="finetune")
