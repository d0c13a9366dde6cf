"""The PyTorch side of vit_jax.benchmark: the same architectures as Hugging Face transformers
models (ViTForImageClassification, ResNetForImageClassification), randomly initialised, and their
inference and training steps.

Training is forward, cross-entropy, backward and one torch.optim.AdamW step (lr 1e-3, betas
0.9/0.999, eps 1e-8, weight decay 0.01: torch's defaults, which the JAX side uses too). bfloat16
runs under torch.autocast with float32 parameters, as the JAX models keep float32 parameters and
compute in bfloat16. With `compiled`, the model's forward runs through torch.compile (inductor;
the backward is compiled with it), as a user tuning for a GPU would run it; the optimizer step stays
eager.

Steps only queue their work, as JAX's do; `synchronize` waits for it (CUDA), so neither framework
pays a host round trip per step. On CUDA, float32 matrix products run as TensorFloat-32
(`float32_matmul_precision`), which is JAX's default for float32 on Ampere and later GPUs
(PyTorch's own default is full float32 for matmuls, TF32 for cuDNN convolutions already): the
float32 cases compare the same arithmetic.
"""

import contextlib
import os
from collections.abc import Callable

import numpy as np
import torch
import transformers

from vit_jax import models


def hf_config(
    *, name: str, num_classes: int, image_size: tuple[int, int]
) -> transformers.PretrainedConfig | None:
    """The Hugging Face config of the same architecture as vit_jax model `name`, or None when
    transformers has no equivalent (hybrid ViT, BiT)."""
    config = models.architecture(name)
    if name.startswith("ViT-"):
        return _vit_config(config=config, num_classes=num_classes, image_size=image_size)
    if name.startswith("ResNet-"):
        return transformers.ResNetConfig(
            depths=list(config["num_layers"]),
            hidden_sizes=[256, 512, 1024, 2048],
            embedding_size=64,
            layer_type="bottleneck",
            hidden_act="relu",
            downsample_in_bottleneck=False,
            num_labels=num_classes,
        )
    return None


def _vit_config(
    *, config: dict, num_classes: int, image_size: tuple[int, int]
) -> transformers.ViTConfig:
    if config["patches"][0] != config["patches"][1] or image_size[0] != image_size[1]:
        raise ValueError(
            f"Hugging Face ViT needs square patches and images; got patches {config['patches']}, "
            f"image_size {image_size}"
        )
    return transformers.ViTConfig(
        hidden_size=config["hidden_size"],
        num_hidden_layers=config["num_layers"],
        num_attention_heads=config["num_heads"],
        intermediate_size=config["mlp_dim"],
        hidden_act="gelu_pytorch_tanh" if config["gelu_approximate"] else "gelu",
        layer_norm_eps=config["layer_norm_epsilon"],
        hidden_dropout_prob=config["dropout_rate"],
        attention_probs_dropout_prob=config["attention_dropout_rate"],
        image_size=image_size[0],
        patch_size=config["patches"][0],
        qkv_bias=True,
        num_labels=num_classes,
    )


def create_model(
    *, name: str, num_classes: int, image_size: tuple[int, int], device: str
) -> torch.nn.Module | None:
    """A randomly initialised HF model of architecture `name` on `device` (None: no equivalent)."""
    config = hf_config(name=name, num_classes=num_classes, image_size=image_size)
    if config is None:
        return None
    if isinstance(config, transformers.ViTConfig):
        model = transformers.ViTForImageClassification(config)
    else:
        model = transformers.ResNetForImageClassification(config)
    return model.to(device)


def _precision(*, dtype: str, device: str) -> contextlib.AbstractContextManager:
    if dtype == "bfloat16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _forward(model: torch.nn.Module, *, compiled: bool) -> Callable:
    return torch.compile(model) if compiled else model


def make_infer(
    *, model: torch.nn.Module, images: np.ndarray, dtype: str, device: str, compiled: bool = False
) -> Callable[[], None]:
    """A callable running one inference batch (eval mode, no autograd)."""
    model.eval()
    forward = _forward(model, compiled=compiled)
    pixels = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)

    def infer() -> None:
        with torch.inference_mode(), _precision(dtype=dtype, device=device):
            forward(pixel_values=pixels)

    return infer


def make_train(
    *,
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    adamw: dict[str, float],
    dtype: str,
    device: str,
    compiled: bool = False,
) -> Callable[[], None]:
    """A callable running one training step: forward, loss, backward, AdamW update with `adamw`
    (learning_rate, b1, b2, eps, weight_decay: vit_jax.bench.cases.ADAMW)."""
    model.train()
    forward = _forward(model, compiled=compiled)
    pixels = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)
    targets = torch.from_numpy(labels.astype(np.int64)).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=adamw["learning_rate"],
        betas=(adamw["b1"], adamw["b2"]),
        eps=adamw["eps"],
        weight_decay=adamw["weight_decay"],
    )

    def train() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _precision(dtype=dtype, device=device):
            logits = forward(pixel_values=pixels).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        loss.backward()
        optimizer.step()

    return train


def make_matmul(*, size: int, dtype: str, device: str) -> Callable[[], None]:
    """A callable multiplying two size x size matrices (torch's matmul peak, for reference)."""
    torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=torch_dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=torch_dtype)

    def matmul() -> None:
        torch.matmul(a, b)

    return matmul


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def prepare(*, device: str) -> str:
    """One thread per available core and, on CUDA, float32 matrix products at JAX's precision
    (TensorFloat-32); returns the settings in words, for the benchmark's first line."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    if device == "cuda":
        torch.set_float32_matmul_precision("high")
    return (
        f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads, float32 "
        f"matmul precision {torch.get_float32_matmul_precision()!r}"
    )


def synchronize(*, device: str) -> Callable[[], None]:
    """A Timer's `wait` for steps on `device`: until the queued work is done (CPU steps are
    synchronous: torch.cpu.synchronize returns at once)."""
    return torch.cuda.synchronize if device == "cuda" else torch.cpu.synchronize


def release_memory(*, device: str) -> None:
    """Returns PyTorch's cached device memory, so that the next case's JAX run can use it."""
    if device == "cuda":
        torch.cuda.empty_cache()
