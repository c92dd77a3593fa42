"""Output paths checked before the work that fills them.

A command that computes for minutes and then cannot write its result (a missing or read-only
folder, a path under a regular file) should say so at once. :func:`check_writable` creates the
parent folder if needed and writes and removes a probe file there; anything that fails is a
:class:`WsalError` naming the path.

:func:`write_text_atomic` is the one atomic writer of text results (JSON, CSV, HTML): a temp file
next to the target, fsync, rename, so a reader never sees half a file.

What this module does not do: binary formats (the feature store, raw outputs and checkpoints own
their writers).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

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


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` (UTF-8) to a temp file next to ``path``, fsync it, then rename it over ``path``.
    The file gets the mode a plain ``open()`` would give (mkstemp's own is 0600)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        mask = os.umask(0o022)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``obj`` as JSON (no NaN / inf: a ValueError) through :func:`write_text_atomic`."""
    write_text_atomic(json.dumps(obj, allow_nan=False), path)
