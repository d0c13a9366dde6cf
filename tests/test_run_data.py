"""A run knows its data: resuming after the prepared dataset changed content (same counts) is
refused, naming the dataset; the same data resumes."""

import pytest
from main_cli import tiny_quickstart

from vit_jax.data.prepare import prepare
from vit_jax.data.splits import content_digest, split_of
from vit_jax.training import loop
from vit_jax.training.config_checks import ConfigError


class Crash(Exception):
    """Stands in for a crash after a step whose checkpoint was written."""


def _config(data_dir):
    config = tiny_quickstart(
        dataset="image_folder:shoes", data_dir=str(data_dir), num_epochs=1, eval_batch_size=4
    )
    config.checkpoint_every_steps = 1
    config.recipes.quickstart.update(batch_size=4, warmup_steps=0)
    return config


def _images(root, write_image, *, first_seed):
    for i in range(24):
        write_image(root / "ab"[i % 2] / f"{i}.jpg", seed=first_seed + i)
    return root


def _same_counts_other_images(root, write_image, *, like_source):
    """Other images with exactly the per-class split counts of `like_source`."""
    need = {}
    for path in like_source.rglob("*.jpg"):
        key = (path.parent.name, split_of(digest=content_digest(data=path.read_bytes())))
        need[key] = need.get(key, 0) + 1
    seed = 10_000
    while any(need.values()):
        seed += 1
        for label in "ab":
            path = root / label / f"{seed}.jpg"
            key = (label, split_of(digest=content_digest(data=write_image(path, seed=seed))))
            if need.get(key, 0):
                need[key] -= 1
            else:
                path.unlink()
    return root


def _crash_after_step_2(step: int) -> None:
    if step == 2:
        raise Crash


def test_resuming_on_changed_data_is_refused(tmp_path, write_image):
    data = tmp_path / "data"
    source = _images(tmp_path / "src", write_image, first_seed=0)
    _, first = prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes")
    config = _config(data)
    with pytest.raises(Crash):
        loop.train_and_evaluate(
            config=config, workdir=tmp_path / "run", on_step=_crash_after_step_2
        )

    other = _same_counts_other_images(tmp_path / "other", write_image, like_source=source)
    _, second = prepare(
        dataset="image_folder", source_dir=other, data_dir=data, name="shoes", overwrite=True
    )
    assert second["split_counts"] == first["split_counts"]
    with pytest.raises(ConfigError, match="holds a run on other data: dataset 'image_folder:sh"):
        loop.train_and_evaluate(config=config, workdir=tmp_path / "run")

    prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes", overwrite=True)
    results = loop.train_and_evaluate(config=config, workdir=tmp_path / "run")
    assert results["history"][-1]["step"] == results["history"][-1]["epoch"] * 4
