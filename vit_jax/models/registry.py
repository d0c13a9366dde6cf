"""Model registry: architecture configs per name and `create_model` (docs/ARCHITECTURE.md,
contract 1).

ViT sizes are Table 1 of Dosovitskiy et al. (ICLR 2021); R50+ViT-B_16 is the hybrid of section 3.1
(R50 stages (3, 4, 9), 1x1 patches on its stride-16 feature map); ResNet-* are BatchNorm ResNet v1.5
(He et al. 2016, Table 1); BiT-* are the BiT ResNet-v2 baselines of section 4.1.
"""

import copy
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from flax.core import FrozenDict

from vit_jax.kernels import selection
from vit_jax.models.bit import ResNetV2
from vit_jax.models.resnet import ResNet
from vit_jax.models.vit import VisionTransformer


def _vit(
    *,
    patch: int,
    hidden_size: int,
    mlp_dim: int,
    num_heads: int,
    num_layers: int,
    dropout_rate: float = 0.0,
    resnet: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Table 1 row (Layers, Hidden size D, MLP size, Heads) plus the patch size."""
    return dict(
        {
            "patches": (patch, patch),
            "hidden_size": hidden_size,
            "mlp_dim": mlp_dim,
            "num_heads": num_heads,
            "num_layers": num_layers,
            "dropout_rate": dropout_rate,
            "attention_dropout_rate": 0.0,
            "representation_size": None,
            "classifier": "token",
            "gelu_approximate": True,
            "layer_norm_epsilon": 1e-6,
            "resnet": resnet,
            "dtype": jnp.float32,
            "remat": False,
            "kernels": "auto",
        }
    )


def _resnet(num_layers: tuple[int, ...]) -> dict[str, Any]:
    return dict(
        {
            "num_layers": num_layers,
            "batch_norm_epsilon": 1e-5,
            "batch_norm_momentum": 0.9,
            "axis_name": None,
            "dtype": jnp.float32,
            "remat": False,
            "unroll": False,
            "kernels": "auto",
        }
    )


def _bit(num_layers: tuple[int, ...], width_factor: int) -> dict[str, Any]:
    return dict(
        {
            "num_layers": num_layers,
            "width_factor": width_factor,
            "group_norm_epsilon": 1e-5,
            "dtype": jnp.float32,
            "remat": False,
            "unroll": False,
            "kernels": "auto",
        }
    )


# Table 1 rows. Dropout 0.1 for L and H as in the original vit_jax model configs, 0 otherwise.
_TI = {"hidden_size": 192, "mlp_dim": 768, "num_heads": 3, "num_layers": 12}
_S = {"hidden_size": 384, "mlp_dim": 1536, "num_heads": 6, "num_layers": 12}
_B = {"hidden_size": 768, "mlp_dim": 3072, "num_heads": 12, "num_layers": 12}
_L = {"hidden_size": 1024, "mlp_dim": 4096, "num_heads": 16, "num_layers": 24, "dropout_rate": 0.1}
_H = {"hidden_size": 1280, "mlp_dim": 5120, "num_heads": 16, "num_layers": 32, "dropout_rate": 0.1}

_REGISTRY: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    "ViT-Ti_16": (VisionTransformer, _vit(patch=16, **_TI)),
    "ViT-S_16": (VisionTransformer, _vit(patch=16, **_S)),
    "ViT-S_32": (VisionTransformer, _vit(patch=32, **_S)),
    "ViT-B_16": (VisionTransformer, _vit(patch=16, **_B)),
    "ViT-B_32": (VisionTransformer, _vit(patch=32, **_B)),
    "ViT-L_16": (VisionTransformer, _vit(patch=16, **_L)),
    "ViT-L_32": (VisionTransformer, _vit(patch=32, **_L)),
    "ViT-H_14": (VisionTransformer, _vit(patch=14, **_H)),
    "R50+ViT-B_16": (
        VisionTransformer,
        _vit(patch=1, resnet={"num_layers": (3, 4, 9), "width_factor": 1}, **_B),
    ),
    "ResNet-50": (ResNet, _resnet((3, 4, 6, 3))),
    "ResNet-101": (ResNet, _resnet((3, 4, 23, 3))),
    "ResNet-152": (ResNet, _resnet((3, 8, 36, 3))),
    "BiT-R50x1": (ResNetV2, _bit((3, 4, 6, 3), 1)),
    "BiT-R101x1": (ResNetV2, _bit((3, 4, 23, 3), 1)),
    "BiT-R152x1": (ResNetV2, _bit((3, 8, 36, 3), 1)),
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _lookup(name: str) -> tuple[type[nn.Module], dict[str, Any]]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model name {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    return _REGISTRY[name]


def architecture(name: str) -> dict[str, Any]:
    """A copy of the architecture fields of model `name`, as a plain dict (for code that must
    run without ml_collections, such as the benchmark on a bare GPU machine)."""
    return copy.deepcopy(_lookup(name)[1])


def get_config(name: str):
    """The architecture fields of model `name` as an ml_collections.ConfigDict."""
    import ml_collections

    return ml_collections.ConfigDict(architecture(name))


# Fields that change what a model is (its size), as opposed to how it runs (kernels, remat, dtype).
_SIZE_FIELDS = {
    "num_layers": "layers",
    "hidden_size": "hidden",
    "mlp_dim": "MLP",
    "num_heads": "heads",
    "patches": "patch",
    "width_factor": "width",
    "representation_size": "pre-logits",
}


def label(name: str, *, overrides: Mapping[str, Any] | None = None) -> str:
    """What to call model `name` with `overrides` on the console, in plots and reports: the
    published name, or the family with its sizes where an override changes them, e.g.
    'ViT (4 layers, hidden 64, MLP 128, heads 4, patch 4)'."""
    changed = {
        field: value
        for field, value in (overrides or {}).items()
        if field in _SIZE_FIELDS and value != _lookup(name)[1].get(field)
    }
    if not changed:
        return name
    family = name.split("-")[0]
    merged = {**_lookup(name)[1], **changed}
    sizes = []
    for field, word in _SIZE_FIELDS.items():
        if field in merged and (field in changed or field in ("num_layers", "hidden_size")):
            value = merged[field]
            if field == "patches":
                value = value[0] if value[0] == value[1] else f"{value[0]}x{value[1]}"
            elif isinstance(value, list | tuple):
                value = ",".join(map(str, value))
            if field == "num_layers":
                plain = isinstance(merged[field], int)
                word = ("layer" if value == 1 else "layers") if plain else "blocks"
                sizes.append(f"{value} {word}" if plain else f"{word} {value}")
            else:
                sizes.append(f"{word} {value}")
    return f"{family} ({', '.join(sizes)})"


def _hashable(value: Any) -> Any:
    """Lists become tuples and dicts FrozenDicts (e.g. from JSON), so modules stay hashable."""
    if isinstance(value, Mapping):
        return FrozenDict({key: _hashable(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_hashable(item) for item in value)
    return value


def create_model(name: str, *, num_classes: int, **overrides: Any) -> nn.Module:
    """The linen Module for `name` with a `num_classes` head; `overrides` replace config fields.

    `dtype` may be given as a dtype or its name ('bfloat16'); parameters are always float32.
    `kernels` ('auto', 'cpu', 'xla'; vit_jax.kernels.selection) chooses the implementation of
    the layers without changing parameters or results.
    """
    module_cls, config = _lookup(name)
    fields = {key: _hashable(value) for key, value in config.items()}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown override field(s) {unknown} for model {name!r}; valid fields: "
            f"{', '.join(sorted(fields))}"
        )
    fields.update({key: _hashable(value) for key, value in overrides.items()})
    selection.check(fields["kernels"])
    fields["dtype"] = jnp.dtype(fields["dtype"])
    if fields["dtype"] not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16)):
        raise ValueError(f"dtype {fields['dtype']} is not supported; use float32 or bfloat16")
    return module_cls(num_classes=num_classes, **fields)
