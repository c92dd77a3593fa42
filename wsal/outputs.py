"""Output paths checked before the work that fills them.

A command that computes for minutes and then cannot write its result (a missing or read-only
folder, a path under a regular file) should say so at once. :func:`check_writable` creates the
parent folder if needed and writes and removes a probe file there; anything that fails is a
:class:`WsalError` naming the path.

:func:`atomic_path` is the one atomic writer of every file wsal writes (JSON, CSV, HTML, TOML,
checkpoints, HDF5 stores and raw outputs, figures): the caller writes a temp file next to the
target, which is then fsynced and renamed over it, so a reader never sees half a file and a crash
leaves the target as it was. :func:`write_text_atomic` and :func:`write_json_atomic` use it for text.

What this module does not do: know any format's content.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from wsal.errors import WsalError


def os_error_message(err: OSError) -> str:
    """``FILE: reason`` for an OSError (the reason alone when it names no file).

    >>> os_error_message(PermissionError(13, "Permission denied", "/x/out.json"))
    '/x/out.json: Permission denied'
    """
    reason = err.strerror or str(err)
    return f"{err.filename}: {reason}" if err.filename else reason


def _probe(folder: Path) -> None:
    """Create ``folder`` if needed and write and remove a probe file in it (OSError when it cannot)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".wsal-probe-"):
        pass


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """``path`` (a file to be written) as a Path, after checking that its folder can take it."""
    target = Path(path)
    if target.is_dir():
        raise WsalError(f"{target}: is a folder, expected a {what} file path")
    try:
        _probe(target.parent)
    except OSError as err:
        raise WsalError(f"{target}: cannot write the {what} here ({os_error_message(err)})") from None
    return target


def check_writable_folder(path: str | os.PathLike, what: str = "output") -> Path:
    """``path`` (a folder to be filled) as a Path, created if needed, after a probe write inside it."""
    folder = Path(path)
    try:
        _probe(folder)
    except OSError as err:
        raise WsalError(f"{folder}: cannot write the {what} folder here ({os_error_message(err)})") from None
    return folder


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's data (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path next to ``path`` (its folder created if needed) for the block to write; when
    the block ends it is fsynced and renamed over ``path``, when the block raises it is removed.

    The temp name is unique (``.NAME.XXXXXX.tmp``), so two processes writing the same target never
    write into one temp file; the file gets the mode a plain ``open()`` would give (mkstemp's own
    is 0600).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_path(Path(d) / "out.txt") as tmp:
    ...         _ = tmp.write_text("done")
    ...     sorted(p.name for p in Path(d).iterdir()), (Path(d) / "out.txt").read_text()
    (['out.txt'], 'done')
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    try:
        mask = os.umask(0o022)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        os.close(fd)
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``obj`` as JSON (no NaN / inf: a ValueError) through :func:`write_text_atomic`."""
    write_text_atomic(json.dumps(obj, allow_nan=False), path)
