"""A converted checkpoint as a Hugging Face model folder: config.json (with id2label),
model.safetensors and preprocessor_config.json, loadable with
ViTForImageClassification / ResNetForImageClassification.from_pretrained and
transformers.pipeline("image-classification").

The names are the inverse of the readers' (formats/hf_vit.py, formats/torch_resnet.py): every
Hugging Face name the architecture has is mapped to ours by the reader's own function and its
array brought back to the torch layout. The image processor resizes straight to the model's
size and normalises as our preprocessing does (ViTImageProcessor for both families). Models
with no Hugging Face class here (BiT, the R50 hybrid) and ViTs with a pre-logits layer are
refused.
"""

import json
from pathlib import Path

import numpy as np
import safetensors.numpy
from flax import traverse_util

from vit_jax.checkpoints.formats import hf_vit, torch_resnet
from vit_jax.checkpoints.formats.hf_config import PIL_RESAMPLE
from vit_jax.checkpoints.formats.source import ConversionError
from vit_jax.common.staged_folder import staged_folder
from vit_jax.models import get_config

# What an export folder holds: a folder with anything else is not replaced.
HF_FILES = frozenset({"model.safetensors", "config.json", "preprocessor_config.json"})
RESNET_WIDTHS = [256, 512, 1024, 2048]  # bottleneck outputs of ResNet v1.5's four stages


def _from_flax(array: np.ndarray, *, layout: str) -> np.ndarray:
    """The inverse of hf_vit.to_flax."""
    if layout == "conv":
        return array.transpose(3, 2, 0, 1)
    if layout == "linear":
        return array.T
    if layout == "qkv":
        return array.reshape(array.shape[0], -1).T
    if layout == "qkv_bias":
        return array.reshape(-1)
    if layout == "out":
        return array.reshape(-1, array.shape[-1]).T
    return array


def _vit(*, flat: dict, meta: dict) -> tuple[dict, dict]:
    config = get_config(meta["model"])
    config.update(meta["model_overrides"])
    if config.get("resnet") or config.representation_size:
        raise ConversionError(
            f"{meta['model']} has no ViTForImageClassification equivalent (a ResNet stem or a "
            "pre-logits layer); export it in the vit_jax format instead"
        )
    layers = [f"encoder.layer.{i}.{module}" for i in range(config.num_layers) for module in (
        "layernorm_before", "layernorm_after", "attention.attention.query",
        "attention.attention.key", "attention.attention.value", "attention.output.dense",
        "intermediate.dense", "output.dense",
    )]  # fmt: skip
    tops = [key for key in hf_vit.TOP_LEVEL if not key.startswith("pooler")]
    candidates = tops + [f"{m}.{leaf}" for m in layers for leaf in ("weight", "bias")]
    state = {}
    for key in candidates:
        path, layout = hf_vit.vit_jax_name(key)
        state[f"vit.{key}" if not key.startswith("classifier") else key] = _from_flax(
            flat[f"params/{path}"], layout=layout
        )
    height, width = meta["image_size"]
    hf_config = {
        "architectures": ["ViTForImageClassification"],
        "model_type": "vit",
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.mlp_dim,
        "hidden_act": "gelu_pytorch_tanh" if config.gelu_approximate else "gelu",
        "layer_norm_eps": config.layer_norm_epsilon,
        "image_size": height if height == width else [height, width],
        "patch_size": config.patches[0],
        "num_channels": 3,
        "qkv_bias": True,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    return hf_config, state


def _resnet(*, flat: dict, meta: dict) -> tuple[dict, dict]:
    depths = list(get_config(meta["model"]).num_layers)
    keys = ["embedder.embedder.convolution.weight"]
    bn = ("weight", "bias", "running_mean", "running_var")
    keys += [f"embedder.embedder.normalization.{leaf}" for leaf in bn]
    for stage, depth in enumerate(depths):
        for unit in range(depth):
            prefix = f"encoder.stages.{stage}.layers.{unit}"
            parts = [f"layer.{i}" for i in range(3)] + (["shortcut"] if unit == 0 else [])
            for part in parts:
                keys.append(f"{prefix}.{part}.convolution.weight")
                keys += [f"{prefix}.{part}.normalization.{leaf}" for leaf in bn]
    state = {}
    for key in keys:
        module, leaf = torch_resnet.module_and_leaf(key, table=torch_resnet.HUGGING_FACE_NAMES)
        if leaf == "weight" and not module.split("/")[-1].startswith("bn"):
            state[f"resnet.{key}"] = flat[f"params/{module}/kernel"].transpose(3, 2, 0, 1)
        else:
            state[f"resnet.{key}"] = flat[torch_resnet.BATCH_NORM_TARGETS[leaf].format(module)]
        if leaf == "running_var":
            tracked = key.replace("running_var", "num_batches_tracked")
            state[f"resnet.{tracked}"] = np.zeros((), np.int64)
    state["classifier.1.weight"] = flat["params/head/kernel"].T
    state["classifier.1.bias"] = flat["params/head/bias"]
    hf_config = {
        "architectures": ["ResNetForImageClassification"],
        "model_type": "resnet",
        "num_channels": 3,
        "embedding_size": 64,
        "hidden_sizes": RESNET_WIDTHS,
        "depths": depths,
        "layer_type": "bottleneck",
        "hidden_act": "relu",
        "downsample_in_first_stage": False,
        "downsample_in_bottleneck": False,
    }
    return hf_config, state


def _image_processor(meta: dict) -> dict:
    preprocessing = meta["preprocessing"]
    if "value_range" in preprocessing:  # lo + (hi - lo) x = (x - mean) / std
        lo, hi = preprocessing["value_range"]
        mean, std = [-lo / (hi - lo)] * 3, [1 / (hi - lo)] * 3
    else:
        mean, std = preprocessing["mean"], preprocessing["std"]
    resample = {name: code for code, name in PIL_RESAMPLE.items()}
    height, width = meta["image_size"]
    processor = {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": height, "width": width},
        "resample": resample[preprocessing.get("resize_method", "bilinear")],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [float(v) for v in mean],
        "image_std": [float(v) for v in std],
    }
    if "resize_shortest_edge" not in preprocessing:
        return processor
    # Shortest-edge resize and centre crop: BitImageProcessor's steps. Hugging Face floors the
    # crop offset; a torchvision or timm checkpoint ("round") may differ by one pixel's shift.
    edge = max(height, width) * preprocessing["resize_shortest_edge"] // preprocessing["crop_size"]
    return processor | {
        "image_processor_type": "BitImageProcessor",
        "size": {"shortest_edge": edge},
        "do_center_crop": True,
        "crop_size": {"height": height, "width": width},
        "do_convert_rgb": True,
    }


def write_hf_folder(*, variables: dict, metadata: dict, output: Path, overwrite: bool) -> Path:
    """Writes the Hugging Face folder for a converted checkpoint's variables and metadata
    (staged beside `output`, renamed into place when complete)."""
    name = metadata["model"]
    if name.startswith("ViT-"):
        hf_config, state = _vit(flat=traverse_util.flatten_dict(variables, sep="/"), meta=metadata)
    elif name.startswith("ResNet-"):
        flat = traverse_util.flatten_dict(variables, sep="/")
        hf_config, state = _resnet(flat=flat, meta=metadata)
    else:
        raise ConversionError(
            f"{name} has no Hugging Face class to export to (ViT-* and ResNet-* have); "
            "export it in the vit_jax format instead"
        )
    labels = metadata.get("label_names") or [f"LABEL_{i}" for i in range(metadata["num_classes"])]
    hf_config["id2label"] = {str(i): label for i, label in enumerate(labels)}
    hf_config["label2id"] = {label: i for i, label in enumerate(labels)}
    output = Path(output).absolute()
    with staged_folder(
        output, owned=HF_FILES, kind="Hugging Face export", overwrite=overwrite
    ) as staging:
        # np.ascontiguousarray would turn the 0-d num_batches_tracked into shape (1,).
        arrays = {k: np.array(v, order="C", copy=True) for k, v in state.items()}
        safetensors.numpy.save_file(arrays, staging / "model.safetensors")
        (staging / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
        processor = json.dumps(_image_processor(metadata), indent=2) + "\n"
        (staging / "preprocessor_config.json").write_text(processor)
    return output
