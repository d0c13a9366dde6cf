"""Test helpers: checkpoint files written in each published format, straight from the
project's reference tables in tests/data (never from vit_jax's own name maps), reference
PyTorch models, and random converted checkpoints.
"""

import functools
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from vit_jax import checkpoints, models

DATA = Path(__file__).resolve().parent / "data"


@functools.cache
def _table(name: str):
    return json.loads((DATA / name).read_text())


def npz_layout(name: str) -> dict[str, tuple[int, ...]]:
    """{npz key: shape} of a released .npz file (tests/data/npz_layouts.json), e.g.
    'ViT-B_16 imagenet21k', 'R50+ViT-B_16 imagenet21k', 'BiT-M-R50x1'."""
    return {key: tuple(shape) for key, shape in _table("npz_layouts.json")[name].items()}


def hf_vit_keys() -> list[dict]:
    """Rows of tests/data/hf_vit_b16_keys.json: the Hugging Face ViT-B/16 name on disk, its
    shape, the original .npz name, the npz -> HF transform, the in-memory name of
    transformers >= 5.9 (None: the same)."""
    return _table("hf_vit_b16_keys.json")


def resnet_keys(model: str) -> tuple[list[tuple[str, tuple[int, ...], str]], list[str]]:
    """(Hugging Face name, shape, torchvision name) rows of microsoft/resnet-50 or -152
    ('ResNet-50', 'ResNet-152'), and torchvision's state-dict names in its own order."""
    entry = _table("resnet_keys.json")[model]
    rows = [(hf, tuple(shape), tv) for hf, shape, tv in entry["hf_name_shape_torchvision_name"]]
    return rows, entry["torchvision_state_dict_order"]


def imagenet1k_footwear() -> list[dict]:
    """ImageNet-1k footwear classes (group, index, wnid, lemma, torchvision_name)."""
    return _table("imagenet1k_footwear.json")


def small_vit_layout(
    *, layers: int, hidden: int, mlp: int, heads: int, tokens: int, classes: int, pre_logits: bool
) -> dict[str, tuple[int, ...]]:
    """The ViT-B/16 .npz layout (pre-Linen names) with fewer layers and other widths: every
    dimension of the B/16 file is substituted (768 -> hidden, 3072 -> mlp, 12 -> heads,
    64 -> hidden/heads, 197 -> tokens, 21843 -> classes)."""
    sizes = {768: hidden, 3072: mlp, 12: heads, 64: hidden // heads, 197: tokens, 21843: classes}
    result = {}
    for key, shape in npz_layout("ViT-B_16 imagenet21k").items():
        block = re.search(r"encoderblock_(\d+)/", key)
        if (block and int(block[1]) >= layers) or (key.startswith("pre_logits") and not pre_logits):
            continue
        result[key] = tuple(sizes.get(d, d) for d in shape)
    return result


def random_arrays(shapes: dict[str, tuple[int, ...]], *, seed: int) -> dict[str, np.ndarray]:
    """float32 values: LayerNorm/GroupNorm scales near 1, everything else N(0, 0.02^2)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for key, shape in shapes.items():
        noise = rng.standard_normal(shape, dtype=np.float32)
        is_scale = key.endswith(("/scale", "/gamma"))
        arrays[key] = (1.0 + 0.1 * noise) if is_scale else 0.02 * noise
    return arrays


def npz_to_hf_vit(
    arrays: dict[str, np.ndarray], *, hidden: int, with_vit_prefix: bool, in_memory: bool
) -> dict[str, np.ndarray]:
    """A Hugging Face ViT state dict from original .npz arrays, following hf_vit_keys(): its
    npz names and npz -> HF transforms (tabulated for D=768, applied with D=hidden); names as
    on disk, or (in_memory) as in the modules of transformers >= 5.9."""
    transforms = {
        "none": lambda a: a,
        "transpose": lambda a: a.T,
        "hwio_to_oihw": lambda a: a.transpose(3, 2, 0, 1),
        "merge_heads": lambda a: a.reshape(hidden),
        "merge_heads_transpose": lambda a: a.reshape(hidden, hidden).T,
    }
    state = {}
    for row in hf_vit_keys():
        if row["npz"] not in arrays:
            continue
        hf_name = (in_memory and row["hf_in_memory"]) or row["hf"]
        name = hf_name if with_vit_prefix else hf_name.removeprefix("vit.")
        array = transforms[row["npz_to_hf"]](arrays[row["npz"]])
        state[name] = np.ascontiguousarray(array)
    return state


def perturb_torch_model(
    model, *, seed: int, scale: float = 0.05, vectors_only: bool = False
) -> None:
    """Adds N(0, scale^2) to every parameter (vectors_only: to norm scales and biases only), so
    that equivalence tests exercise every tensor: LayerNorm/BatchNorm scales and biases start at
    exactly 1 and 0."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim <= 1 or not vectors_only:
                param.add_(scale * torch.randn(param.shape, generator=generator))


def randomise_batch_norm_statistics(model, *, seed: int) -> None:
    """Running means N(0, 0.1^2) and variances U(0.5, 1.5) in every BatchNorm: every
    statistic differs from its initial 0/1, so a mix-up of mean and var shows."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
            elif name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))


def rescale_head(model, head, *, images: np.ndarray, largest_logit: float = 4.0) -> None:
    """Scales the final Linear `head` so that the largest |logit| on `images` is largest_logit.

    Without normalisation a deep random ResNet's logits reach 1e2..1e8, and float32 rounding
    (relative ~1e-6) alone would exceed an absolute 1e-4 tolerance.
    """
    import torch

    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(images.transpose(0, 3, 1, 2))).logits
        factor = largest_logit / logits.abs().max()
        head.weight.mul_(factor)
        head.bias.mul_(factor)


def torch_bilinear(pos_embedding: np.ndarray, grid, new_grid) -> np.ndarray:
    """Independent reference for the position-embedding resize: torch interpolate(bilinear,
    align_corners=True), which samples the old grid at x_old = x_new * (old - 1) / (new - 1),
    as scipy.ndimage.zoom(order=1) does in the original vit_jax and big_vision."""
    import torch

    width = pos_embedding.shape[-1]
    image = torch.from_numpy(pos_embedding[0, 1:].reshape(*grid, width)).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(
        image, size=new_grid, mode="bilinear", align_corners=True
    )
    return resized[0].permute(1, 2, 0).reshape(-1, width).numpy()


def random_images(*, batch: int, size: tuple[int, int], seed: int) -> np.ndarray:
    """NHWC float32 images in [-1, 1]."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (batch, *size, 3)).astype(np.float32)


# A 2-layer ViT at 16x16 for converted checkpoints written by the tests.
SMALL_VIT = dict(hidden_size=32, mlp_dim=64, num_heads=4, num_layers=2, patches=(4, 4))


def _random_array(path: tuple[str, ...], shape: tuple[int, ...], rng) -> np.ndarray:
    normal = rng.standard_normal(shape, dtype=np.float32)
    name = path[-1]
    if name in ("scale", "var"):
        return 1 + 0.05 * np.abs(normal) if name == "var" else 1 + 0.05 * normal
    if name in ("bias", "mean") or len(shape) < 2:
        return 0.05 * normal
    if name in ("pos_embedding", "cls"):
        return 0.02 * normal
    attention_input = path[-2] in ("query", "key", "value")  # (D, heads, D/heads)
    fan_in = shape[0] if attention_input else int(np.prod(shape[:-1]))
    return normal / np.sqrt(fan_in)


def random_checkpoint(
    directory, *, model: str, num_classes: int, image_size, seed: int, **overrides
):
    """A converted checkpoint of `model` with every parameter (and BatchNorm statistic) random:
    weights scaled by 1/sqrt(fan-in), embeddings by 0.02, norms and biases near 1 and 0 (drawn
    with numpy from the shapes alone: the model's own initialisers, run op by op, take half a
    minute for a ResNet-50 here)."""
    network = models.create_model(model, num_classes=num_classes, **overrides)
    shapes = jax.eval_shape(
        functools.partial(network.init, train=False),
        jax.random.key(seed),
        jax.ShapeDtypeStruct((1, *image_size, 3), jnp.float32),
    )
    rng = np.random.default_rng(seed)
    variables = traverse_util.unflatten_dict(
        {
            path: _random_array(path, leaf.shape, rng)
            for path, leaf in traverse_util.flatten_dict(shapes).items()
        }
    )
    if "batch_stats" in variables:  # the statistics of random images, so activations stay O(1)
        measuring = models.create_model(
            model, num_classes=num_classes, batch_norm_momentum=0.0, **overrides
        )
        images = rng.uniform(-1, 1, (8, *image_size, 3)).astype(np.float32)
        measure = jax.jit(functools.partial(measuring.apply, train=True, mutable=["batch_stats"]))
        variables = {**variables, "batch_stats": measure(variables, images)[1]["batch_stats"]}
    metadata = {
        "model": model,
        "source_format": "test",
        "source_file": "",
        "sha256": None,
        "image_size": list(image_size),
        "num_classes": num_classes,
        "head_kept": True,
        "label_names": [f"class_{i}" for i in range(num_classes)],
        "preprocessing": {"value_range": [-1.0, 1.0], "resize_method": "bilinear"},
        "model_overrides": overrides,
    }
    checkpoints.save(
        directory=directory,
        variables=jax.device_get(variables),
        metadata=metadata,
        overwrite=False,
    )
    return directory


def save_hf_vit_ti(folder: Path, *, image_size: int = 32, num_labels: int = 4) -> Path:
    """A Hugging Face ViT-Ti/16 folder (save_pretrained of a seeded random model)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=192,
        num_hidden_layers=12,
        num_attention_heads=3,
        intermediate_size=768,
        image_size=image_size,
        num_labels=num_labels,
    )
    ViTForImageClassification(config).save_pretrained(folder)
    return folder
