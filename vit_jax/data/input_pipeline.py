"""Dataset info and grain loaders (docs/ARCHITECTURE.md, contract 3).

Datasets: 'digits' (embedded, vit_jax.data.digits), 'shoe_sandal_boot' and
'image_folder:<name>' (TFDS array_record files prepared by `python -m vit_jax.prepare_data`,
read with `tfds.data_source`). Loaders are `grain.DataLoader`s over this JAX process's shard:
training shuffles with `seed`, reshuffling every epoch, and drops the remainder; evaluation
reads every example exactly once in order, padding the data to a whole number of global
batches with records of mask 0 so that every process gets the same number of batches.
"""

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import grain
import jax
import numpy as np
import tensorflow_datasets as tfds
from absl import flags

from vit_jax.data.digits import CLASS_NAMES as DIGITS_CLASS_NAMES
from vit_jax.data.digits import digits_split
from vit_jax.data.preprocessing import (
    Normalisation,
    decode_rgb,
    inception_crop_box,
    model_pixels,
    normalise,
    parse_preprocessing,
    resize,
)
from vit_jax.data.split_report import read_report
from vit_jax.data.splits import SPLITS

PADDING_IMAGE = np.zeros((1, 1, 3), np.uint8)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    num_classes: int
    class_names: tuple[str, ...]
    split_sizes: dict[str, int]


def get_info(*, dataset: str, data_dir: str | None) -> DatasetInfo:
    """Number of classes, class names (label order) and the size of every split."""
    if dataset == "digits":
        sizes = {split: len(digits_split(split=split)) for split in SPLITS}
        return DatasetInfo(len(DIGITS_CLASS_NAMES), DIGITS_CLASS_NAMES, sizes)
    info = tfds.builder(_tfds_name(dataset, data_dir), data_dir=data_dir).info
    names = tuple(info.features["label"].names)
    sizes = {
        split: info.splits[split].num_examples if split in info.splits else 0 for split in SPLITS
    }
    return DatasetInfo(len(names), names, sizes)


@dataclasses.dataclass(frozen=True)
class Preprocess(grain.transforms.RandomMap):
    """Record {image, label, mask} -> {image float32 (H, W, 3), label int32, mask float32}; with
    `pixels` the image stays uint8 (resized and augmented), for normalise_on_device."""

    image_size: tuple[int, int]
    normalisation: Normalisation
    augment: bool = False
    pixels: bool = False

    def random_map(self, record: dict, rng: np.random.Generator) -> dict:
        image = decode_rgb(image=record["image"])
        if self.augment:
            width, height = image.size
            box = inception_crop_box(width=width, height=height, rng=rng)
            method = self.normalisation.resize_method
            pixels = resize(image=image, size=self.image_size, method=method, box=box)
            if rng.random() < 0.5:
                pixels = pixels[:, ::-1]
        else:
            pixels = model_pixels(
                image=image, size=self.image_size, normalisation=self.normalisation
            )
        return {
            "image": np.ascontiguousarray(pixels)
            if self.pixels
            else normalise(pixels=pixels, normalisation=self.normalisation),
            "label": np.int32(record["label"]),
            "mask": np.float32(record["mask"]),
        }


def create_loader(
    *,
    dataset: str,
    data_dir: str | None,
    split: str,
    batch_size: int,
    image_size: tuple[int, int],
    preprocessing: dict,
    train: bool,
    seed: int,
    num_epochs: int | None = 1,
    augment: bool = False,
    worker_count: int = 0,
    pixels: bool = False,
) -> grain.DataLoader:
    """Batches {image (b, H, W, 3) float32, label (b,) int32, mask (b,) float32} of this process;
    with `pixels` the images are uint8, to be normalised on the device
    (vit_jax.data.preprocessing.normalise_on_device).

    `batch_size` is global: each of the jax.process_count() processes gets batch_size / count.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid: {SPLITS}.")
    if not train and (augment or num_epochs != 1):
        raise ValueError("Evaluation (train=False) reads one epoch without augmentation.")
    if batch_size % jax.process_count():
        raise ValueError(
            f"batch_size {batch_size} is not divisible by {jax.process_count()} hosts."
        )
    source = _split_source(dataset=dataset, data_dir=data_dir, split=split)
    local_batch_size = batch_size // jax.process_count()
    if train and len(source) < batch_size:
        raise ValueError(f"{dataset} {split} has {len(source)} examples < batch_size {batch_size}.")
    # Evaluation: pad to whole global batches, so the shards split evenly into whole batches.
    length = len(source) if train else math.ceil(len(source) / batch_size) * batch_size
    shard_options = grain.sharding.ShardByJaxProcess(drop_remainder=True)
    sampler = grain.samplers.IndexSampler(
        num_records=length,
        shard_options=shard_options,
        shuffle=train,
        num_epochs=num_epochs,
        seed=seed,
    )
    operations = [
        Preprocess(
            tuple(image_size), parse_preprocessing(preprocessing=preprocessing), augment, pixels
        ),
        grain.transforms.Batch(batch_size=local_batch_size, drop_remainder=True),
    ]
    if worker_count and not flags.FLAGS.is_parsed():
        # grain 0.2.18 reads an absl flag when it starts workers, which fails unless absl flags
        # were parsed (google/grain#1355); outside absl.app, take the defaults.
        flags.FLAGS.mark_as_parsed()
    return grain.DataLoader(
        data_source=PaddedSource(source, length, f"{dataset}/{split}"),
        sampler=sampler,
        operations=operations,
        worker_count=worker_count,
        shard_options=shard_options,
    )


@dataclasses.dataclass(frozen=True)
class PaddedSource:
    """The records of `source` with mask 1, followed by padding records (mask 0) up to `length`.

    grain records `repr(data_source)` in every iterator state (read after each batch by
    vit_jax.training.prefetch) and compares it on restore, so the repr names the dataset split
    and its sizes, never the records: it costs the same for an in-memory source as for files.
    The content itself is checked on resume by the dataset fingerprint (training.progress).
    """

    source: Sequence[dict]
    length: int
    name: str

    def __repr__(self) -> str:
        return f"PaddedSource({self.name}, records={len(self.source)}, length={self.length})"

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if index < len(self.source):
            record = self.source[index]
            return {"image": record["image"], "label": record["label"], "mask": 1.0}
        return {"image": PADDING_IMAGE, "label": 0, "mask": 0.0}


EARLIER_SOURCE_REPR = "PaddedSource(source="  # before the repr named the split, not its records


def adopt_earlier_state(state: bytes, *, current: bytes) -> bytes:
    """A loader state saved when PaddedSource's repr still printed its records, with the data
    source named as `current` (a state of the same loader) names it, so that a run started then
    resumes; any other state is returned unchanged. Safe because a resumed run's data content
    is compared separately (training.progress.check_same_data)."""
    saved, now = json.loads(state), json.loads(current)
    source = saved.get("data_source")
    if not isinstance(source, str) or not source.startswith(EARLIER_SOURCE_REPR):
        return state
    return json.dumps({**saved, "data_source": now["data_source"]}, indent=4).encode()


def fingerprint(*, dataset: str, data_dir: str | None) -> str:
    """SHA-256 naming the content of a dataset: equal exactly when the same images (bytes,
    labels, splits) are read. For prepared datasets it is the one recorded at preparation
    (split_report.json); preparations without one hash their record files."""
    sha = hashlib.sha256()
    if dataset == "digits":
        for split in SPLITS:
            for record in digits_split(split=split):
                sha.update(split.encode() + bytes([record["label"]]) + record["image"].tobytes())
        return sha.hexdigest()
    prepared = Path(data_dir, _tfds_name(dataset, data_dir))
    folder = sorted(prepared.glob("*/dataset_info.json"))[-1].parent
    recorded = read_report(directory=folder).get("content_fingerprint")
    if recorded:
        return recorded
    for path in sorted(folder.glob("*.array_record*")):
        with open(path, "rb") as file:
            sha.update(hashlib.file_digest(file, "sha256").digest())
    return sha.hexdigest()


def prepare_command(*, dataset: str, data_dir: str | None) -> str:
    """The `python -m vit_jax.prepare_data` command that prepares `dataset` in `data_dir`."""
    kind, _, name = dataset.partition(":")
    if kind == "shoe_sandal_boot":
        arguments = "--dataset shoe_sandal_boot --source_dir <unzipped Kaggle download>"
    else:
        arguments = f"--dataset image_folder --name {name} --source_dir <one sub-folder per class>"
    return f"python -m vit_jax.prepare_data {arguments} --data_dir {data_dir or '<data_dir>'}"


def _tfds_name(dataset: str, data_dir: str | None) -> str:
    """TFDS name of a prepared dataset; FileNotFoundError with the prepare command if absent."""
    if dataset == "shoe_sandal_boot":
        name = dataset
    elif dataset.startswith("image_folder:") and dataset != "image_folder:":
        name = "image_folder/" + dataset.partition(":")[2]
    else:
        raise ValueError(
            f"Unknown dataset {dataset!r}; valid: 'digits', 'shoe_sandal_boot', "
            "'image_folder:<name>'."
        )
    if data_dir is None or not list(Path(data_dir, name).glob("*/dataset_info.json")):
        raise FileNotFoundError(
            f"Dataset {dataset!r} is not prepared in data_dir={data_dir}. Prepare it with:\n"
            f"  {prepare_command(dataset=dataset, data_dir=data_dir)}"
        )
    _check_prepared(
        sorted(Path(data_dir, name).glob("*/dataset_info.json"))[-1],
        fix=prepare_command(dataset=dataset, data_dir=data_dir) + " --overwrite",
    )
    return name


def _check_prepared(info_path: Path, *, fix: str) -> None:
    """The prepared files TFDS and grain will read: dataset_info.json parses and every shard it
    lists is there; otherwise one ValueError naming the file and the command that remakes it."""
    try:
        info = json.loads(info_path.read_text())
        splits = {s["name"]: len(s.get("shardLengths", [])) for s in info["splits"]}
        template = info["name"] + "-{split}." + info.get("fileFormat", "array_record")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{info_path} is damaged ({type(error).__name__}: {error}); prepare the dataset "
            f"again: {fix}"
        ) from error
    for split, shards in splits.items():
        for index in range(shards):
            shard = info_path.parent / f"{template.format(split=split)}-{index:05d}-of-{shards:05d}"
            if not shard.is_file():
                raise FileNotFoundError(
                    f"{shard} is missing from the prepared dataset; prepare it again: {fix}"
                )


def _split_source(*, dataset: str, data_dir: str | None, split: str) -> Sequence[dict]:
    if not get_info(dataset=dataset, data_dir=data_dir).split_sizes[split]:
        raise ValueError(f"Split {split!r} of dataset {dataset!r} has no examples.")
    if dataset == "digits":
        return digits_split(split=split)
    return tfds.data_source(
        _tfds_name(dataset, data_dir),
        split=split,
        data_dir=data_dir,
        download=False,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
