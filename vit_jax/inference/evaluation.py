"""A converted checkpoint evaluated on a prepared dataset's split, or on a folder with one
sub-folder per class (prepared for evaluation only, in a temporary folder): accuracy, macro F1,
per-class scores, confusion matrix and loss, as a run's results.json reports them. Classes are
matched by name, ignoring case; a class on one side only is refused by name."""

import json
import tempfile
from pathlib import Path

import numpy as np

from vit_jax.common import files
from vit_jax.common.json_values import to_json_compatible
from vit_jax.data import input_pipeline
from vit_jax.data.prepare import prepare
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
        with tempfile.TemporaryDirectory() as scratch:
            prepare(
                dataset="image_folder",
                source_dir=images,
                data_dir=scratch,
                name="evaluation",
                evaluation_only=True,
            )
            return evaluate(
                predictor=predictor, dataset="image_folder:evaluation", data_dir=scratch
            )
    info = input_pipeline.get_info(dataset=dataset, data_dir=data_dir)
    to_label = np.array(
        class_order(dataset_names=list(info.class_names), model_names=predictor.class_names)
    )
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
    labels, predictions, losses = [], [], []
    for batch in loader:
        probabilities = np.asarray(predictor.run(batch["image"]))
        real = batch["mask"] > 0
        label = batch["label"][real]
        probabilities = probabilities[real][:, np.argsort(to_label)]  # columns in label order
        labels.append(label)
        predictions.append(probabilities.argmax(axis=1))
        chosen = probabilities[np.arange(len(label)), label]
        losses.append(-np.log(np.maximum(chosen, np.finfo(np.float32).tiny)))
    metrics = classification_metrics(
        labels=np.concatenate(labels),
        predictions=np.concatenate(predictions),
        class_names=list(info.class_names),
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
