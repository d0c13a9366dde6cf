"""A converted checkpoint evaluated on a prepared dataset's split, or on a folder (or zip file)
with one sub-folder per class, read directly with the predict command's image reader: accuracy,
macro F1, per-class scores, confusion matrix and loss, as a run's results.json reports them.
Classes are matched by name, ignoring case; a class on one side only is refused by name, and so
are files that are not images (all of them listed)."""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vit_jax.common import files
from vit_jax.common.json_values import to_json_compatible
from vit_jax.data import input_pipeline
from vit_jax.data.folder_scan import class_files, find_class_folders, open_source, unreadable_error
from vit_jax.inference import image_files
from vit_jax.inference.classifier import Classifier
from vit_jax.reporting.markdown import split_sections
from vit_jax.reporting.metrics import classification_metrics
from vit_jax.reporting.plots import plot_confusion_matrix


def class_order(*, dataset_names: list[str], model_names: list[str]) -> list[int]:
    """For each model class, the dataset label with the same name (ignoring case)."""
    lowered = [name.lower() for name in dataset_names]
    only_model = [n for n in model_names if n.lower() not in lowered]
    only_data = [n for n in dataset_names if n.lower() not in {m.lower() for m in model_names}]
    if only_model or only_data:
        raise ValueError(
            f"the classes do not match: the checkpoint has {only_model or 'no others'} that the "
            f"data lacks, the data has {only_data or 'no others'} that the checkpoint lacks "
            f"(checkpoint: {model_names}, data: {dataset_names})"
        )
    return [lowered.index(name.lower()) for name in model_names]


Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # images, labels, which examples are real


def _dataset_batches(
    *, predictor: Classifier, dataset: str, data_dir: str | None, split: str
) -> tuple[list[str], Iterator[Batch]]:
    """(class names, padded batches) of a prepared dataset's split."""
    info = input_pipeline.get_info(dataset=dataset, data_dir=data_dir)
    loader = input_pipeline.create_loader(
        dataset=dataset,
        data_dir=data_dir,
        split=split,
        batch_size=predictor.batch_size,
        image_size=predictor.image_size,
        preprocessing=predictor.metadata["preprocessing"],
        train=False,
        seed=0,
    )
    batches = ((b["image"], b["label"], b["mask"] > 0) for b in loader)
    return list(info.class_names), batches


def _folder_batches(*, predictor: Classifier, images: Path) -> tuple[list[str], Iterator[Batch]]:
    """(class names, padded batches) of every image in the class sub-folders of `images`,
    decoded as `predict` decodes them; unreadable files are refused together at the end."""
    root = open_source(images)
    class_names = find_class_folders(root=root)
    labelled, _ = class_files(root=root, class_folders=class_names)
    label_of = {str(path): label for path, label in labelled}

    def batches() -> Iterator[Batch]:
        unreadable = []
        for paths, inputs, bad in image_files.batches(
            [path for path, _ in labelled],
            batch_size=predictor.batch_size,
            preprocess=predictor.preprocess,
        ):
            unreadable += [(str(path), reason) for path, reason in bad]
            if paths:
                labels = np.zeros(predictor.batch_size, np.int64)
                labels[: len(paths)] = [label_of[str(path)] for path in paths]
                yield predictor.padded(inputs), labels, np.arange(len(labels)) < len(paths)
        if unreadable:
            raise unreadable_error(unreadable=unreadable, skippable=False)

    return class_names, batches()


def evaluate(
    *,
    predictor: Classifier,
    dataset: str | None = None,
    data_dir: str | None = None,
    split: str = "test",
    images: Path | None = None,
) -> dict:
    """Metrics of `predictor` on `split` of `dataset`, or on the class folders of `images`."""
    if images is not None:
        class_names, batches = _folder_batches(predictor=predictor, images=images)
    else:
        class_names, batches = _dataset_batches(
            predictor=predictor, dataset=dataset, data_dir=data_dir, split=split
        )
    to_label = np.array(class_order(dataset_names=class_names, model_names=predictor.class_names))
    labels, predictions, losses = [], [], []
    for batch, label, real in batches:
        probabilities = np.asarray(predictor.run(batch))
        label = label[real]
        probabilities = probabilities[real][:, np.argsort(to_label)]  # columns in label order
        labels.append(label)
        predictions.append(probabilities.argmax(axis=1))
        chosen = probabilities[np.arange(len(label)), label]
        losses.append(-np.log(np.maximum(chosen, np.finfo(np.float32).tiny)))
    metrics = classification_metrics(
        labels=np.concatenate(labels),
        predictions=np.concatenate(predictions),
        class_names=class_names,
    )
    return {"loss": float(np.concatenate(losses).mean()), **metrics}


def write_report(*, output: Path, metrics: dict, source: dict) -> list[Path]:
    """evaluation.json, evaluation.md and confusion_matrix.png in `output`."""
    output.mkdir(parents=True, exist_ok=True)
    record = to_json_compatible({**source, "metrics": metrics}, where="evaluation")
    json_path = files.write_text(
        output / "evaluation.json", json.dumps(record, indent=2, allow_nan=False) + "\n"
    )
    name = source.get("images") or f"{source['dataset']} ({source['split']})"
    plot = plot_confusion_matrix(
        matrix=metrics["confusion_matrix"],
        class_names=list(metrics["per_class"]),
        title=f"{source['model']} on {name}",
        path=output / "confusion_matrix.png",
    )
    parts = [
        f"# {source['model']} evaluated on {name}\n",
        f"Checkpoint: {source['checkpoint']}. Accuracy and F1 (macro) in percent.\n",
        *split_sections({source["split"]: metrics}),
        f"![confusion matrix]({plot.name})\n",
    ]
    markdown_path = files.write_text(output / "evaluation.md", "\n".join(parts))
    return [json_path, markdown_path, plot]
