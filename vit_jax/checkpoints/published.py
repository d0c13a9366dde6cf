"""The published checkpoints by name: where each lives (a fact of its publisher: the original
vit_jax and BiT buckets, the Hugging Face hub), its model and whether its head is kept. named.py
downloads and converts them; converted.py names them in the command that fixes a missing
checkpoint.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class NamedCheckpoint:
    source: str  # hf://ORG/NAME, https://... or gs://...
    model: str  # a vit_jax.models.MODEL_NAMES name
    keep_head: bool  # False: the head is all zeros (ImageNet-21k releases) and is replaced
    about: str
    sha256: str | None = None
    size: int | None = None


_BUCKET = "gs://vit_models"
_AUGREG = f"{_BUCKET}/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0"
NAMED: dict[str, NamedCheckpoint] = {
    "vit-b16-in21k": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k/ViT-B_16.npz",
        "ViT-B_16",
        False,
        "ViT-B/16 pre-trained on ImageNet-21k (original .npz, with pre-logits), 224x224",
    ),
    "vit-b16-in21k-in1k-384": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k+imagenet2012/ViT-B_16.npz",
        "ViT-B_16",
        True,
        "ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 384x384 (original .npz)",
    ),
    "vit-b16-in21k-in1k": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k+imagenet2012/ViT-B_16-224.npz",
        "ViT-B_16",
        True,
        "ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 224x224 (original .npz)",
    ),
    "vit-b16-in1k": NamedCheckpoint(
        "hf://google/vit-base-patch16-224",
        "ViT-B_16",
        True,
        "ViT-B/16 with its ImageNet-1k head, Hugging Face (the study's ViT)",
    ),
    "resnet50-in1k": NamedCheckpoint(
        "hf://microsoft/resnet-50",
        "ResNet-50",
        True,
        "ResNet-50 with its ImageNet-1k head, Hugging Face (the study's ResNet-50)",
    ),
    "resnet152-in1k": NamedCheckpoint(
        "hf://microsoft/resnet-152",
        "ResNet-152",
        True,
        "ResNet-152 with its ImageNet-1k head, Hugging Face (the study's ResNet-152)",
    ),
    "bit-m-r50x1": NamedCheckpoint(
        "https://storage.googleapis.com/bit_models/BiT-M-R50x1.npz",
        "BiT-R50x1",
        False,
        "BiT-M ResNet-50x1 pre-trained on ImageNet-21k (the paper's BiT baseline)",
    ),
    # AugReg ("How to train your ViT", Steiner et al. 2021): the ViT-B/16 the original project
    # recommends, as its .npz files (straight resize to [-1, 1]) and as timm publishes them on
    # the hub (timm's evaluation: shorter edge to 248, bicubic, centre crop 224).
    "vit-b16-augreg-in21k": NamedCheckpoint(
        f"{_AUGREG}.npz",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16 pre-trained on ImageNet-21k, its 21,843-class head (original .npz)",
    ),
    "vit-b16-augreg-in21k-in1k": NamedCheckpoint(
        f"{_AUGREG}--imagenet2012-steps_20k-lr_0.01-res_224.npz",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 224x224 (original .npz)",
    ),
    "vit-b16-augreg-in21k-in1k-384": NamedCheckpoint(
        f"{_AUGREG}--imagenet2012-steps_20k-lr_0.01-res_384.npz",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 384x384 (original .npz)",
    ),
    "vit-b16-augreg-in21k-timm": NamedCheckpoint(
        "hf://timm/vit_base_patch16_224.augreg_in21k",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16 pre-trained on ImageNet-21k, timm's hub folder and preprocessing",
    ),
    "vit-b16-augreg-in21k-in1k-timm": NamedCheckpoint(
        "hf://timm/vit_base_patch16_224.augreg_in21k_ft_in1k",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then ImageNet-1k at 224x224, timm's hub folder",
    ),
    "vit-b16-augreg-in21k-in1k-384-timm": NamedCheckpoint(
        "hf://timm/vit_base_patch16_384.augreg_in21k_ft_in1k",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then ImageNet-1k at 384x384, timm's hub folder",
    ),
    "r50-vit-b16-in21k": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k/R50+ViT-B_16.npz",
        "R50+ViT-B_16",
        False,
        "the R50+ViT-B/16 hybrid pre-trained on ImageNet-21k (original .npz)",
    ),
}
