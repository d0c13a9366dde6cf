"""Top-k predictions of a converted checkpoint for image files, as rows for the console, CSV or
JSON lines."""

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vit_jax.common import files
from vit_jax.inference import image_files
from vit_jax.inference.classifier import Classifier


def predict_files(
    *, predictor: Classifier, paths: Sequence[Path], top_k: int, progress: bool = True
) -> tuple[list[dict], list[tuple[Path, str]]]:
    """([{"path", "labels": [...], "probabilities": [...]}] in file order, unreadable files)."""
    rows, failed = [], []
    chunks = image_files.batches(
        paths, batch_size=predictor.batch_size, preprocess=predictor.preprocess
    )
    total = -(-len(paths) // predictor.batch_size)
    pending = None
    bar = tqdm(chunks, total=total, unit="batch", disable=not progress or total < 2)
    for good, inputs, bad in bar:
        failed += bad
        if pending is not None:
            rows += _rows(*pending, top_k=top_k, class_names=predictor.class_names)
        pending = (good, predictor.start(inputs)) if good else None
    if pending is not None:
        rows += _rows(*pending, top_k=top_k, class_names=predictor.class_names)
    return rows, failed


def _rows(paths: list[Path], probabilities, *, top_k: int, class_names: list[str]) -> list[dict]:
    probabilities = np.asarray(probabilities)[: len(paths)]
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    return [
        {
            "path": str(path),
            "labels": [class_names[i] for i in ranked],
            "probabilities": [float(p[i]) for i in ranked],
        }
        for path, p, ranked in zip(paths, probabilities, order, strict=True)
    ]


def console_line(row: dict) -> str:
    pairs = zip(row["labels"], row["probabilities"], strict=True)
    ranked = ", ".join(f"{label} {100 * p:.1f}%" for label, p in pairs)
    return f"{row['path']}: {ranked}"


def write_rows(*, rows: list[dict], output: Path, top_k: int) -> None:
    """CSV (path,label,probability[,label_2,probability_2,...]) or JSON lines, by suffix."""
    if output.suffix == ".jsonl":
        text = "".join(json.dumps(row) + "\n" for row in rows)
    elif output.suffix == ".csv":
        header = ["path", "label", "probability"]
        header += [f"{name}_{k}" for k in range(2, top_k + 1) for name in ("label", "probability")]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            cells = [row["path"]]
            for label, p in zip(row["labels"], row["probabilities"], strict=True):
                cells += [label, f"{p:.6f}"]
            writer.writerow(cells)
        text = buffer.getvalue()
    else:
        raise ValueError(f"--output {output} must end in .csv or .jsonl")
    files.write_text(output, text)
