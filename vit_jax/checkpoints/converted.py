"""Converted checkpoints: Orbax save/restore, metadata, and the paper's fine-tuning adaptations.

A converted checkpoint is a directory holding `variables/` (an Orbax checkpoint of {'params':
..., 'batch_stats': ...}) and `metadata.json` (docs/ARCHITECTURE.md, contract 2). `load` is the
one way training and evaluation read it; it can replace the head and resize the position
embedding exactly as `python -m vit_jax.convert_checkpoint` does (section 3.2 of the paper)."""

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp
import scipy.ndimage

from vit_jax import models
from vit_jax.checkpoints.published import NAMED
from vit_jax.common.staged_folder import check_replaceable, staged_folder
from vit_jax.models import MODEL_NAMES, get_config

VARIABLES_DIR = "variables"
METADATA_FILE = "metadata.json"
POS_EMBEDDING = ("Transformer", "posembed_input", "pos_embedding")


@dataclasses.dataclass(frozen=True)
class LoadedCheckpoint:
    """Flax variables ({'params', optionally 'batch_stats'}) and the checkpoint's metadata."""

    variables: dict[str, Any]
    metadata: dict[str, Any]


def grid_cell(*, model: str, overrides: dict[str, Any]) -> int | None:
    """Pixels per position-embedding cell of a ViT (patch size; x16 for the R50 hybrid, whose
    stem strides 4 and whose stages after the first stride 2); None for models without one.
    `overrides` are the checkpoint's model_overrides (a patch size there wins)."""
    config = get_config(model)
    if "patches" in overrides:
        config.patches = tuple(overrides["patches"])
    if "patches" not in config:
        return None
    stride = 2 ** (len(config.resnet.num_layers) + 1) if config.resnet else 1
    return config.patches[0] * stride


def class_token_rows(overrides: dict[str, Any]) -> int:
    """Rows of the position embedding before the patch rows: 1 for the class token, 0 for a ViT
    with global average pooling (model override classifier 'gap')."""
    return 0 if overrides.get("classifier", "token") == "gap" else 1


def resize_position_embedding(
    *,
    pos_embedding: np.ndarray,
    grid: tuple[int, int],
    new_grid: tuple[int, int],
    class_rows: int = 1,
) -> np.ndarray:
    """Position embedding (1, class_rows + gh*gw, D) for a gh' x gw' patch grid (section 3.2).

    The class-token row (if any) is kept; the patch rows, laid out as a (gh, gw, D) image, are
    resized as the original vit_jax and big_vision do: scipy.ndimage.zoom with order 1 (linear)
    on the grid, which maps the corner embeddings onto the new corners (= torch interpolate(
    mode='bilinear', align_corners=True)). Fine-tuning a released checkpoint at another
    resolution therefore starts from the embedding its authors' code would give.
    """
    rows, width = pos_embedding.shape[1] - class_rows, pos_embedding.shape[2]
    if rows != grid[0] * grid[1]:
        raise ValueError(
            f"position embedding has {rows} patch rows, not a {grid[0]}x{grid[1]} grid"
        )
    if tuple(grid) == tuple(new_grid):
        return pos_embedding
    patch_grid = pos_embedding[0, class_rows:].reshape(grid[0], grid[1], width)
    patch_grid = patch_grid.astype(np.float64)
    factors = (new_grid[0] / grid[0], new_grid[1] / grid[1], 1)
    resized = scipy.ndimage.zoom(patch_grid, factors, order=1, grid_mode=False)
    resized = resized.astype(np.float32).reshape(1, -1, width)
    return np.concatenate([pos_embedding[:, :class_rows], resized], axis=1)


def replace_head(*, params: dict[str, Any], num_classes: int, in_features: int) -> dict[str, Any]:
    """`params` with the pre-trained head (and pre-logits layer) removed and a zero-initialised
    in_features x num_classes head attached (paper section 3.2)."""
    kept = {name: value for name, value in params.items() if name not in ("head", "pre_logits")}
    kept["head"] = {
        "kernel": np.zeros((in_features, num_classes), np.float32),
        "bias": np.zeros((num_classes,), np.float32),
    }
    return kept


def adapt(
    *,
    variables: dict[str, Any],
    metadata: dict[str, Any],
    num_classes: int | None,
    image_size: tuple[int, int] | None,
    head_in_features: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(variables, metadata) with a new zero head for `num_classes` (None: keep the head) and
    the position embedding resized for `image_size` (None: keep it). `head_in_features` defaults
    to the input width of the present pre-logits layer or head."""
    params, metadata = dict(variables["params"]), dict(metadata)
    if num_classes is not None:
        if head_in_features is None:
            head_in_features = params.get("pre_logits", params.get("head"))["kernel"].shape[0]
        params = replace_head(params=params, num_classes=num_classes, in_features=head_in_features)
        metadata.update(num_classes=num_classes, head_kept=False, label_names=None)
        if "representation_size" in metadata["model_overrides"]:
            metadata["model_overrides"] = {
                **metadata["model_overrides"],
                "representation_size": None,
            }
    cell = grid_cell(model=metadata["model"], overrides=metadata["model_overrides"])
    if image_size is not None and cell is not None:
        if image_size[0] % cell or image_size[1] % cell:
            raise ValueError(
                f"image size {image_size[0]}x{image_size[1]} is not divisible by the "
                f"{cell}-pixel patch grid of {metadata['model']}"
            )
        old_size = metadata["image_size"]
        transformer = dict(params["Transformer"])
        transformer["posembed_input"] = {
            "pos_embedding": resize_position_embedding(
                pos_embedding=transformer["posembed_input"]["pos_embedding"],
                grid=(old_size[0] // cell, old_size[1] // cell),
                new_grid=(image_size[0] // cell, image_size[1] // cell),
                class_rows=class_token_rows(metadata["model_overrides"]),
            )
        }
        params["Transformer"] = transformer
    if image_size is not None:
        metadata["image_size"] = [int(image_size[0]), int(image_size[1])]
    return {**variables, "params": params}, metadata


# What a converted checkpoint folder holds: a folder with anything else is not replaced.
OWNED = frozenset({METADATA_FILE, VARIABLES_DIR})
KIND = "converted checkpoint"


def check_output_directory(*, directory: Path, overwrite: bool) -> None:
    """Raises FileExistsError unless `directory` is absent, empty, or (with `overwrite`) a
    converted checkpoint and nothing else. Other existing content is never replaced."""
    check_replaceable(Path(directory), owned=OWNED, kind=KIND, overwrite=overwrite)


def hand_over_to_jax(tree: dict[str, Any]) -> dict[str, Any]:
    """The same tree of jax.Arrays, emptying `tree` leaf by leaf so that each numpy array is
    freed once copied (when nothing else holds it). Orbax copies numpy arrays before writing
    them but not jax.Arrays, so handing over first keeps a conversion near one copy of the
    weights in memory instead of two."""
    moved = {}
    for key in list(tree):
        value = tree.pop(key)
        moved[key] = hand_over_to_jax(value) if isinstance(value, dict) else jax.device_put(value)
    return moved


def save(
    *, directory: Path, variables: dict[str, Any], metadata: dict[str, Any], overwrite: bool
) -> None:
    """Writes the checkpoint to a staging folder beside `directory`, then renames it into place,
    so that a failure leaves no partial checkpoint at `directory`.

    Orbax writes without compression: trained weights barely compress, and compressing holds a
    second copy of every array in memory while saving.
    """
    with staged_folder(directory, owned=OWNED, kind=KIND, overwrite=overwrite) as staging:
        with ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_compression=False)) as checkpointer:
            checkpointer.save(staging / VARIABLES_DIR, args=ocp.args.PyTreeSave(variables))
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")


# Where the published weights of the study's models come from (README, "Pretrained checkpoints").
def conversion_command(*, directory: Path, model: str | None = None) -> str:
    """The command that downloads and converts a checkpoint for `model` into `directory`."""
    if model is None:
        name = directory.name.lower()
        spelled = {m: (m.lower(), m.lower().replace("_", "-")) for m in MODEL_NAMES}
        matches = [m for m, forms in spelled.items() if any(form in name for form in forms)]
        model = max(matches, key=len) if matches else None
    names = [n for n, e in NAMED.items() if e.model == model and e.source.startswith("hf://")]
    if names:
        return (
            f"python -m vit_jax.convert_checkpoint --input {names[0]} --output {directory} "
            f"(or give the name itself: checkpoint_dir={names[0]})"
        )
    model = model or "<one of " + ", ".join(MODEL_NAMES) + ">"
    return (
        "python -m vit_jax.convert_checkpoint --input <checkpoint name, hf://ORG/NAME, URL, or "
        f"downloaded file or folder> --model {model} --output {directory} --num_classes <N> (or "
        "--keep_head); README.md lists the checkpoint names"
    )


def create_model(*, metadata: dict, **overrides: Any) -> nn.Module:
    """The model of a converted checkpoint's metadata (its model, classes and model_overrides),
    with `overrides` (e.g. dtype) on top: the one place a model is rebuilt from a checkpoint."""
    fields = {**metadata["model_overrides"], **overrides}
    return models.create_model(metadata["model"], num_classes=metadata["num_classes"], **fields)


def check_present(*, directory: Path | str, model: str | None = None) -> None:
    """FileNotFoundError, with the commands that create it, when `directory` holds no converted
    checkpoint."""
    directory = Path(directory).absolute()
    if not (directory / METADATA_FILE).is_file():
        raise FileNotFoundError(
            f"no converted checkpoint at {directory}; create it with:\n  "
            + conversion_command(directory=directory, model=model)
        )


def read_metadata(path: Path) -> dict[str, Any]:
    """A converted checkpoint's metadata.json, checked before anything is built from it: a
    ValueError names the file and the field at fault (contract 2)."""
    fix = "convert the checkpoint again (python -m vit_jax.convert_checkpoint)"
    try:
        metadata = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); {fix}") from error
    if not isinstance(metadata, dict):
        raise ValueError(f"{path} does not hold a JSON object; {fix}")

    def fault(field: str, wanted: str) -> ValueError:
        return ValueError(f"{path}: {field}={metadata.get(field)!r} must be {wanted}; {fix}")

    if metadata.get("model") not in MODEL_NAMES:
        raise fault("model", "a model name (" + ", ".join(MODEL_NAMES) + ")")
    classes = metadata.get("num_classes")
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise fault("num_classes", "a positive integer")
    size = metadata.get("image_size")
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise fault("image_size", "two positive integers [height, width]")
    for field in ("preprocessing", "model_overrides"):
        if not isinstance(metadata.get(field), dict):
            raise fault(field, "a JSON object")
    names = metadata.get("label_names")
    if names is not None and not (
        isinstance(names, list)
        and len(names) == classes
        and all(isinstance(name, str) for name in names)
    ):
        raise fault("label_names", f"null or {classes} strings (one per class of the head)")
    return metadata


def restore(*, directory: Path) -> LoadedCheckpoint:
    """The variables and metadata exactly as converted (numpy arrays, bit for bit)."""
    directory = Path(directory).absolute()
    check_present(directory=directory)
    metadata = read_metadata(directory / METADATA_FILE)
    with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as checkpointer, warnings.catch_warnings():
        # Orbax warns that it reads the shardings from the file: that is what it should do.
        warnings.filterwarnings("ignore", message="Sharding info not provided when restoring")
        variables = checkpointer.restore(directory / VARIABLES_DIR)
    return LoadedCheckpoint(variables=variables, metadata=metadata)


def load(
    *,
    directory: Path | str,
    num_classes: int | None = None,
    image_size: tuple[int, int] | None = None,
) -> LoadedCheckpoint:
    """A converted checkpoint ready for `create_model(meta["model"], num_classes=...,
    **meta["model_overrides"])`: num_classes None keeps the head, otherwise a zero-initialised
    head (pre-logits dropped); image_size resizes the position embedding (class row kept)."""
    loaded = restore(directory=Path(directory))
    if num_classes is None and image_size is None:
        return loaded
    variables, metadata = adapt(
        variables=loaded.variables,
        metadata=loaded.metadata,
        num_classes=num_classes,
        image_size=image_size,
    )
    return LoadedCheckpoint(variables=variables, metadata=metadata)
