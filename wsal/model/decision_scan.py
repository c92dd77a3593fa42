"""The change-point detector's decision scan: which candidate snippets are change points.

The only sequential part of wsal.model.changepoint: per level, a left-to-right pass over T that
keeps a held state (the posterior at the last change point, or the mean of the posterior
parameters over the current segment) and a running average of the surprise, and decides at each
candidate snippet whether the level changes there (the criterion is in wsal.model.changepoint's
docstring). Everything else of the detector is computed for all snippets at once.

Two implementations of the same arithmetic, both in float64:

* :func:`scan_decisions_numpy`: numpy on the host, vectorised over the batch, a Python loop over
  the snippets where any video has a candidate. The reference, and the CPU path.
* a Triton kernel (wsal.model.decision_scan_triton), one program per video looping over T with
  the held state in registers: used for CUDA tensors when Triton is installed, so a training step
  never copies the detector's tensors to the host or waits for the device. The running average's
  start (a median over each video's candidates) is computed with torch on the device, as numpy's
  ``nanmedian`` defines it (mean of the two middle values for an even count).

:func:`scan_decisions` picks one from the tensors' device. Both give the same decisions; scores
agree to rounding (the two sum the Z terms of a KL in different orders), so a decision can only
differ where a score is within about 1e-15 of 0.5.

What this module does not do: compute posteriors, priors or KL terms (wsal.model.changepoint).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

EPS = 1e-8  # keeps the score ratios finite where a surprise and its reference are both 0


def scan_decisions_numpy(
    mu: np.ndarray,
    logvar: np.ndarray,
    kl_change: np.ndarray,
    candidates: np.ndarray,
    gamma: float,
    momentum: float,
    use_change_prior: bool,
    segment_mean: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The decision scan on the host (module docstring); float64 arithmetic.

    mu, logvar (B, T, Z) posteriors; kl_change (B, T) KL to the change prior; candidates (B, T)
    bool, snippets where this level may change (valid, t >= 1, lower level changed). The held
    state is the posterior at the last change point, or with ``segment_mean`` the mean of the
    posterior parameters over that change point and the quiet candidates since. Returns
    (change (B, T) bool, score (B, T) float64, 0 off candidates).
    """
    mu = np.asarray(mu, dtype=np.float64)
    logvar = np.asarray(logvar, dtype=np.float64)
    kl_change = np.asarray(kl_change, dtype=np.float64)
    b_size, t_size, _ = mu.shape
    var = np.exp(logvar)
    change = np.zeros((b_size, t_size), dtype=bool)
    score = np.zeros((b_size, t_size))
    if t_size < 2 or not candidates.any():
        return change, score
    # Running average starts at the median adjacent-snippet KL over this level's candidates.
    adjacent = 0.5 * (
        logvar[:, :-1] - logvar[:, 1:] + (var[:, 1:] + (mu[:, 1:] - mu[:, :-1]) ** 2) / var[:, :-1] - 1.0
    ).sum(-1)  # (B, T-1): KL(q(t) || q(t-1)) for t >= 1
    masked = np.where(candidates[:, 1:], adjacent, np.nan)
    has_any = candidates[:, 1:].any(axis=1)
    avg = np.zeros(b_size)
    if has_any.any():
        avg[has_any] = np.nanmedian(masked[has_any], axis=1)
    held_mu = mu[:, 0].copy()
    held_logvar = logvar[:, 0].copy()
    held_inv_var = 1.0 / var[:, 0]
    sum_mu, sum_logvar, count = held_mu.copy(), held_logvar.copy(), np.ones(b_size)
    for t in np.flatnonzero(candidates.any(axis=0)):
        cand = candidates[:, t]
        surprise = 0.5 * (held_logvar - logvar[:, t] + (var[:, t] + (mu[:, t] - held_mu) ** 2) * held_inv_var - 1.0).sum(-1)
        r = surprise / (surprise + gamma * avg + EPS)
        if use_change_prior:
            r = np.maximum(r, surprise / (surprise + kl_change[:, t] + EPS))
        fire = cand & (r > 0.5)
        score[:, t] = np.where(cand, r, 0.0)
        change[:, t] = fire
        quiet = cand & ~fire
        if segment_mean:
            sum_mu = np.where(fire[:, None], mu[:, t], sum_mu + quiet[:, None] * mu[:, t])
            sum_logvar = np.where(fire[:, None], logvar[:, t], sum_logvar + quiet[:, None] * logvar[:, t])
            count = np.where(fire, 1.0, count + quiet)
            held_mu = sum_mu / count[:, None]
            held_logvar = sum_logvar / count[:, None]
            held_inv_var = np.exp(-held_logvar)
        elif fire.any():
            held_mu[fire] = mu[fire, t]
            held_logvar[fire] = logvar[fire, t]
            held_inv_var[fire] = 1.0 / var[fire, t]
        avg = np.where(quiet, momentum * avg + (1.0 - momentum) * surprise, avg)
    return change, score


def initial_average(mu: Tensor, logvar: Tensor, candidates: Tensor) -> Tensor:
    """Start of the running average per video, (B,) float64, on the inputs' device.

    The median of the adjacent-snippet KLs KL(q(t) || q(t-1)) over the candidates t >= 1, as
    ``np.nanmedian`` computes it (the mean of the two middle values for an even count); 0 for a
    video without candidates. mu, logvar (B, T, Z); candidates (B, T) bool; T >= 2.
    """
    mu, logvar = mu.double(), logvar.double()
    var = logvar.exp()
    adjacent = 0.5 * (
        logvar[:, :-1] - logvar[:, 1:] + (var[:, 1:] + (mu[:, 1:] - mu[:, :-1]) ** 2) / var[:, :-1] - 1.0
    ).sum(-1)  # (B, T-1)
    cand = candidates[:, 1:]
    ordered = torch.where(cand, adjacent, torch.full_like(adjacent, float("inf"))).sort(dim=1).values  # candidates first
    count = cand.sum(dim=1)  # (B,)
    low = ((count - 1).clamp_min(0) // 2).unsqueeze(1)
    high = (count // 2).clamp_max(adjacent.shape[1] - 1).unsqueeze(1)
    middle = (ordered.gather(1, low) + ordered.gather(1, high)).squeeze(1) / 2.0
    return torch.where(count > 0, middle, torch.zeros_like(middle))


def _triton_usable(tensor: Tensor) -> bool:
    if tensor.device.type != "cuda":
        return False
    try:
        import triton  # noqa: F401  (ships with CUDA builds of torch; optional everywhere else)
    except ImportError:
        return False
    return True


def scan_decisions(
    mu: Tensor,
    logvar: Tensor,
    kl_change: Tensor,
    candidates: Tensor,
    gamma: float,
    momentum: float,
    use_change_prior: bool,
    segment_mean: bool = False,
) -> tuple[Tensor, Tensor]:
    """The decision scan on the inputs' device where it can run there (module docstring).

    mu, logvar (B, T, Z), kl_change (B, T) float (any dtype; read as float64), candidates (B, T)
    bool -> change (B, T) bool and score (B, T) float64 on the same device, 0 off candidates.
    No gradient flows (decisions are discrete). CUDA tensors with Triton installed stay on the
    device with no host synchronisation; any other device goes through :func:`scan_decisions_numpy`.
    """
    with torch.no_grad():
        if _triton_usable(mu):
            from wsal.model.decision_scan_triton import scan_decisions_cuda

            avg = initial_average(mu, logvar, candidates) if mu.shape[1] >= 2 else mu.new_zeros(mu.shape[0], dtype=torch.float64)
            return scan_decisions_cuda(mu, logvar, kl_change, candidates, avg, gamma, momentum, use_change_prior, segment_mean)
        change, score = scan_decisions_numpy(
            mu.detach().cpu().double().numpy(),
            logvar.detach().cpu().double().numpy(),
            kl_change.detach().cpu().double().numpy(),
            candidates.cpu().numpy(),
            gamma,
            momentum,
            use_change_prior,
            segment_mean,
        )
    return torch.from_numpy(change).to(mu.device), torch.from_numpy(score).to(mu.device)
