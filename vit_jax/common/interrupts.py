"""Ctrl-C and SIGTERM for long runs: the first one asks the run to stop at the end of the step
it is in (so no checkpoint is cut in half and the message can say where a re-run resumes); a
second one stops at once."""

import signal
import sys
import threading

_requested = threading.Event()


def _handle(signum: int, frame: object) -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
    _requested.set()
    name = signal.Signals(signum).name
    print(f"{name}: stopping after the current step (again to stop at once)", file=sys.stderr)


def install() -> None:
    """Routes SIGINT and SIGTERM to the handler above (main thread only)."""
    _requested.clear()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handle)


def requested() -> bool:
    return _requested.is_set()
