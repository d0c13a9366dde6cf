"""A run's checkpoints: the best one survives any number of resumptions, and a damaged newest
checkpoint is reported, set aside and replaced by the next older intact one."""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from vit_jax.checkpoints import run_checkpoints
from vit_jax.data import input_pipeline


def _iterator():
    loader = input_pipeline.create_loader(
        dataset="digits",
        data_dir=None,
        split="train",
        batch_size=8,
        image_size=(8, 8),
        preprocessing={"value_range": [-1, 1]},
        train=True,
        seed=0,
        num_epochs=None,
    )
    return iter(loader)


def _save(manager, *, step: int, iterator, accuracy: float | None = None) -> None:
    run_checkpoints.save(
        manager=manager,
        step=step,
        state={"w": jnp.full((3,), float(step))},
        data_iterator=iterator,
        progress={"step": step},
        val_accuracy=accuracy,
    )
    manager.wait_until_finished()


def _steps(directory: Path) -> list[int]:
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def test_the_best_checkpoint_survives_resumptions(tmp_path):
    iterator = _iterator()
    manager = run_checkpoints.create_manager(directory=tmp_path, keep=1)
    _save(manager, step=1, iterator=iterator, accuracy=0.9)
    _save(manager, step=2, iterator=iterator, accuracy=0.5)
    manager.close()
    for step, accuracy in ((3, None), (4, 0.4), (5, None)):  # three resumptions
        manager = run_checkpoints.create_manager(directory=tmp_path, keep=1)
        _save(manager, step=step, iterator=iterator, accuracy=accuracy)
        manager.close()
    assert _steps(tmp_path) == [1, 5]


def _largest_file(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


DAMAGE = {
    "truncated state": lambda step: _largest_file(step / "state").write_bytes(b"\0" * 7),
    "garbled progress": lambda step: [p.write_text("{") for p in (step / "progress").rglob("*")],
    "missing state": lambda step: [p.unlink() for p in (step / "state").rglob("*") if p.is_file()],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_previous_one_used(
    tmp_path, damage, capsys
):
    directory = tmp_path / "checkpoints"
    iterator = _iterator()
    manager = run_checkpoints.create_manager(directory=directory, keep=3)
    expected_next = {}
    for step in (1, 2):
        next(iterator)
        _save(manager, step=step, iterator=iterator)
        expected_next[step] = next(_iterator_after(step))
    manager.close()
    DAMAGE[damage](directory / "2")

    manager = run_checkpoints.create_manager(directory=directory, keep=3)
    resumed = _iterator()
    step, progress, state = run_checkpoints.restore_latest_intact(
        manager=manager,
        state={"w": jnp.zeros(3)},
        data_iterator=resumed,
        check_progress=lambda progress: None,
    )
    assert (step, progress) == (1, {"step": 1})
    np.testing.assert_array_equal(state["w"], np.full(3, 1.0))
    np.testing.assert_array_equal(next(resumed)["image"], expected_next[1]["image"])
    assert "checkpoint 2 in" in capsys.readouterr().err
    assert _steps(directory) == [1] and (directory / "damaged" / "2").is_dir()
    _save(manager, step=2, iterator=resumed)  # the run goes on and saves step 2 again
    assert _steps(directory) == [1, 2]
    manager.close()


def _iterator_after(step: int):
    iterator = _iterator()
    for _ in range(step):
        next(iterator)
    return iterator


def test_no_intact_checkpoint_says_what_to_move(tmp_path):
    directory = tmp_path / "checkpoints"
    manager = run_checkpoints.create_manager(directory=directory, keep=2)
    _save(manager, step=1, iterator=_iterator())
    manager.close()
    for path in (directory / "1" / "progress").rglob("*"):
        path.write_text("not json")
    manager = run_checkpoints.create_manager(directory=directory, keep=2)
    with pytest.raises(run_checkpoints.NoIntactCheckpointError) as error:
        run_checkpoints.restore_latest_intact(
            manager=manager,
            state={"w": jnp.zeros(3)},
            data_iterator=_iterator(),
            check_progress=lambda progress: None,
        )
    assert "step 1:" in str(error.value) and f"move {directory}" in str(error.value)


def test_a_refused_config_is_not_mistaken_for_damage(tmp_path):
    directory = tmp_path / "checkpoints"
    manager = run_checkpoints.create_manager(directory=directory, keep=2)
    _save(manager, step=1, iterator=_iterator())
    manager.close()
    manager = run_checkpoints.create_manager(directory=directory, keep=2)

    def refuse(progress: dict) -> None:
        raise ValueError(f"other config: {json.dumps(progress)}")

    with pytest.raises(ValueError, match="other config"):
        run_checkpoints.restore_latest_intact(
            manager=manager,
            state={"w": jnp.zeros(3)},
            data_iterator=_iterator(),
            check_progress=refuse,
        )
    assert _steps(directory) == [1]
