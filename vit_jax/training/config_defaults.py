"""Defaults shared by every experiment config: the study's fine-tuning setup.

The study (see vit_jax/reporting/study_report.py, STUDY_RESULTS) fine-tuned Hugging Face
ImageNet-1k checkpoints on Shoe vs Sandal vs Boot at 224x224 for 3 epochs with the Hugging Face
Trainer defaults: AdamW (betas 0.9/0.999, eps 1e-8, no weight decay, gradient clipping at global
norm 1), learning rate 1e-5 decaying linearly to 0, batch 16, and a new randomly initialised
classifier head.
`--config.recipe=paper` switches to the paper's fine-tuning recipe (Dosovitskiy et al., ICLR 2021,
Appendix B.1.1): SGD momentum 0.9, clipping at global norm 1, cosine decay after a linear warmup,
batch 512 by accumulating 32 micro-batches of 16, zero-initialised head.

Fields (all can be overridden with --config.<field>=<value>):
  model             a vit_jax.models.MODEL_NAMES name.
  mode              'finetune', 'zeroshot' (evaluate the initial model on validation and test) or
                    'fewshot' (linear evaluation of the checkpoint's frozen representation on k
                    training images per class, paper section 4.1; vit_jax.analysis.fewshot).
  fewshot           shots (k per class), seeds (draws of the k images), l2 (ridge strength).
  init              'checkpoint' (config.checkpoint_dir) or 'scratch'.
  checkpoint_dir    a converted checkpoint's folder, or a checkpoint name (vit_jax/checkpoints/
                    named.py), hf://ORG/NAME[@REVISION] or a URL: downloaded and converted once
                    into $VIT_JAX_CACHE/converted on first use.
  head              'new': a head for the dataset's classes, initialised as recipe.head_init;
                    'imagenet1k' (zeroshot only): the checkpoint's ImageNet-1k head, its logits
                    pooled onto boot/sandal/shoe (vit_jax.training.footwear). The study's
                    'zero-shot' is head='new' with the random Hugging Face head (head_init='hf'):
                    a zero head (the paper recipe's) makes every logit 0 and every prediction
                    class 0.
  model_overrides   create_model fields replacing the model's; unset (None) fields keep the
                    model's own: sizes (patches, hidden_size, mlp_dim, num_heads, num_layers,
                    representation_size, width_factor), regularisation (dropout_rate,
                    attention_dropout_rate), numerics (layer_norm_epsilon, gelu_approximate,
                    batch_norm_epsilon, batch_norm_momentum, group_norm_epsilon) and how it runs
                    (kernels 'auto'|'cpu'|'xla', remat, unroll). E.g.
                    --config.model_overrides.dropout_rate=0.1, --config.model_overrides.kernels=xla.
  dtype             compute dtype: 'float32' or 'bfloat16' (mixed precision; params stay float32).
  sharding          'replicate' (every device holds the whole training state) or 'fsdp' (the
                    parameters and optimizer state split over the devices; docs/performance.md).
  mu_dtype          dtype of the optimizer's first moment: 'float32' or 'bfloat16' (half its
                    memory; the second moment and the parameters stay float32).
  dataset, data_dir, num_classes (None: the dataset's), image_size (H, W), augment, worker_count.
  prefetch_batches  training batches transferred to the devices ahead of the step (0: none).
  preprocessing     pixel normalisation for init='scratch' (a checkpoint brings its own).
  num_epochs, eval_batch_size, seed.
  recipe, recipes   the optimizer recipe in use and the definitions of 'study' and 'paper'.
  log_every_steps, eval_every_steps (0: only at epoch ends), checkpoint_every_steps (0: only at
                    epoch ends), keep_checkpoints (latest kept; the best on validation accuracy
                    is kept as well), progress_bar.
  coordinator_address, num_processes, process_id: multi-process runs (jax.distributed).
"""

import ml_collections
from ml_collections import config_dict

# The study's models: short name -> (vit_jax model, its Hugging Face ImageNet-1k checkpoint by
# name in vit_jax/checkpoints/named.py: downloaded and converted on first use).
MODELS = {
    "vit": ("ViT-B_16", "vit-b16-in1k"),
    "resnet50": ("ResNet-50", "resnet50-in1k"),
    "resnet152": ("ResNet-152", "resnet152-in1k"),
}


def study_recipe() -> ml_collections.ConfigDict:
    """Hugging Face Trainer defaults with the study's learning rate and batch size."""
    return ml_collections.ConfigDict(
        {
            "optimizer": "adamw",
            "learning_rate": 1e-5,
            "schedule": "linear",
            "warmup_steps": 0,
            "b1": 0.9,
            "b2": 0.999,
            "eps": 1e-8,
            "weight_decay": 0.0,
            "momentum": 0.9,
            "grad_clip_norm": 1.0,
            "batch_size": 16,
            "grad_accum_steps": 1,
            "head_init": "hf",
        }
    )


def paper_recipe() -> ml_collections.ConfigDict:
    """The paper's fine-tuning recipe; learning rate from its sweep {0.001, 0.003, 0.01, 0.03}."""
    recipe = study_recipe()
    recipe.update(
        optimizer="sgd",
        learning_rate=0.01,
        schedule="cosine",
        warmup_steps=5,
        batch_size=512,
        grad_accum_steps=32,
        head_init="zeros",
    )
    return recipe


def model_overrides() -> ml_collections.ConfigDict:
    """Every create_model field a config may override, unset: the model's own values apply."""
    types = {
        "patches": tuple,
        "hidden_size": int,
        "mlp_dim": int,
        "num_heads": int,
        "num_layers": object,  # an int for ViT, a tuple of stage depths for ResNet and BiT
        "representation_size": int,
        "width_factor": int,
        "dropout_rate": float,
        "attention_dropout_rate": float,
        "layer_norm_epsilon": float,
        "gelu_approximate": bool,
        "batch_norm_epsilon": float,
        "batch_norm_momentum": float,
        "group_norm_epsilon": float,
        "kernels": str,
        "remat": bool,
        "unroll": bool,
    }
    return ml_collections.ConfigDict(
        {field: config_dict.placeholder(kind) for field, kind in types.items()}
    )


def study_model(arg: str) -> str:
    """`arg` of configs/finetune.py:ARG and configs/zeroshot.py:ARG, checked: a MODELS name."""
    if arg not in MODELS:
        raise ValueError(f"the model {arg!r} is not one of {', '.join(MODELS)}")
    return arg


def get_config(*, model: str, mode: str) -> ml_collections.ConfigDict:
    """The study's experiment for MODELS[model] in `mode` ('finetune', 'zeroshot', 'fewshot')."""
    config = ml_collections.ConfigDict()
    config.model, config.checkpoint_dir = MODELS[model]
    config.mode = mode
    config.init = "checkpoint"
    config.head = "new"
    config.model_overrides = model_overrides()
    config.dtype = "float32"
    config.sharding = "replicate"
    config.mu_dtype = "float32"

    config.dataset = "shoe_sandal_boot"
    config.data_dir = "data"
    config.num_classes = config_dict.placeholder(int)
    config.image_size = (224, 224)
    config.preprocessing = ml_collections.ConfigDict({"value_range": (-1.0, 1.0)})
    config.augment = False
    config.worker_count = 0
    config.prefetch_batches = 2

    config.num_epochs = 3
    config.eval_batch_size = 64
    config.fewshot = ml_collections.ConfigDict({"shots": (1, 5, 10, 25), "seeds": 5, "l2": 1024.0})
    config.seed = 0
    config.recipe = "study"
    config.recipes = ml_collections.ConfigDict({"study": study_recipe(), "paper": paper_recipe()})

    config.log_every_steps = 50
    config.eval_every_steps = 0
    config.checkpoint_every_steps = 500
    config.keep_checkpoints = 2
    config.progress_bar = True

    config.coordinator_address = ""
    config.num_processes = 1
    config.process_id = 0
    return config
