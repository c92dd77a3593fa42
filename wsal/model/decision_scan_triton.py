"""The decision scan as one Triton kernel: one program per video, the held state in registers.

Imported only for CUDA tensors (wsal.model.decision_scan.scan_decisions), since it needs Triton.
The arithmetic mirrors :func:`wsal.model.decision_scan.scan_decisions_numpy` step for step in
float64; a non-candidate snippet leaves every state untouched there too, so one program can walk
its own video's T snippets without looking at the others. The next snippet's inputs are loaded
before the current one is decided, so the memory latency overlaps the arithmetic.

Runs under ``TRITON_INTERPRET=1`` on CPU tensors as well (how the tests check it without a GPU).

What this module does not do: compute the running average's start (decision_scan.initial_average).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from wsal.model.decision_scan import EPS


@triton.jit
def _scan_kernel(
    mu_ptr,  # (B, T, Z) contiguous, any float dtype
    logvar_ptr,  # (B, T, Z)
    kl_change_ptr,  # (B, T)
    cand_ptr,  # (B, T) int8, 1 = candidate
    avg_ptr,  # (B,) float64 start of the running average
    change_ptr,  # (B, T) int8 out
    score_ptr,  # (B, T) float64 out
    T,
    Z,
    GAMMA: tl.constexpr,  # constants, made float64 below (a plain float argument would be float32)
    MOMENTUM: tl.constexpr,
    EPSILON: tl.constexpr,
    USE_CHANGE_PRIOR: tl.constexpr,
    SEGMENT_MEAN: tl.constexpr,
    BLOCK_Z: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    gamma = tl.full((), GAMMA, tl.float64)
    momentum = tl.full((), MOMENTUM, tl.float64)
    eps = tl.full((), EPSILON, tl.float64)
    z = tl.arange(0, BLOCK_Z)
    z_ok = z < Z  # padded lanes read 0 for mu and logvar, so their KL terms are exactly 0
    row = b * T * Z
    held_mu = tl.load(mu_ptr + row + z, mask=z_ok, other=0.0).to(tl.float64)
    held_logvar = tl.load(logvar_ptr + row + z, mask=z_ok, other=0.0).to(tl.float64)
    held_inv_var = 1.0 / tl.exp(held_logvar)
    sum_mu = held_mu
    sum_logvar = held_logvar
    count = tl.full((), 1.0, tl.float64)
    avg = tl.load(avg_ptr + b)
    # Inputs of snippet 1, loaded ahead (T >= 2 here); the last step re-reads snippet T - 1, unused.
    mu_t = tl.load(mu_ptr + row + Z + z, mask=z_ok, other=0.0).to(tl.float64)
    logvar_t = tl.load(logvar_ptr + row + Z + z, mask=z_ok, other=0.0).to(tl.float64)
    kl_t = tl.load(kl_change_ptr + b * T + 1).to(tl.float64)
    cand_t = tl.load(cand_ptr + b * T + 1)
    for t in range(1, T):
        n = tl.minimum(t + 1, T - 1)
        mu_n = tl.load(mu_ptr + row + n * Z + z, mask=z_ok, other=0.0).to(tl.float64)
        logvar_n = tl.load(logvar_ptr + row + n * Z + z, mask=z_ok, other=0.0).to(tl.float64)
        kl_n = tl.load(kl_change_ptr + b * T + n).to(tl.float64)
        cand_n = tl.load(cand_ptr + b * T + n)

        var_t = tl.exp(logvar_t)
        diff = mu_t - held_mu
        surprise = 0.5 * tl.sum(held_logvar - logvar_t + (var_t + diff * diff) * held_inv_var - 1.0, axis=0)
        r = surprise / (surprise + gamma * avg + eps)
        if USE_CHANGE_PRIOR:
            r = tl.maximum(r, surprise / (surprise + kl_t + eps))
        cand = cand_t != 0
        fire = cand & (r > 0.5)
        quiet = cand & (r <= 0.5)
        tl.store(score_ptr + b * T + t, tl.where(cand, r, 0.0))
        tl.store(change_ptr + b * T + t, fire.to(tl.int8))
        if SEGMENT_MEAN:
            sum_mu = tl.where(fire, mu_t, tl.where(quiet, sum_mu + mu_t, sum_mu))
            sum_logvar = tl.where(fire, logvar_t, tl.where(quiet, sum_logvar + logvar_t, sum_logvar))
            count = tl.where(fire, 1.0, tl.where(quiet, count + 1.0, count))
            held_mu = sum_mu / count
            held_logvar = sum_logvar / count
            held_inv_var = tl.exp(-held_logvar)
        else:
            held_mu = tl.where(fire, mu_t, held_mu)
            held_logvar = tl.where(fire, logvar_t, held_logvar)
            held_inv_var = tl.where(fire, 1.0 / var_t, held_inv_var)
        avg = tl.where(quiet, momentum * avg + (1.0 - momentum) * surprise, avg)

        mu_t = mu_n
        logvar_t = logvar_n
        kl_t = kl_n
        cand_t = cand_n


def scan_decisions_cuda(
    mu: Tensor,
    logvar: Tensor,
    kl_change: Tensor,
    candidates: Tensor,
    avg: Tensor,
    gamma: float,
    momentum: float,
    use_change_prior: bool,
    segment_mean: bool,
) -> tuple[Tensor, Tensor]:
    """mu, logvar (B, T, Z), kl_change (B, T), candidates (B, T) bool, avg (B,) float64 ->
    change (B, T) bool, score (B, T) float64; one kernel launch, no host synchronisation."""
    b_size, t_size, z_size = mu.shape
    change = torch.zeros((b_size, t_size), dtype=torch.int8, device=mu.device)
    score = torch.zeros((b_size, t_size), dtype=torch.float64, device=mu.device)
    if b_size == 0 or t_size < 2:
        return change.bool(), score
    _scan_kernel[(b_size,)](
        mu.detach().contiguous(),
        logvar.detach().contiguous(),
        kl_change.detach().contiguous(),
        candidates.to(torch.int8).contiguous(),
        avg.to(torch.float64).contiguous(),
        change,
        score,
        t_size,
        z_size,
        GAMMA=float(gamma),
        MOMENTUM=float(momentum),
        EPSILON=EPS,
        USE_CHANGE_PRIOR=bool(use_change_prior),
        SEGMENT_MEAN=bool(segment_mean),
        BLOCK_Z=triton.next_power_of_2(z_size),
    )
    return change.bool(), score
