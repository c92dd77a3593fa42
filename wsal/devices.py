"""The one device choice of every command: ``--device auto|cpu|cuda|cuda:N`` -> a checked torch device.

``auto`` is CUDA when torch sees a GPU, else the CPU. Under ``torchrun`` (``LOCAL_RANK`` in the
environment passed in) ``auto`` and a bare ``cuda`` pick that process's GPU, ``cuda:LOCAL_RANK``;
``cuda:N`` is taken as given. Asking for CUDA where there is none, or for anything but the CPU
and CUDA, is a one-line :class:`wsal.errors.WsalError`.

What this module does not do: move models or tensors (callers do, at their edges), set threads or
precision.
"""

from __future__ import annotations

from typing import Mapping

import torch

from wsal.errors import WsalError


def resolve_device(name: str, env: Mapping[str, str] | None = None) -> torch.device:
    """``name`` (auto, cpu, cuda, cuda:N) -> torch device; ``env``: the environment, for LOCAL_RANK.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise WsalError(f"--device {name!r}: not a torch device (use auto, cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise WsalError(f"--device {name!r}: only cpu and cuda are supported")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise WsalError(f"--device {name!r}: CUDA is not available on this machine (use --device cpu or auto)")
        if device.index is None:
            local_rank = (env or {}).get("LOCAL_RANK", "0")
            if not local_rank.isdigit():
                raise WsalError(f"LOCAL_RANK={local_rank!r}: not a GPU index")
            device = torch.device("cuda", int(local_rank))
    return device
