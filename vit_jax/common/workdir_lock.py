"""One run per workdir: an exclusive lock on `<workdir>/.lock`, holding the holder's pid, host and
start time.

The lock is an flock(2) on the open file, so the kernel releases it when its process dies, also
by SIGKILL; a later run finds the file of the dead holder, takes the lock over and says so.
Written by hand rather than on filelock (used for the cache and staged folders, where no one
reads who holds a lock): filelock leaves its lock file in place at release, so a holder note
written into it would outlive the run and name a finished run as the holder of a lock that died,
and removing the file after release races with a process waiting on it. Here the note is the
locked file itself, removed at release, and a run that locked a file removed meanwhile (its
inode no longer at the path) opens the path again.
"""

import dataclasses
import datetime
import fcntl
import json
import os
import socket
from pathlib import Path

from vit_jax.common.errors import UserError

LOCK_FILE = ".lock"


class WorkdirBusyError(UserError):
    """Another live process holds the workdir."""


@dataclasses.dataclass
class WorkdirLock:
    """Context manager; `taken_over` describes the dead holder whose lock was taken, if any."""

    workdir: Path
    taken_over: str | None = None
    _file: object = None

    def __enter__(self) -> "WorkdirLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        workdir = Path(self.workdir)
        if workdir.exists() and not workdir.is_dir():
            raise NotADirectoryError(f"--workdir {workdir} is a file, not a folder")
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / LOCK_FILE
        while True:
            file = open(path, "a+")  # noqa: SIM115 (held open while locked)
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(path)
                file.close()
                raise WorkdirBusyError(
                    f"{workdir} is in use by another run ({holder}); wait for it to finish or "
                    "choose another --workdir"
                ) from None
            # The file may have been removed by its previous holder between open and flock.
            if path.exists() and os.stat(path).st_ino == os.fstat(file.fileno()).st_ino:
                break
            file.close()
        previous = _describe(path)
        if previous != "unknown holder":
            self.taken_over = previous
        file.seek(0)
        file.truncate()
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        file.write(json.dumps(holder))
        file.flush()
        self._file = file

    def release(self) -> None:
        if self._file is None:
            return
        (Path(self.workdir) / LOCK_FILE).unlink(missing_ok=True)
        self._file.close()
        self._file = None


def _describe(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown holder"
