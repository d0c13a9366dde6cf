"""Model zoo: the Vision Transformer (vit.py, paper eqs. 1-4), ResNet v1.5 (resnet.py), BiT
ResNet-v2 and the hybrid's R50 backbone (bit.py), the layers they share (layers.py), and the
registry (registry.py: `create_model`, `get_config`, `MODEL_NAMES`, `label`) and the
representation the head reads (features.py: `head_input_fn`), re-exported here.

May import: vit_jax.kernels. Imported by: checkpoints, training, bench and the commands.
Parameter names are those of the released checkpoints (docs/ARCHITECTURE.md, contract 1).
"""

from vit_jax.models.features import head_input_fn
from vit_jax.models.registry import MODEL_NAMES, architecture, create_model, get_config, label

__all__ = ["MODEL_NAMES", "architecture", "create_model", "get_config", "head_input_fn", "label"]
