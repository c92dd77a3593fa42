"""Reading ``.npy`` files from untrusted sources without running code from them.

A ``.npy`` file of a plain dtype is read by numpy with ``allow_pickle=False``. An *object* array
(W-TALC's annotation columns and joint feature file are such arrays) is stored as a pickle, and
``np.load(..., allow_pickle=True)`` would run whatever callable the pickle names: a crafted file
can run a shell command. :func:`load_npy` reads those pickles with an unpickler that can build
only numpy arrays, numpy dtypes and scalars and the plain values inside them (str, bytes, numbers,
lists, tuples); any other callable in the file is refused with :class:`pickle.UnpicklingError`
before anything runs (the same principle as ``torch.load(weights_only=True)``).

What this module does not do: write files, or accept ``.npz`` archives or ``.npy`` format 3.0
object arrays (refused with an error).
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.lib import format as npy_format

_CODECS = frozenset({"latin1", "latin-1", "iso-8859-1", "utf-8", "utf8", "ascii"})


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles of bytes call it, limited to a few text codecs."""
    if not isinstance(text, str) or encoding.lower() not in _CODECS:
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, encoding)


def _numpy_callables() -> dict[tuple[str, str], Callable[..., Any]]:
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # numpy 2 / numpy 1
    allowed: dict[tuple[str, str], Callable[..., Any]] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _encode,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # names older and newer numpy write
        allowed[module, "_reconstruct"] = multiarray._reconstruct
        allowed[module, "scalar"] = multiarray.scalar
    for name in dir(np.dtypes) if hasattr(np, "dtypes") else ():  # numpy 2 pickles dtypes by class
        if name.endswith("DType"):
            allowed["numpy.dtypes", name] = getattr(np.dtypes, name)
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the callables numpy arrays need (module docstring)."""

    allowed = _numpy_callables()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to call {module}.{name} (not a numpy array part)") from None


def load_npy(path: str | Path, encoding: str = "ASCII") -> np.ndarray:
    """The array in ``path``; object arrays are unpickled with the restricted unpickler.

    ``encoding`` decodes Python 2 ``str`` objects (numpy's ``np.load`` argument: "latin1" for
    Python 2 files holding arrays). Raises ``OSError`` (unreadable), ``ValueError`` (not a
    ``.npy`` file) or :class:`pickle.UnpicklingError` (a callable that is not a numpy array part,
    or a damaged pickle).
    """
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise
    with open(path, "rb") as fh:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            _, _, dtype = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            _, _, dtype = npy_format.read_array_header_2_0(fh)
        else:
            raise ValueError(f".npy format {version[0]}.{version[1]} object arrays are not supported")
        if not dtype.hasobject:
            raise ValueError("expected an object array after numpy refused to read it without pickle")
        data = fh.read()
    try:
        array = _ArrayUnpickler(io.BytesIO(data), encoding=encoding).load()
    except (EOFError, AttributeError, TypeError, IndexError, KeyError) as err:
        raise pickle.UnpicklingError(f"damaged object array ({type(err).__name__}: {err})") from None
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(f"the pickle holds a {type(array).__name__}, not a numpy array")
    return array
