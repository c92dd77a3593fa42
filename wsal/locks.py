"""One writer at a time: an exclusive, non-blocking lock on a store or a run folder.

Two processes writing the same feature store (or training into the same run folder) lose work: one
commit takes the other's staged videos and removes them. :class:`ExclusiveLock` holds an
``fcntl.flock`` on a small hidden file next to what it guards (``.NAME.lock``) for as long as the
writer works; a second writer fails at once with one line naming the holder (pid, host, start
time, command). The kernel releases the lock when the holder exits, even when it is killed, so a
stale lock file never blocks anyone; the file itself is left in place (removing it would race with
a process that is opening it).

What this module does not do: lock readers (reading a store while it is rewritten is safe: the
store is replaced by a rename), or lock on platforms without ``fcntl`` (there it does nothing).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from wsal.errors import WsalError

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None  # type: ignore[assignment]


class ExclusiveLock:
    """``with ExclusiveLock(lock_file, target, what): ...``: fail fast if another process holds it."""

    def __init__(self, lock_file: Path, target: Path, what: str) -> None:
        self.path = lock_file
        self.target = target
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> "ExclusiveLock":
        if fcntl is None or self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise WsalError(
                f"{self.target}: another process is writing this {self.what} ({holder}); "
                "wait for it to finish or choose another output"
            ) from None
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}: {' '.join(sys.argv)[:300]}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "ExclusiveLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def file_lock(path: str | os.PathLike, what: str) -> ExclusiveLock:
    """The lock of a file being written (a feature store): ``.NAME.lock`` beside it."""
    target = Path(path)
    return ExclusiveLock(target.with_name(f".{target.name}.lock"), target, what)


def folder_lock(path: str | os.PathLike, what: str) -> ExclusiveLock:
    """The lock of a folder being filled (a training run): ``FOLDER/.lock``."""
    target = Path(path)
    return ExclusiveLock(target / ".lock", target, what)
