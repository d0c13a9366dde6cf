import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vit_jax.common import files
from vit_jax.reporting.metrics import classification_metrics
from vit_jax.reporting.plots import plot_validation_curves
from vit_jax.reporting.run_report import write_run_report
from vit_jax.reporting.study_report import STUDY_RESULTS, write_study_report

CLASS_NAMES = ["boot", "sandal", "shoe"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _split_metrics(seed: int, *, loss: float) -> dict:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=60)
    predictions = np.where(rng.random(60) < 0.8, labels, rng.integers(0, 3, size=60))
    metrics = classification_metrics(
        labels=labels, predictions=predictions, class_names=CLASS_NAMES
    )
    return {**metrics, "loss": loss}


def _results(*, epochs: int, seed: int) -> dict:
    history = [
        {
            "epoch": epoch,
            "step": 100 * epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": 0.8 / epoch + 0.01 * seed,
            "val_accuracy": 0.5 + 0.1 * epoch + 0.01 * seed,
            "val_f1_macro": 0.45 + 0.1 * epoch,
            "learning_rate": 1e-5,
            "images_per_second": 40.0 + epoch,
            "epoch_seconds": 30.0 + 5 * epoch + seed,
        }
        for epoch in range(1, epochs + 1)
    ]
    return {
        "splits": {
            "validation": _split_metrics(seed, loss=0.41),
            "test": _split_metrics(seed + 1, loss=0.37),
        },
        "history": history,
        "train_seconds": sum(e["epoch_seconds"] for e in history),
    }


CONFIG = {"batch_size": 16, "learning_rate": 1e-5, "image_size": (224, 224)}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    written = write_run_report(
        workdir=workdir,
        config=CONFIG,
        model="ViT-B_16",
        mode="finetune",
        results=_results(epochs=3, seed=0),
    )
    return workdir, written


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    """Cells of the rows of the first table after the line starting with `heading`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
        elif table:
            break
    return table[2:]


TAB_BLUE, TAB_ORANGE = (31, 119, 180), (255, 127, 14)  # matplotlib's first two line colours


def _assert_png_with_content(path, *, min_width: int = 500, colours=(TAB_BLUE,)):
    """A PNG of at least min_width x 300 pixels, not blank, with >= 300 pixels of each data colour
    (the curves or bars themselves, not only axes and labels)."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape[1] >= min_width and image.shape[0] >= 300
    non_white = (image < 200).any(axis=-1).mean()
    assert 0.01 < non_white < 0.6
    for colour in colours:
        assert (np.abs(image - colour).max(axis=-1) < 8).sum() >= 300, colour


def test_run_report_files_are_written_and_json_round_trips(run_dir):
    workdir, written = run_dir
    assert sorted(p.name for p in written) == sorted(
        ["results.json", "results.md", "confusion_matrix.png", "val_curves.png", "runtime.png"]
    )
    report = json.loads((workdir / "results.json").read_text())
    results = _results(epochs=3, seed=0)
    assert report["model"] == "ViT-B_16" and report["mode"] == "finetune"
    assert report["config"] == {**CONFIG, "image_size": [224, 224]}
    assert report["splits"] == results["splits"]
    assert report["history"] == results["history"]
    assert report["train_seconds"] == results["train_seconds"]


def test_results_md_numbers_match_results_json(run_dir):
    workdir, _ = run_dir
    report = json.loads((workdir / "results.json").read_text())
    markdown = (workdir / "results.md").read_text()
    rows = {row[0]: row for row in _table_rows(markdown, "## Metrics")}
    assert set(rows) == {"validation", "test"}
    for split, metrics in report["splits"].items():
        examples, loss, accuracy, f1 = rows[split][1:]
        assert int(examples) == 60
        assert float(loss) == pytest.approx(metrics["loss"], abs=5e-5)
        assert float(accuracy) == pytest.approx(100 * metrics["accuracy"], abs=5e-3)
        assert float(f1) == pytest.approx(100 * metrics["f1_macro"], abs=5e-3)
        per_class = _table_rows(markdown, f"## Per-class scores ({split})")
        for name, precision, recall, class_f1, support in per_class:
            expected = metrics["per_class"][name]
            assert float(precision) == pytest.approx(100 * expected["precision"], abs=5e-3)
            assert float(recall) == pytest.approx(100 * expected["recall"], abs=5e-3)
            assert float(class_f1) == pytest.approx(100 * expected["f1"], abs=5e-3)
            assert int(support) == expected["support"]
        matrix = _table_rows(markdown, f"## Confusion matrix ({split}")
        assert [[int(v) for v in row[1:]] for row in matrix] == metrics["confusion_matrix"]
    history = _table_rows(markdown, "## Training history")
    assert len(history) == 3
    for row, entry in zip(history, report["history"], strict=True):
        assert int(row[0]) == entry["epoch"]
        assert float(row[3]) == pytest.approx(entry["val_loss"], abs=5e-5)
        assert float(row[4]) == pytest.approx(100 * entry["val_accuracy"], abs=5e-3)
        assert float(row[8]) == pytest.approx(entry["epoch_seconds"], abs=0.05)


def test_run_plots_are_pngs_with_content(run_dir):
    workdir, _ = run_dir
    _assert_png_with_content(workdir / "val_curves.png", min_width=1000)
    _assert_png_with_content(workdir / "runtime.png")
    _assert_png_with_content(workdir / "confusion_matrix.png", min_width=300, colours=())
    markdown = (workdir / "results.md").read_text()
    for name in ("val_curves", "confusion_matrix"):
        assert f"![{name}]({name}.png)" in markdown


def test_run_curves_draw_the_training_loss_beside_the_validation_loss(tmp_path):
    history = _results(epochs=3, seed=0)["history"]
    blue = []
    for train_loss in (False, True):
        path = plot_validation_curves(
            histories={"m": history}, path=tmp_path / f"{train_loss}.png", train_loss=train_loss
        )
        image = np.asarray(Image.open(path).convert("RGB")).astype(int)
        loss_panel = image[:, : image.shape[1] // 2]
        blue.append(int((np.abs(loss_panel - TAB_BLUE).max(axis=-1) < 8).sum()))
    assert blue[1] > blue[0] * 1.3


def test_results_json_records_the_label_and_provenance(tmp_path):
    provenance = {"started": "2026-01-01T00:00:00+00:00", "git_commit": None}
    write_run_report(
        workdir=tmp_path,
        config={},
        model="ViT-Ti_16",
        mode="finetune",
        results=_results(epochs=1, seed=0),
        label="ViT (4 layers, hidden 64)",
        provenance=provenance,
    )
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["model"] == "ViT-Ti_16" and report["model_label"] == "ViT (4 layers, hidden 64)"
    assert report["provenance"] == provenance


def test_zeroshot_run_report_has_metrics_but_no_plots(tmp_path):
    results = {**_results(epochs=0, seed=3), "train_seconds": 0.0}
    written = write_run_report(
        workdir=tmp_path, config={}, model="ResNet-50", mode="zeroshot", results=results
    )
    assert [p.name for p in written] == ["results.json", "results.md", "confusion_matrix.png"]
    markdown = (tmp_path / "results.md").read_text()
    assert "No training epochs" in markdown
    test_row = {row[0]: row for row in _table_rows(markdown, "## Metrics")}["test"]
    assert float(test_row[3]) == pytest.approx(
        100 * results["splits"]["test"]["accuracy"], abs=5e-3
    )


def test_bad_run_report_input_is_named_in_the_error(tmp_path):
    results = _results(epochs=2, seed=0)
    del results["history"][1]["val_loss"]
    with pytest.raises(ValueError, match=r"history'\]\[1\] lacks the key 'val_loss'"):
        write_run_report(workdir=tmp_path, config={}, model="m", mode="finetune", results=results)
    with pytest.raises(ValueError, match="'linear_probe'"):
        write_run_report(
            workdir=tmp_path,
            config={},
            model="m",
            mode="linear_probe",
            results=_results(epochs=1, seed=0),
        )
    assert not (tmp_path / "results.json").exists()


def _study_cells(tmp_path) -> list[dict]:
    """ViT-B_16 fine-tuned and zero-shot and ResNet-50 fine-tuned exist; the other three do not.
    In the study's order: ViT-B_16, ResNet-152, ResNet-50."""
    cells = []
    for seed, (model, mode, epochs, exists) in enumerate(
        [
            ("ViT-B_16", "zeroshot", 0, True),
            ("ResNet-152", "zeroshot", 0, False),
            ("ResNet-50", "zeroshot", 0, False),
            ("ViT-B_16", "finetune", 3, True),
            ("ResNet-152", "finetune", 3, False),
            ("ResNet-50", "finetune", 3, True),
        ]
    ):
        workdir = tmp_path / f"{model}_{mode}"
        if exists:
            write_run_report(
                workdir=workdir,
                config={},
                model=model,
                mode=mode,
                results=_results(epochs=epochs, seed=seed),
            )
        cells.append({"model": model, "mode": mode, "results_path": str(workdir / "results.json")})
    return cells


def test_study_report_puts_our_numbers_beside_the_study(tmp_path):
    cells = _study_cells(tmp_path)
    written = write_study_report(workdir=tmp_path / "study", cells=cells)
    assert [p.name for p in written] == ["report.md", "figure2_validation.png", "runtime.png"]
    markdown = (tmp_path / "study" / "report.md").read_text()
    for mode, heading in (("zeroshot", "## Table 1"), ("finetune", "## Table 2")):
        rows = {row[0]: row for row in _table_rows(markdown, heading)}
        assert list(rows) == ["ViT-B_16", "ResNet-152", "ResNet-50"]
        for model, (_, acc_ours, acc_study, f1_ours, f1_study) in rows.items():
            study = STUDY_RESULTS[mode][model]
            assert (float(acc_study), float(f1_study)) == (study["accuracy"], study["f1"])
            path = tmp_path / f"{model}_{mode}" / "results.json"
            if path.exists():
                test = json.loads(path.read_text())["splits"]["test"]
                assert float(acc_ours) == pytest.approx(100 * test["accuracy"], abs=5e-3)
                assert float(f1_ours) == pytest.approx(100 * test["f1_macro"], abs=5e-3)
            else:
                assert (acc_ours, f1_ours) == ("not run", "not run")
    runtime = {row[0]: row[1] for row in _table_rows(markdown, "## Training runtime")}
    vit = json.loads((tmp_path / "ViT-B_16_finetune" / "results.json").read_text())
    assert float(runtime["ViT-B_16"]) == pytest.approx(vit["train_seconds"], abs=0.05)
    assert runtime["ResNet-152"] == "not run"
    _assert_png_with_content(
        tmp_path / "study" / "figure2_validation.png",
        min_width=1000,
        colours=(TAB_BLUE, TAB_ORANGE),
    )
    _assert_png_with_content(tmp_path / "study" / "runtime.png")


def test_study_report_without_any_runs_shows_not_run(tmp_path):
    cells = [{"model": "ViT-B_16", "mode": "finetune", "results_path": str(tmp_path / "none.json")}]
    written = write_study_report(workdir=tmp_path, cells=cells)
    assert [p.name for p in written] == ["report.md"]
    rows = _table_rows((tmp_path / "report.md").read_text(), "## Table 2")
    assert rows == [["ViT-B_16", "not run", "99.33", "not run", "99.33"]]


def test_study_report_rejects_a_results_file_of_another_run(tmp_path):
    cells = _study_cells(tmp_path)
    cells[3]["model"], cells[5]["model"] = "ResNet-50", "ViT-B_16"
    with pytest.raises(ValueError, match="holds model 'ViT-B_16' in mode 'finetune'"):
        write_study_report(workdir=tmp_path / "study", cells=cells)


def _strict_json(text: str) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"bare {token} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_metrics_are_written_as_null_and_shown_as_n_a(tmp_path):
    results = _results(epochs=1, seed=0)
    results["splits"]["test"]["loss"] = float("nan")
    results["history"][0]["val_loss"] = np.float32("inf")
    write_run_report(workdir=tmp_path, config=CONFIG, model="m", mode="finetune", results=results)
    report = _strict_json((tmp_path / "results.json").read_text())
    assert report["splits"]["test"]["loss"] is None and report["history"][0]["val_loss"] is None
    test_row = {
        row[0]: row for row in _table_rows((tmp_path / "results.md").read_text(), "## Metrics")
    }
    assert test_row["test"][2] == "n/a"


def test_a_failed_report_write_keeps_the_previous_file(tmp_path, monkeypatch):
    write_run_report(
        workdir=tmp_path,
        config=CONFIG,
        model="m",
        mode="finetune",
        results=_results(epochs=1, seed=0),
    )
    before = (tmp_path / "results.json").read_text()

    write_text = Path.write_text

    def half_then_full_disk(self, data, *args, **kwargs):
        write_text(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")  # as write(2) reports it: no file named

    monkeypatch.setattr(Path, "write_text", half_then_full_disk)
    with pytest.raises(OSError, match="No space left") as error:
        write_run_report(
            workdir=tmp_path,
            config=CONFIG,
            model="m",
            mode="finetune",
            results=_results(epochs=1, seed=5),
        )
    monkeypatch.undo()
    assert error.value.filename == str(tmp_path / "results.json")
    assert (tmp_path / "results.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_reports_get_the_umask_permissions_and_a_replacement_keeps_the_old_ones(tmp_path):
    previous = os.umask(0o022)
    try:
        path = files.write_text(tmp_path / "new.md", "a")
        assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
        path.chmod(0o640)
        files.write_text(path, "b")
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(previous)
