"""A trained model leaves the workdir: the exports of one tiny run (shared by every test here)
load, evaluate and predict to exactly the run's own test metrics, seed a new run that keeps
their head, and the run says what it does on the console."""

import ast
import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import decompression_bomb_png
from main_cli import tiny_quickstart
from PIL import Image

from vit_jax import checkpoints, evaluate, export, predict
from vit_jax.data.digits import digits_split
from vit_jax.training import loop


def run_quietly(**kwargs) -> tuple[dict, str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        results = loop.train_and_evaluate(**kwargs)
    return results, output.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    results, output = run_quietly(config=tiny_quickstart(), workdir=workdir)
    return workdir, results, output


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory):
    """The digits test split as PNG files, one folder per class."""
    root = tmp_path_factory.mktemp("pngs")
    for i, record in enumerate(digits_split(split="test")):
        folder = root / str(record["label"])
        folder.mkdir(exist_ok=True)
        Image.fromarray(record["image"]).save(folder / f"{i}.png")
    return root


def test_the_run_talks_at_start_and_at_every_epoch(trained):
    _, _, output = trained
    label = "ViT (1 layer, hidden 16, MLP 32, heads 2, patch 4)"  # not the published ViT-Ti_16
    assert f"{label}: " in output and " parameters, from scratch" in output
    assert "data: digits (10 classes), train 1258 / validation 269 / test 270 images" in output
    assert "training: 2 epoch(s) x 9 steps = 18 steps of batch 128" in output
    assert "epoch 1/2: train loss" in output and "epoch 2/2: train loss" in output
    assert f"{label} trained from scratch: training time" in output


def test_compilation_is_timed_apart_from_the_first_epoch(trained):
    workdir, results, _ = trained
    report = json.loads((workdir / "results.json").read_text())
    assert report["compile_seconds"] == results["compile_seconds"] > 0
    assert sum(e["epoch_seconds"] for e in report["history"]) == pytest.approx(
        report["train_seconds"]
    )


def test_a_finished_run_exports_its_final_and_best_model(trained):
    workdir, results, _ = trained
    final = checkpoints.load(directory=workdir / "export" / "final")
    meta = final.metadata
    assert meta["model"] == "ViT-Ti_16" and meta["label_names"] == [str(d) for d in range(10)]
    assert meta["run"]["step"] == 18 and meta["dataset"]["name"] == "digits"
    assert meta["dataset"]["fingerprint"]
    assert meta["metrics"]["test"]["accuracy"] == results["splits"]["test"]["accuracy"]
    best = checkpoints.load(directory=workdir / "export" / "best").metadata
    best_entry = max(results["history"], key=lambda entry: entry["val_accuracy"])
    assert best["run"]["step"] == best_entry["step"]
    assert best["metrics"]["validation"]["accuracy"] == best_entry["val_accuracy"]
    report = json.loads((workdir / "results.json").read_text())
    assert "checkpoint_dir" not in report["config"]  # a scratch run used none


def test_the_export_command_writes_the_same_model(trained, tmp_path):
    workdir, _, _ = trained
    assert export.main(["--workdir", str(workdir), "--output", str(tmp_path / "e")]) == 0
    ours = checkpoints.load(directory=tmp_path / "e").variables
    auto = checkpoints.load(directory=workdir / "export" / "final").variables
    kernel = ("params", "head", "kernel")
    np.testing.assert_array_equal(
        ours[kernel[0]]["head"]["kernel"], auto["params"]["head"]["kernel"]
    )


def test_export_of_a_damaged_checkpoint_says_which_and_what_to_do(trained, tmp_path, capsys):
    workdir, _, _ = trained
    damaged = tmp_path / "run"
    shutil.copytree(workdir / "checkpoints", damaged / "checkpoints")
    final = max(int(p.name) for p in (damaged / "checkpoints").iterdir() if p.name.isdigit())
    manifest = damaged / "checkpoints" / str(final) / "state" / "manifest.ocdbt"
    manifest.write_bytes(manifest.read_bytes()[:16])
    assert export.main(["--workdir", str(damaged), "--output", str(tmp_path / "e")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"export: error: checkpoint {final} in {damaged / 'checkpoints'} ")
    assert error.rstrip().endswith(
        "export --which best, or run the training command again to repair the run"
    )
    assert len(error.splitlines()) == 1 and not (tmp_path / "e").exists()


def test_evaluate_gives_the_runs_test_metrics_exactly(trained, tmp_path, digit_pngs):
    workdir, results, _ = trained
    checkpoint = str(workdir / "export" / "final")
    args = [
        "--checkpoint",
        checkpoint,
        "--output",
        str(tmp_path / "dataset"),
        "--dataset",
        "digits",
    ]
    assert evaluate.main(args) == 0
    args = [
        "--checkpoint",
        checkpoint,
        "--output",
        str(tmp_path / "png"),
        "--images",
        str(digit_pngs),
    ]
    assert evaluate.main(args) == 0
    expected = results["splits"]["test"]
    for folder in ("dataset", "png"):
        metrics = json.loads((tmp_path / folder / "evaluation.json").read_text())["metrics"]
        assert metrics["accuracy"] == expected["accuracy"]
        assert metrics["confusion_matrix"] == expected["confusion_matrix"]
        assert (tmp_path / folder / "confusion_matrix.png").is_file()


def test_predict_on_png_files_agrees_with_the_run(trained, tmp_path, digit_pngs, capsys):
    workdir, results, _ = trained
    output = tmp_path / "predictions.jsonl"
    args = ["--checkpoint", str(workdir / "export" / "final"), str(digit_pngs), "--top_k", "3"]
    assert predict.main([*args, "--batch_size", "64", "--output", str(output)]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 270 and all(len(row["labels"]) == 3 for row in rows)
    correct = [row["labels"][0] == row["path"].split("/")[-2] for row in rows]
    assert np.mean(correct) == results["splits"]["test"]["accuracy"]
    assert f"{rows[0]['path']}: {rows[0]['labels'][0]} " in capsys.readouterr().out


def test_predict_lists_unreadable_files_and_still_predicts_the_rest(trained, tmp_path, capsys):
    workdir, _, _ = trained
    Image.fromarray(digits_split(split="test")[0]["image"]).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_text("not an image")
    decompression_bomb_png(tmp_path / "bomb.png")
    args = ["--checkpoint", str(workdir / "export" / "final"), str(tmp_path), "nothing*.png"]
    assert predict.main([*args, "--output", str(tmp_path / "p.csv")]) == 1
    captured = capsys.readouterr()
    assert "good.png: " in captured.out
    assert "predict: error: 3 input(s) could not be read" in captured.err
    assert "broken.png: UnidentifiedImageError" in captured.err and "nothing*.png" in captured.err
    assert "bomb.png: DecompressionBombError" in captured.err and "Traceback" not in captured.err
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "path,label,probability"


def test_evaluate_refuses_class_names_that_do_not_match(trained, tmp_path, capsys):
    workdir, _, _ = trained
    for label in ("0", "boot"):
        for seed in range(8):
            rng = np.random.default_rng(seed)
            image = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            (tmp_path / "images" / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp_path / "images" / label / f"{seed}.png")
    args = ["--checkpoint", str(workdir / "export" / "final"), "--output", str(tmp_path / "o")]
    assert evaluate.main([*args, "--images", str(tmp_path / "images")]) == 1
    message = capsys.readouterr().err
    assert "evaluate: error: the classes do not match" in message and "['boot']" in message


def test_evaluate_reads_image_folders_directly_and_lists_every_unreadable_file(
    trained, tmp_path, capsys, monkeypatch
):
    from vit_jax.data import prepare

    monkeypatch.setattr(prepare, "prepare", None)  # no dataset is prepared for --images
    workdir, _, _ = trained
    image = digits_split(split="test")[0]["image"]
    for label in map(str, range(10)):  # the checkpoint's classes
        (tmp_path / "images" / label).mkdir(parents=True)
        Image.fromarray(image).save(tmp_path / "images" / label / "good.png")
    for label in ("0", "1"):
        (tmp_path / "images" / label / "broken.png").write_text("not an image")
    args = ["--checkpoint", str(workdir / "export" / "final"), "--output", str(tmp_path / "o")]
    assert evaluate.main([*args, "--images", str(tmp_path / "images")]) == 1
    message = capsys.readouterr().err
    assert "evaluate: error: 2 file(s) could not be read as images" in message
    assert "0/broken.png: UnidentifiedImageError" in message and "1/broken.png" in message
    assert "Traceback" not in message and not (tmp_path / "o").exists()


def test_a_new_run_from_the_export_keeping_its_head_starts_at_its_accuracy(trained, tmp_path):
    workdir, results, _ = trained
    config = tiny_quickstart(
        mode="zeroshot",
        init="checkpoint",
        head="keep",
        checkpoint_dir=str(workdir / "export" / "final"),
    )
    new, _ = run_quietly(config=config, workdir=tmp_path / "zeroshot")
    assert new["splits"]["test"]["accuracy"] == results["splits"]["test"]["accuracy"]


def test_a_finished_run_started_again_says_so(trained):
    workdir, results, _ = trained
    again, output = run_quietly(config=tiny_quickstart(), workdir=workdir)
    assert "this run finished at step 18; nothing left to train" in output
    assert again["splits"]["test"]["accuracy"] == results["splits"]["test"]["accuracy"]


def test_the_readme_python_example_runs_as_written(trained, tmp_path, monkeypatch, capsys):
    """The front page's Python lines, exactly, against this run's export and a digit PNG."""
    workdir, _, _ = trained
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("```python\n")[1].split("```")[0]
    (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    (tmp_path / "runs" / "quickstart" / "export").symlink_to(workdir / "export")
    record = digits_split(split="test")[0]
    Image.fromarray(record["image"]).save(tmp_path / "digit.png")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    ranked = ast.literal_eval(capsys.readouterr().out.strip())
    clf = namespace["clf"]
    assert len(ranked) == 1 and len(ranked[0]) == 3
    probabilities = clf.probabilities([tmp_path / "digit.png"])[0]
    best = [clf.class_names[i] for i in np.argsort(-probabilities)[:3]]
    assert [label for label, _ in ranked[0]] == best
    assert sum(p for _, p in ranked[0]) <= 1 + 1e-6
    assert namespace["features"].shape == (1, 16)  # the tiny run's hidden size
    with pytest.raises(ValueError, match="missing.png"):
        clf.predict(["missing.png"])
