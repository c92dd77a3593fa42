"""Loading torch files (checkpoints, I3D weights, sampler models) without running code from them.

Every ``.pt`` file wsal reads goes through :func:`load_torch_file`: ``torch.load`` with
``weights_only=True`` (tensors and plain values only; a file that names any other Python object is
refused before it runs), torch's own warnings silenced, and any failure turned into one
:class:`WsalError` line naming the file. torch's message for a refused pickle advises loading with
``weights_only=False``; wsal never does, so that advice is not passed on.

What this module does not do: check what the file holds (each reader checks its own format).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from wsal.errors import WsalError


def load_torch_file(path: str | os.PathLike, what: str, map_location: Any = "cpu") -> Any:
    """The object ``torch.save`` wrote to ``path`` (tensors and plain values only)."""
    import torch

    if not os.path.isfile(path):
        raise WsalError(f"{path}: {what} not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for foreign, truncated or unsafe files
        text = str(err).strip()
        if "Weights only load failed" in text:
            detail = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()[0][:200] if "WeightsUnpickler error:" in text else ""
            reason = "not a torch.save file of tensors and plain values" + (f": {detail}" if detail else "")
        else:
            reason = text.splitlines()[0][:300] if text else type(err).__name__
        raise WsalError(f"{path}: not a readable {what} ({reason})") from None
