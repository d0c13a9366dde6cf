"""The commands' failures: everything a user can cause ends in one line on stderr,
`<command>: error: <what>` (naming the field, file or value, and the command that fixes it where
there is one), with a non-zero exit status; the traceback is shown only with --debug or
VIT_JAX_DEBUG=1 in the environment.
"""

import errno
import os
import sys
from collections.abc import Callable

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
