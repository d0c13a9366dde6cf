"""Model zoo: the Vision Transformer (vit.py, paper eqs. 1-4), ResNet v1.5 (resnet.py), BiT
ResNet-v2 and the hybrid's R50 backbone (bit.py), the layers they share (layers.py), and the
registry (registry.py: `create_model`, `get_config`, `MODEL_NAMES`, `label`) and the
representation the head reads and a ViT's attention weights (features.py: `head_input_fn`,
`attention_weights_fn`), re-exported here.

May import: kernels.
Imported by: checkpoints, training, inference, analysis, bench; and the commands.
"""

from vit_jax.models.features import attention_weights_fn, head_input_fn
from vit_jax.models.registry import MODEL_NAMES, architecture, create_model, get_config, label

__all__ = [
    "MODEL_NAMES",
    "architecture",
    "attention_weights_fn",
    "create_model",
    "get_config",
    "head_input_fn",
    "label",
]
