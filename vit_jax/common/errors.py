"""The commands' failures: everything a user can cause ends in one line on stderr,
`<command>: error: <what>` (naming the field, file or value, and the command that fixes it where
there is one), with a non-zero exit status; the traceback is shown only with --debug or
VIT_JAX_DEBUG=1 in the environment.
"""

import contextlib
import errno
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

DEBUG_ENV = "VIT_JAX_DEBUG"
# What a user can cause: bad values and files (ValueError and its subclasses in vit_jax, e.g.
# ConfigError, ConversionError), missing, unreadable or unwritable paths and full disks (OSError).
EXPECTED: tuple[type[BaseException], ...] = (ValueError, OSError)


class UserError(RuntimeError):
    """A failure the user can fix that is neither a bad value nor a file system error (a busy
    workdir, a training run that diverged)."""


def debug_requested(*, flag: bool = False) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def describe(error: BaseException) -> str:
    """The error as one message: an OSError names its file ('No space left on device: PATH')."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename}"
        if error.errno == errno.ENOSPC:
            text += " (free some space or write elsewhere)"
        return text
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error) or type(error).__name__


@contextlib.contextmanager
def full_disk_named(path: Path | str) -> Iterator[None]:
    """Makes a full disk met while writing under `path` an OSError(ENOSPC) that names a file:
    `path` when the error names none (write(2) names none; the checkpoint library and the dataset
    writers put it in the text of a ValueError or RuntimeError)."""
    try:
        yield
    except OSError as error:
        if error.filename is None and error.errno is not None:  # not a message-only OSError
            error.filename = str(path)
        raise
    except (ValueError, RuntimeError) as error:
        text = str(error)
        if os.strerror(errno.ENOSPC) not in text and f"os_error_code='{errno.ENOSPC}'" not in text:
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from error


def fail(command: str, error: BaseException | str) -> int:
    """Prints `<command>: error: <message>` to stderr; returns the exit status 1."""
    text = error if isinstance(error, str) else describe(error)
    print(f"{command}: error: {text}", file=sys.stderr)
    return 1


def run_command(
    command: str,
    body: Callable[[], None],
    *,
    debug: bool = False,
    expected: tuple[type[BaseException], ...] = (),
) -> int:
    """Runs `body`; returns its exit status: 0, 1 for an expected failure (one line), 130 for
    Ctrl-C. With `debug` (or VIT_JAX_DEBUG) the failure propagates with its traceback."""
    quiet_background_errors(command, debug=debug)
    try:
        body()
    except KeyboardInterrupt as interrupt:
        if debug_requested(flag=debug):
            raise
        print(f"{command}: {interrupt or 'interrupted'}", file=sys.stderr)
        return 130
    except (*EXPECTED, UserError, *expected) as error:
        if debug_requested(flag=debug):
            raise
        return fail(command, error)
    return 0


def report_unreadable(command: str, failures: list[str], *, status: int) -> int:
    """Lists the inputs a command could not read under one error line; returns the exit status
    (1 if any failed, else `status`)."""
    if not failures:
        return status
    print(f"{command}: error: {len(failures)} input(s) could not be read:", file=sys.stderr)
    print("\n".join(f"  {line}" for line in failures), file=sys.stderr)
    return status or 1


def _repeats_a_reported_failure(record: logging.LogRecord) -> bool:
    """Log records that repeat, with a traceback, a failure the command meets and reports itself:
    the checkpoint library's errors in its background threads (raised again in the command that
    waits for them) and asyncio's "exception was never retrieved" for the sibling writes of a
    checkpoint that failed together (on a full disk, each of them)."""
    if record.name == "asyncio":
        return "exception was never retrieved" in record.getMessage()
    in_orbax = f"{os.sep}orbax{os.sep}" in record.pathname
    return in_orbax and record.levelno >= logging.ERROR and record.exc_info is not None


def _late_callback(error: BaseException | None) -> bool:
    """A tensorstore read finishing after the asyncio loop that awaited it was closed, because
    another read of the same checkpoint failed first: that failure is what the command reports."""
    return isinstance(error, RuntimeError) and "Event loop is closed" in str(error)


def quiet_background_errors(command: str, *, debug: bool = False) -> None:
    """Routes errors raised where no caller can catch them (callbacks of the checkpoint library's
    background threads, `sys.unraisablehook`; uncaught errors of threads, `threading.excepthook`)
    to one line each, `<command>: warning: a background task failed: <what>`; the late callbacks
    of an abandoned checkpoint read, whose cause the command already reports, print nothing. With
    `debug` (or VIT_JAX_DEBUG) every error goes to the hooks in place before, traceback and all.
    The checkpoint library's writing threads and asyncio also log, with a traceback, the failures
    that the command then meets and reports itself: those log records are dropped.
    Installed once per process, for its whole life: late callbacks can arrive after the command's
    body has returned."""
    if getattr(sys.unraisablehook, "vit_jax_command", None) is not None:
        return
    for logger in ("absl", "asyncio"):
        logging.getLogger(logger).addFilter(
            lambda record: debug_requested(flag=debug) or not _repeats_a_reported_failure(record)
        )
    previous_unraisable, previous_thread = sys.unraisablehook, threading.excepthook

    def report(error: BaseException | None) -> bool:
        if debug_requested(flag=debug):
            return False
        if error is not None and not _late_callback(error) and not isinstance(error, SystemExit):
            text = describe(error)
            print(f"{command}: warning: a background task failed: {text}", file=sys.stderr)
        return True

    def unraisable(arguments) -> None:
        if not report(arguments.exc_value):
            previous_unraisable(arguments)

    def thread(arguments) -> None:
        if not report(arguments.exc_value):
            previous_thread(arguments)

    unraisable.vit_jax_command = thread.vit_jax_command = command
    sys.unraisablehook, threading.excepthook = unraisable, thread
