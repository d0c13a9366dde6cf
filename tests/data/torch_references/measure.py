"""Measures converted timm and torchvision checkpoints against timm and torchvision themselves,
from image files to logits.

Neither is a dependency of the project, so this runs in two environments:

    python tests/data/torch_references/measure.py write DIR    # a Python with timm, torchvision
    python tests/data/torch_references/measure.py compare DIR  # the project's environment

`write` makes randomly initialised models (timm vit_tiny_patch16_224 and resnet50, saved as timm
hub folders: config.json with architecture and pretrained_cfg, model.safetensors; torchvision
vit_b_16, saved as a .pth state dict) and stores each library's logits for the JPEG and PNG files
of tests/data/transforms, through its own evaluation transform. `compare` converts each with
convert_checkpoint (no --model where the folder's architecture says it), runs vit_jax.Classifier
on the same files and writes measured.json beside this script: the largest |logit difference| per
model, the largest |logit|, and the versions used.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
IMAGES = [HERE.parent / "transforms" / name for name in ("shoe.jpg", "tall.png", "wide.jpg")]
MODELS = {"vit_tiny_patch16_224": 10, "resnet50": 10}
TORCHVISION = {"vit_b_16": "ViT-B_16"}  # torchvision name -> --model
# A ViT-Ti/16 with global average pooling and no class token (big_vision's default ViT, Flax's
# tanh GELU), built in timm and saved in big_vision's .npz layout.
GAP = "vit_ti16_gap_big_vision"


def write(directory: Path) -> None:
    import numpy as np
    import safetensors.torch
    import timm
    import torch
    from PIL import Image

    torch.manual_seed(0)
    versions = {"timm": timm.__version__, "torch": torch.__version__}
    for name, classes in MODELS.items():
        model = timm.create_model(name, pretrained=False, num_classes=classes).eval()
        with torch.no_grad():  # random weights away from their initial zeros and ones
            for parameter in model.parameters():
                parameter.add_(0.1 * torch.randn_like(parameter))
            batch_norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            for norm in batch_norms:  # statistics of random images, so activations stay O(1)
                norm.reset_running_stats()
                norm.momentum = None
            if batch_norms:
                model.train()(torch.rand(16, 3, 224, 224) * 4 - 2)
                model.eval()
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        safetensors.torch.save_file(state, folder / "model.safetensors")
        cfg = dict(model.pretrained_cfg)
        config = {
            "architecture": name,
            "num_classes": classes,
            "pretrained_cfg": {
                k: v
                for k, v in cfg.items()
                if isinstance(v, str | int | float | list | tuple | None)
            },
        }
        (folder / "config.json").write_text(json.dumps(config, indent=2))
        data = timm.data.resolve_data_config(pretrained_cfg=cfg)
        transform = timm.data.create_transform(**data)
        with torch.no_grad():
            batch = torch.stack([transform(Image.open(i).convert("RGB")) for i in IMAGES])
            logits = model(batch).numpy()
        np.save(folder / "timm_logits.npy", logits)
    import torchvision

    versions["torchvision"] = torchvision.__version__
    for name in TORCHVISION:
        model = getattr(torchvision.models, name)(num_classes=10).eval()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.1 * torch.randn_like(parameter))
        (directory / name).mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), directory / name / f"{name}.pth")
        weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
        transform = weights.transforms()
        with torch.no_grad():
            batch = torch.stack([transform(Image.open(i).convert("RGB")) for i in IMAGES])
            np.save(directory / name / "torchvision_logits.npy", model(batch).numpy())
    write_gap(directory)
    (directory / "versions.json").write_text(json.dumps(versions))


def write_gap(directory: Path) -> None:
    """timm's avg-pooling ViT-Ti/16 saved as a big_vision .npz, with timm's logits for the images
    resized straight to 224 (bilinear) and scaled to [-1, 1], as big_vision evaluates."""
    import numpy as np
    import timm
    import torch
    from PIL import Image

    model = timm.models.VisionTransformer(
        img_size=224,
        patch_size=16,
        embed_dim=192,
        depth=12,
        num_heads=3,
        num_classes=10,
        global_pool="avg",
        class_token=False,
        fc_norm=False,
        act_layer="gelu_tanh",
    ).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    heads, width = 3, 192
    arrays = {
        "embedding/kernel": state["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
        "embedding/bias": state["patch_embed.proj.bias"],
        "pos_embedding": state["pos_embed"],
        "Transformer/encoder_norm/scale": state["norm.weight"],
        "Transformer/encoder_norm/bias": state["norm.bias"],
        "head/kernel": state["head.weight"].T,
        "head/bias": state["head.bias"],
    }
    for i in range(12):
        block, ours = f"blocks.{i}.", f"Transformer/encoderblock_{i}/"
        attention = ours + "MultiHeadDotProductAttention_0/"
        for part, weight, bias in zip(
            ("query", "key", "value"),
            np.split(state[block + "attn.qkv.weight"], 3),
            np.split(state[block + "attn.qkv.bias"], 3),
            strict=True,
        ):
            arrays[attention + part + "/kernel"] = weight.T.reshape(width, heads, -1)
            arrays[attention + part + "/bias"] = bias.reshape(heads, -1)
        arrays[attention + "out/kernel"] = state[block + "attn.proj.weight"].T.reshape(
            heads, -1, width
        )
        arrays[attention + "out/bias"] = state[block + "attn.proj.bias"]
        for norm, name in (("norm1", "LayerNorm_0"), ("norm2", "LayerNorm_1")):
            arrays[f"{ours}{name}/scale"] = state[f"{block}{norm}.weight"]
            arrays[f"{ours}{name}/bias"] = state[f"{block}{norm}.bias"]
        for fc, name in (("fc1", "Dense_0"), ("fc2", "Dense_1")):
            arrays[f"{ours}MlpBlock_0/{name}/kernel"] = state[f"{block}mlp.{fc}.weight"].T
            arrays[f"{ours}MlpBlock_0/{name}/bias"] = state[f"{block}mlp.{fc}.bias"]
    (directory / GAP).mkdir(parents=True, exist_ok=True)
    np.savez(directory / GAP / f"{GAP}.npz", **{f"params/{k}": v for k, v in arrays.items()})
    pixels = [
        np.asarray(Image.open(i).convert("RGB").resize((224, 224), Image.BILINEAR)) for i in IMAGES
    ]
    batch = torch.from_numpy(np.stack(pixels).astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2)
    with torch.no_grad():
        np.save(directory / GAP / "timm_logits.npy", model(batch).numpy())


def compare(directory: Path) -> None:
    import numpy as np

    from vit_jax import Classifier, convert_checkpoint

    measured = {"reference": json.loads((directory / "versions.json").read_text()), "models": {}}
    for name in MODELS:
        folder, output = directory / name, directory / f"{name}-converted"
        args = ["--input", str(folder), "--output", str(output), "--keep_head", "--overwrite"]
        assert convert_checkpoint.main(args) == 0
        ours = Classifier.load(output).logits([str(i) for i in IMAGES])
        theirs = np.load(folder / "timm_logits.npy")
        measured["models"][name] = {
            "max_abs_logit_difference": float(np.abs(ours - theirs).max()),
            "max_abs_logit": float(np.abs(theirs).max()),
            "images": [i.name for i in IMAGES],
        }
    for name, model in TORCHVISION.items():
        output = directory / f"{name}-converted"
        args = ["--input", str(directory / name / f"{name}.pth"), "--model", model]
        args += ["--output", str(output), "--keep_head", "--overwrite"]
        assert convert_checkpoint.main(args) == 0
        ours = Classifier.load(output).logits([str(i) for i in IMAGES])
        theirs = np.load(directory / name / "torchvision_logits.npy")
        measured["models"][f"torchvision {name}"] = {
            "max_abs_logit_difference": float(np.abs(ours - theirs).max()),
            "max_abs_logit": float(np.abs(theirs).max()),
            "images": [i.name for i in IMAGES],
        }
    output = directory / f"{GAP}-converted"
    args = ["--input", str(directory / GAP / f"{GAP}.npz"), "--model", "ViT-Ti_16"]
    assert (
        convert_checkpoint.main([*args, "--output", str(output), "--keep_head", "--overwrite"]) == 0
    )
    ours = Classifier.load(output).logits([str(i) for i in IMAGES])
    theirs = np.load(directory / GAP / "timm_logits.npy")
    measured["models"]["big_vision gap ViT-Ti/16 (timm avg pool)"] = {
        "max_abs_logit_difference": float(np.abs(ours - theirs).max()),
        "max_abs_logit": float(np.abs(theirs).max()),
        "images": [i.name for i in IMAGES],
    }
    (HERE / "measured.json").write_text(json.dumps(measured, indent=2) + "\n")
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    {"write": write, "compare": compare}[sys.argv[1]](Path(sys.argv[2]))
