"""Batches prefetched to the devices: transferred ahead, checkpointed at the batch handed out."""

import json

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.test_input_pipeline import assert_same_batch, digits_loader
from vit_jax.data import input_pipeline
from vit_jax.training import parallel
from vit_jax.training.prefetch import DevicePrefetch


class CountingIterator:
    """Yields 0, 1, ... up to `stop`; its state is the number of items yielded."""

    def __init__(self, stop: int):
        self.position, self.stop = 0, stop

    def __next__(self) -> int:
        if self.position == self.stop:
            raise StopIteration
        self.position += 1
        return self.position - 1

    def get_state(self) -> int:
        return self.position

    def set_state(self, state: int) -> None:
        self.position = state


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_batches_are_transferred_depth_ahead_and_the_state_is_that_of_the_last_one_out(depth):
    put = []
    batches = DevicePrefetch(
        iterator=CountingIterator(6), put=lambda b: put.append(b) or b, depth=depth
    )
    assert batches.get_state() == 0 and put == []
    for taken in range(1, 4):
        assert next(batches) == taken - 1
        assert batches.get_state() == taken
        assert len(put) == taken + depth
    assert list(batches) == [3, 4, 5]
    assert batches.get_state() == 6 and put == list(range(6))


def test_set_state_drops_the_batches_in_flight():
    batches = DevicePrefetch(iterator=CountingIterator(10), put=lambda b: b, depth=2)
    next(batches)
    batches.set_state(7)
    assert batches.get_state() == 7
    assert list(batches) == [7, 8, 9]


def test_a_run_checkpoint_of_prefetched_batches_resumes_at_the_next_batch(tmp_path):
    mesh = parallel.create_mesh()

    def device_batches() -> DevicePrefetch:
        return DevicePrefetch(
            iterator=iter(digits_loader(augment=True, num_epochs=None)),
            put=lambda batch: parallel.shard_batch(batch, mesh=mesh),
            depth=2,
        )

    batches = device_batches()
    for _ in range(3):
        first = next(batches)
    assert isinstance(first["image"], jax.Array)
    manager = ocp.CheckpointManager(tmp_path / "ckpt", item_names=("data",))
    manager.save(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(batches)))
    manager.wait_until_finished()
    expected = [jax.device_get(next(batches)) for _ in range(2)]

    restored = device_batches()
    manager.restore(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(restored)))
    for batch in expected:
        assert_same_batch(jax.device_get(next(restored)), batch)
    uninterrupted = iter(digits_loader(augment=True, num_epochs=None))
    for _ in range(3):
        next(uninterrupted)
    assert_same_batch(next(uninterrupted), expected[0])
    assert not np.array_equal(expected[0]["image"], expected[1]["image"])


def test_a_state_saved_when_the_source_repr_printed_its_records_still_resumes():
    """Runs started before the data source's repr named only its split resume at their next
    batch (the saved state's data_source is the old, record-printing repr)."""
    loader = iter(digits_loader(num_epochs=None))
    for _ in range(3):
        next(loader)
    saved = json.loads(loader.get_state())
    saved["data_source"] = "PaddedSource(source=({'image': array([[[0, 0, 0], ...]]), length=1258)"
    earlier = json.dumps(saved).encode()
    expected = next(loader)

    plain = DevicePrefetch(iterator=iter(digits_loader(num_epochs=None)), put=lambda b: b)
    with pytest.raises(ValueError, match="DataSource in checkpoint does not match"):
        plain.set_state(earlier)
    adopted = DevicePrefetch(
        iterator=iter(digits_loader(num_epochs=None)),
        put=lambda b: b,
        adopt_state=input_pipeline.adopt_earlier_state,
    )
    adopted.set_state(earlier)
    assert_same_batch(next(adopted), expected)
