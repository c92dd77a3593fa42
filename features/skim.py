"""Learned sampler: a tiny "skim" model from the coarse pass's cheap signals to a localizer's attention.

The motion policy (features/sampler.py) scores a snippet by how much moves in it. The skim model
instead learns the score from a trained localizer: it is fitted to predict the localizer's
foreground attention (``attention`` of a ``wsal localize --save-raw`` file, :mod:`wsal.raw`)
from the per-snippet signals the coarse pass already computes (:class:`CoarseSignals`), so it
costs nothing extra at extraction time. The budget policy and its guards are unchanged; only the
scores differ (``wsal extract --sampler learned --sampler-model M.pt``).

**Inputs** (:func:`skim_inputs`, per snippet ``i``, F = 5): ``log10(motion + 1e-4)``,
``appearance``, ``cuts`` (0/1), the maximum of the log motion over snippets ``i-2 .. i+2`` and its
mean over ``i-4 .. i+4`` (context: an action rarely stops for one snippet). They are standardised
with the training set's mean and standard deviation, which are saved with the model.

**Model**: Linear(F, hidden) - ReLU - Linear(hidden, 1), a logit; the score is its sigmoid.
**Fitting** (:func:`fit_skim`): binary cross-entropy against the attention (soft targets in
[0, 1]), full batch over all snippets of all videos, Adam, ``steps`` steps, seeded: the same
inputs give the same model. A raw file whose attention rows were resampled (T differs from the
video's snippet count) is linearly interpolated back to the video's snippets.

**File** (``M.pt``, :func:`save_skim` / :func:`load_skim`): a torch-saved dict with ``kind``
"wsal-skim", ``version`` 1, the state dict, ``mean``/``std``, ``hidden``, the snippet grid
(``fps``, ``clip_len_frames``, ``stride_frames``) and the coarse-pass settings it was fitted with
(the extractor uses them, so the signals match).

What this module does not do: decode videos (the coarse pass does), choose snippets (the policy
does), or read the localizer's network.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from wsal.errors import WsalError
from wsal.outputs import atomic_path
from wsal.torchfile import load_torch_file
from wsal.features.sampler import CoarseSignals, SamplerConfig, SkimFitConfig
from wsal.timeline import SnippetGrid

SKIM_KIND = "wsal-skim"
SKIM_VERSION = 1
NUM_INPUTS = 5


def _window(values: NDArray[np.float64], radius: int, reduce: str) -> NDArray[np.float64]:
    """Max or mean of ``values`` (T,) over ``i - radius .. i + radius`` (clipped at the ends).

    >>> _window(np.array([0., 3, 0, 0, 0]), 1, "max").tolist(), _window(np.array([0., 3, 0]), 1, "mean").tolist()
    ([3.0, 3.0, 3.0, 0.0, 0.0], [1.5, 1.0, 1.5])
    """
    num = len(values)
    out = np.empty(num)
    for i in range(num):
        part = values[max(0, i - radius) : i + radius + 1]
        out[i] = part.max() if reduce == "max" else part.mean()
    return out


def skim_inputs(signals: CoarseSignals) -> NDArray[np.float32]:
    """(T, F) raw (unstandardised) inputs of the skim model (module docstring)."""
    log_motion = np.log10(np.asarray(signals.motion, np.float64) + 1e-4)  # (T,)
    columns = [
        log_motion,
        np.asarray(signals.appearance, np.float64),
        np.asarray(signals.cuts, np.float64),
        _window(log_motion, 2, "max"),
        _window(log_motion, 4, "mean"),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


class SkimModel(torch.nn.Module):
    """Standardise, then Linear - ReLU - Linear: (T, F) inputs -> (T,) logits."""

    def __init__(self, hidden: int, mean: NDArray[np.float32], std: NDArray[np.float32]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))  # (F,)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))  # (F,)
        self.net = torch.nn.Sequential(torch.nn.Linear(NUM_INPUTS, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (T, F) -> (T,)
        return self.net((inputs - self.mean) / self.std).squeeze(-1)


@dataclass
class Skim:
    """A fitted skim model with what it was fitted for."""

    model: SkimModel
    grid: SnippetGrid
    sampler: SamplerConfig  # coarse-pass settings of the training signals

    def scores(self, signals: CoarseSignals) -> NDArray[np.float32]:
        """(T,) scores in (0, 1): the predicted attention."""
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(skim_inputs(signals)))
        return torch.sigmoid(logits).numpy().astype(np.float32)


def attention_targets(attention: NDArray[np.floating], num_snippets: int) -> NDArray[np.float32]:
    """The localizer's attention (T',) on the video's ``num_snippets`` snippets (linear interpolation).

    >>> attention_targets(np.array([0.0, 1.0]), 3).tolist()
    [0.0, 0.5, 1.0]
    """
    att = np.asarray(attention, np.float64)
    if len(att) == num_snippets:
        return att.astype(np.float32)
    if len(att) == 1:
        return np.full(num_snippets, att[0], np.float32)
    return np.interp(np.linspace(0, len(att) - 1, num_snippets), np.arange(len(att)), att).astype(np.float32)


def fit_skim(
    inputs: list[NDArray[np.float32]],
    targets: list[NDArray[np.float32]],
    grid: SnippetGrid,
    sampler: SamplerConfig,
    config: SkimFitConfig = SkimFitConfig(),
) -> Skim:
    """Fit on per-video (T_v, F) inputs and (T_v,) attention targets in [0, 1] (module docstring)."""
    if not inputs or len(inputs) != len(targets):
        raise WsalError("fit_skim needs one target sequence per input sequence, and at least one video")
    x = torch.from_numpy(np.concatenate(inputs).astype(np.float32))  # (S, F)
    y = torch.from_numpy(np.clip(np.concatenate(targets), 0, 1).astype(np.float32))  # (S,)
    if x.shape[0] != y.shape[0]:
        raise WsalError(f"{x.shape[0]} input snippets but {y.shape[0]} targets")
    mean = x.mean(0).numpy()
    std = np.maximum(x.std(0).numpy(), 1e-3)  # a constant input (e.g. no cuts) must not divide by 0
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    model = SkimModel(config.hidden, mean, std)
    torch.random.set_rng_state(generator_state)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(config.steps):
        optimiser.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimiser.step()
    model.eval()
    return Skim(model, grid, sampler)


def save_skim(skim: Skim, path: str | os.PathLike) -> None:
    """Write ``path`` (atomically: wsal.outputs.atomic_path)."""
    with atomic_path(path) as tmp:
        torch.save(
            {
                "kind": SKIM_KIND,
                "version": SKIM_VERSION,
                "state_dict": skim.model.state_dict(),
                "hidden": skim.model.net[0].out_features,
                "fps": float(skim.grid.fps),
                "clip_len_frames": int(skim.grid.clip_len_frames),
                "stride_frames": int(skim.grid.stride_frames),
                "sampler": asdict(skim.sampler),
            },
            tmp,
        )


def load_skim(path: str | os.PathLike) -> Skim:
    """Read a skim model file; a missing or foreign file is a one-line WsalError."""
    path = Path(path)
    data = load_torch_file(path, "skim model file")
    if not isinstance(data, dict) or data.get("kind") != SKIM_KIND:
        raise WsalError(f"{path}: not a skim model (written by `wsal sampler-fit`)")
    if data.get("version") != SKIM_VERSION:
        raise WsalError(f"{path}: skim model version {data.get('version')} is not supported (this wsal reads {SKIM_VERSION})")
    try:
        state = data["state_dict"]
        model = SkimModel(int(data["hidden"]), state["mean"].numpy(), state["std"].numpy())
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise WsalError(f"{path}: damaged skim model ({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})") from None
    model.eval()
    grid = SnippetGrid(data["fps"], data["clip_len_frames"], data["stride_frames"])
    # files written before motion_top_share existed measured motion energy over all pixels
    sampler = {"motion_top_share": 1.0, **data["sampler"]}
    return Skim(model, grid, SamplerConfig(**sampler))
