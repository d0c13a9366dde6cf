"""Batches kept in flight to the devices ahead of the train step, with a checkpointable state.

flax.jax_utils.prefetch_to_device does the first half for pmap; here the batches are global
arrays (vit_jax.training.parallel.shard_batch) and the loader's iterator state is checkpointed
with the run (vit_jax.checkpoints.run_checkpoints): saving the wrapped iterator's own state would
record a position `depth` batches past the last step taken, and a resumed run would skip them.
So each prefetched batch carries the iterator state read right after loading it, and
`get_state()` answers the state of the last batch handed out.
"""

import collections
from collections.abc import Callable, Iterator
from typing import Any


class DevicePrefetch:
    """Iterates `put(batch)` for the batches of `iterator` (a grain DataLoaderIterator or anything
    with get_state/set_state), keeping `depth` of them transferred ahead; depth 0 transfers each
    batch when it is asked for. Implements the iterator protocol that grain's Orbax checkpoint
    handler uses (get_state, set_state, start_prefetch)."""

    def __init__(
        self,
        *,
        iterator: Iterator,
        put: Callable[[Any], Any],
        depth: int = 2,
        adopt_state: Callable[[Any], Any] | None = None,
    ):
        """`adopt_state(saved, current=...)`, if given, turns a state saved by earlier code into
        one the loader accepts (vit_jax.data.input_pipeline.adopt_earlier_state)."""
        self._iterator = iterator
        self._put = put
        self._depth = depth
        self._adopt_state = adopt_state
        self._queue: collections.deque = collections.deque()
        self._state = iterator.get_state()

    def __iter__(self) -> "DevicePrefetch":
        return self

    def __next__(self) -> Any:
        self._fill(max(1, self._depth))
        if not self._queue:
            raise StopIteration
        batch, self._state = self._queue.popleft()
        self._fill(self._depth)
        return batch

    def _fill(self, size: int) -> None:
        while len(self._queue) < size:
            try:
                batch = next(self._iterator)
            except StopIteration:
                return
            self._queue.append((self._put(batch), self._iterator.get_state()))

    def get_state(self) -> Any:
        """The loader's state after the last batch handed out (not after those in flight)."""
        return self._state

    def set_state(self, state: Any) -> None:
        """Repositions the loader; batches in flight are dropped."""
        self._queue.clear()
        if self._adopt_state is not None:
            state = self._adopt_state(state, current=self._iterator.get_state())
        self._iterator.set_state(state)
        self._state = state

    def start_prefetch(self) -> None:
        """Lets the loader start its own workers (grain calls this after restoring a state)."""
        start = getattr(self._iterator, "start_prefetch", None)
        if start:
            start()
