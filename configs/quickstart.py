"""Quick start: a small ViT trained from scratch on the embedded 'digits' data (scikit-learn's
8x8 handwritten digits, 10 classes), no download or preparation needed.

Run:
  python main.py --config configs/quickstart.py --workdir runs/quickstart
Expected: test accuracy about 98% after 20 epochs (measured: 98.15%, macro F1 98.14%; training
49.9 s and 84 s for the whole command on a quiet 2-core x86-64 CPU). The model: a 4-layer ViT
(hidden size 64, 4 heads, MLP 128) on the digits upscaled to 16x16 in 4x4 patches (16 tokens +
class token); AdamW, lr 1e-3 with warmup and cosine decay, batch 32.
"""

from vit_jax.training import config_defaults


def get_config():
    config = config_defaults.get_config(model="vit", mode="finetune")
    config.init = "scratch"
    config.dataset = "digits"
    config.model = "ViT-Ti_16"
    config.model_overrides.update(
        {"patches": (4, 4), "hidden_size": 64, "mlp_dim": 128, "num_heads": 4, "num_layers": 4}
    )
    config.image_size = (16, 16)
    config.num_epochs = 20
    config.recipes.quickstart = config_defaults.study_recipe()
    config.recipes.quickstart.update(
        learning_rate=1e-3, schedule="cosine", warmup_steps=100, batch_size=32
    )
    config.recipe = "quickstart"
    config.log_every_steps = 20
    config.checkpoint_every_steps = 0
    return config
