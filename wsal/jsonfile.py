"""Parsing JSON text from untrusted files: duplicate keys and runaway nesting are errors.

Python's ``json`` keeps the last of two equal keys in one object without a word (a video listed
twice in a predictions or ground-truth file silently replaces the first) and raises
``RecursionError`` on deeply nested input. :func:`parse_json` turns both into
:class:`JsonContentError`, a ``ValueError`` the readers report as one line.

What this module does not do: read files (each reader owns its messages), or write JSON
(``wsal.outputs.write_json_atomic``).
"""

from __future__ import annotations

import json
from typing import Any


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
