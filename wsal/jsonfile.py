"""Reading untrusted text, JSON and numbers: one implementation, one wording of every error.

* :func:`read_text_file` / :func:`read_json_file`: a file's UTF-8 text (a byte-order mark is
  dropped) or JSON value; a missing, unreadable, non-UTF-8, empty or malformed file is a
  :class:`WsalError` of one line naming the file and what it was meant to be ("ground-truth",
  "predictions", "annotation", ...).
* :func:`parse_json`: Python's ``json`` keeps the last of two equal keys in one object without a
  word (a video listed twice in a predictions or ground-truth file silently replaces the first)
  and raises ``RecursionError`` on deeply nested input; both become :class:`JsonContentError`.
* :func:`to_number`: a finite float from a JSON number or a numeric string (``"18.6"``, as some
  THUMOS ground-truth files ship their times).

What this module does not do: know any file format's structure (wsal.annotations, wsal.eval.io
do), or write JSON (``wsal.outputs.write_json_atomic``).
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import Any

from wsal.errors import WsalError


class JsonContentError(ValueError):
    """Well-formed JSON that wsal refuses: a repeated key in one object, or nesting too deep."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise JsonContentError(f"key {repeated!r} appears twice in one object")
    return out


def parse_json(text: str) -> Any:
    """``json.loads(text)``, refusing repeated keys and nesting deeper than Python's recursion limit.

    >>> parse_json('{"v1": [1], "v2": []}')
    {'v1': [1], 'v2': []}
    >>> parse_json('{"v1": [1], "v1": []}')
    Traceback (most recent call last):
    ...
    wsal.jsonfile.JsonContentError: key 'v1' appears twice in one object
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise JsonContentError("nested too deeply") from None


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped); ``what`` names the file's role in errors."""
    p = Path(path)
    if not p.is_file():
        raise WsalError(f"{p}: {what} file not found")
    try:
        return p.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise WsalError(f"{p}: cannot read {what} file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise WsalError(f"{p}: {what} file is not UTF-8 text") from None


def read_json_file(path: str | os.PathLike, what: str, text: str | None = None) -> Any:
    """The JSON value of ``path`` (``text``: its content, when already read); see :func:`read_text_file`."""
    p = Path(path)
    text = read_text_file(p, what) if text is None else text
    if not text.strip():
        raise WsalError(f"{p}: {what} file is empty")
    try:
        return parse_json(text)
    except json.JSONDecodeError as err:
        raise WsalError(f"{p}: not a JSON {what} file ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except JsonContentError as err:
        raise WsalError(f"{p}: refused {what} file: {err}") from None


def to_number(value: Any, where: str) -> float:
    """A finite float from a number or a numeric string; anything else is a WsalError naming ``where``.

    >>> to_number("18.6", "x"), to_number(3, "x")
    (18.6, 3.0)
    >>> to_number("abc", "gt.json: video v, annotation 0")
    Traceback (most recent call last):
    ...
    wsal.errors.WsalError: gt.json: video v, annotation 0: expected a number, got 'abc'
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise WsalError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise WsalError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise WsalError(f"{where}: value {value!r} is not finite")
    return number
