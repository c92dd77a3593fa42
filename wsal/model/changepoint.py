"""Hierarchical latent change-point detector: unsupervised event boundaries at L time scales.

Ideas from Variational Predictive Routing (Zakharov et al., ICLR 2022) and the hierarchically
structured latent attention model for weakly-supervised localization (ICCV 2023); the code is ours.

Model (features ``x`` (B, T, D), finite everywhere; mask (B, T) bool, True = valid, valid snippets
first: padding only at the end)::

    level 0 input  u_0 = GELU(Linear(x))                                  (B, T, H)
    level l        posterior  q_l(t) = N(mu, var) from u_l(<= t)          (B, T, Z) each
                   state      s_l(t) = q_l(c_l(t)), c_l(t) = last change point of level l <= t
                   input of level l+1: u_{l+1}(t) = sample of s_l(t)       (piecewise constant)

Event criterion (per level and snippet; VPR's "expected" and "unexpected" criteria)::

    surprise    S(t)  = KL(q_l(t) || static prior)                (keep the state)
    change KL   K(t)  = KL(q_l(t) || change prior p_l(t))        (p_l(t): a learned transition of q_l(t-1))
    score       r(t)  = max( S / (S + gamma * A(t-1)),  S / (S + K) )       in [0, 1)
    change      r(t) > 0.5  and  level l-1 changed at t (level 0: every valid t >= 1)

The static prior is the Gaussian whose mean and log-variance average the level's posteriors since
its last change point (the evidence of the whole current segment, far less noisy than the one
posterior at the last change point); the state passed up and returned in ``latents`` is the
posterior at the last change point.
So a change when the surprise exceeds gamma times its running average ``A`` (an exponential
average of S over this level's steps WITHOUT a change, i.e. its noise floor, started at the median
of adjacent-snippet KLs over the level's candidate snippets of the video), or when the change
prior explains the posterior better than the static prior. The second criterion applies from level
:data:`CHANGE_PRIOR_MIN_LEVEL` (1) up: at level 0, where every snippet is a candidate, a transition
prior trained at its own change points learns to predict "no change" and the criterion then fires
on noise, a feedback we measured.
A level whose lower level did not change is blocked: it keeps its state and running average, so
change points of level l+1 are a subset of those of level l and higher levels mark longer units.
The video start is never a change point. ``change_scores`` are ``r`` (0 at blocked and padded
snippets); they carry no gradient.

Speed: posteriors, priors and all KL terms are computed for every snippet at once; only the
decisions (the held state and the running average) are a sequential scan over T
(wsal.model.decision_scan: a Triton kernel on CUDA, no host synchronisation; numpy on the host
elsewhere). The states are then gathered with a cumulative maximum of change indices, and the
segment means read from cumulative sums, both differentiable.

Unsupervised loss (``losses``; combine with :func:`changepoint_loss`):

* ``loss/cp_recon``: mean squared error (per value) of a fixed random projection of the features
  (:data:`RECON_DIM` values; the features themselves when D <= RECON_DIM) reconstructed by a small MLP
  decoder from the per-snippet level-0 posterior sample, plus for each level l >= 1 the
  mean squared error of the (detached) level-0 input ``u_0`` predicted from its held state: a
  segment summary (H values, not D: a (B, T, D) decoder per level would cost as much as the rest
  of the model);
* ``loss/cp_kl``: per level the KL of each posterior to the prior it was assigned (static prior
  where no change, change prior at a change point), plus the KL to the top-down prior predicted from
  the held state of the level above (standard normal for the top level): this is what trains the
  upper levels to summarise the lower ones. Summed over Z, averaged over valid snippets, summed
  over levels.

What this module does not do: turn change points into action segments (wsal.localize), combine
with the MIL loss (wsal.model.losses), or score boundaries (wsal.eval.changepoints).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsal.config import ChangePointConfig
from wsal.model.decision_scan import scan_decisions

CONTEXT_SNIPPETS = 2  # the level-0 posterior sees the current snippet and the one before
AVG_MOMENTUM = 0.9  # the running average of the surprise: exponential, over steps without a change
CHANGE_PRIOR_MIN_LEVEL = 1  # lowest level whose change prior may also declare a change (module docstring)
LOGVAR_MIN, LOGVAR_MAX = -6.0, 2.0  # posterior / prior log-variances are squashed into this range
RECON_DIM = 256  # the features are reconstructed through a fixed random projection to this size
HIDDEN_DIM = 128  # H: width of the input projection and of every small MLP
LATENT_DIM = 32  # Z: size of each level's Gaussian latent

@dataclass
class ChangePointOutput:
    """What :class:`ChangePointDetector` returns; L = num_levels."""

    change_scores: Tensor  # (B, L, T) float in [0, 1), detached; > 0.5 where a change point
    change_points: Tensor  # (B, L, T) bool; level l+1 points are a subset of level l points
    latents: list[Tensor]  # L x (B, T, Z) held state means (piecewise constant between change points)
    losses: dict[str, Tensor]  # "loss/cp_recon", "loss/cp_kl" (unweighted scalars)


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) for diagonal Gaussians, summed over the last axis.

    >>> z = torch.zeros(1, 2)
    >>> float(gaussian_kl(z, z, z, z))
    0.0
    >>> float(gaussian_kl(z + 1.0, z, z, z))  # 0.5 * |mu_q - mu_p|^2 with unit variances
    1.0
    """
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(-1)


def hold_index(change: Tensor) -> Tensor:
    """Index of the last change point at or before each snippet; snippet 0 counts as one.

    ``change`` (B, T) bool -> (B, T) long, via a cumulative maximum (no loop).

    >>> hold_index(torch.tensor([[False, False, True, False, False, True]])).tolist()
    [[0, 0, 2, 2, 2, 5]]
    """
    steps = torch.arange(change.shape[1], device=change.device).expand_as(change)
    return torch.where(change, steps, torch.zeros_like(steps)).cummax(dim=1).values


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, Z), index (B, T) -> x[b, index[b, t]] (B, T, Z)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _shift_right(x: Tensor) -> Tensor:
    """x (B, T, Z) -> x(t-1) with x(-1) := x(0)."""
    return torch.cat([x[:, :1], x[:, :-1]], dim=1)


def _segment_mean(x: Tensor, weight: Tensor, start: Tensor) -> Tensor:
    """Weighted mean of x (B, T, Z) over [start(t), t - 1] (at least snippet start(t)), for each t.

    ``start`` (B, T) long with start(t) <= max(t - 1, 0) (the last change point before t);
    ``weight`` (B, T, 1) is 1 where a snippet counts (it must be 1 at every start); t = 0 gives x(0).
    """
    csum = F.pad((x * weight).cumsum(dim=1), (0, 0, 1, 0))  # (B, T+1, Z): sum over snippets < n
    ccount = F.pad(weight.cumsum(dim=1), (0, 0, 1, 0))  # (B, T+1, 1)
    end = torch.arange(x.shape[1], device=x.device).clamp_min(1).expand(x.shape[0], -1)  # t - 1 inclusive -> t exclusive
    total = _gather_time(csum, end) - _gather_time(csum, start)
    count = _gather_time(ccount, end) - _gather_time(ccount, start)
    return total / count.clamp_min(1.0)


def segment_means(x: Tensor, change_points: Tensor, mask: Tensor) -> Tensor:
    """Mean of x (B, T, E) over each snippet's segment; a change point (B, T) bool starts a segment.

    Padded snippets (mask False) count in no mean (their own rows get their segment's mean).

    >>> x = torch.tensor([[[1.0], [3.0], [5.0], [9.0]]])
    >>> segment_means(x, torch.tensor([[False, False, True, False]]), torch.tensor([[True, True, True, False]]))[0, :, 0].tolist()
    [2.0, 2.0, 5.0, 5.0]
    """
    weight = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    segment = torch.cumsum((change_points & mask).long(), dim=1).unsqueeze(-1)  # (B, T, 1) segment id
    sums = torch.zeros_like(x).scatter_add(1, segment.expand_as(x), x * weight)  # (B, T, E) per segment id
    counts = torch.zeros_like(weight).scatter_add(1, segment, weight)
    return sums.gather(1, segment.expand_as(x)) / counts.gather(1, segment).clamp_min(1.0)


# Weight of "loss/cp_kl" (summed over Z) against "loss/cp_recon" (averaged over D): large enough to
# keep each level's posterior near its prior, small enough that q does not collapse onto it.
KL_WEIGHT = 0.002


def changepoint_loss(losses: dict[str, Tensor]) -> Tensor:
    """The weighted unsupervised loss ``cp_recon + KL_WEIGHT * cp_kl``."""
    return losses["loss/cp_recon"] + KL_WEIGHT * losses["loss/cp_kl"]


class _GaussianHead(nn.Module):
    """Hidden (.., H) -> (mu, logvar) (.., Z) each, log-variance squashed into a fixed range."""

    def __init__(self, hidden_dim: int, latent_dim: int, logvar_min: float, logvar_max: float) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_dim, 2 * latent_dim)
        self.logvar_min = logvar_min
        self.logvar_span = logvar_max - logvar_min

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        mu, raw = self.linear(h).chunk(2, dim=-1)
        return mu, self.logvar_min + self.logvar_span * torch.sigmoid(raw)


class _Posterior(nn.Module):
    """Causal encoder: u (B, T, Din) -> q(t) from u(t - context + 1 .. t)."""

    def __init__(self, in_dim: int, hidden_dim: int, latent_dim: int, context: int) -> None:
        super().__init__()
        self.context = context
        self.conv = nn.Conv1d(in_dim, hidden_dim, kernel_size=context)
        self.head = _GaussianHead(hidden_dim, latent_dim, LOGVAR_MIN, LOGVAR_MAX)

    def forward(self, u: Tensor) -> tuple[Tensor, Tensor]:
        h = F.pad(u.transpose(1, 2), (self.context - 1, 0))  # (B, Din, T + context - 1), past only
        return self.head(F.gelu(self.conv(h)).transpose(1, 2))


class _Prior(nn.Module):
    """Small MLP: z (.., Z_in) -> Gaussian (mu, logvar) (.., Z)."""

    def __init__(self, in_dim: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_dim, hidden_dim)
        self.head = _GaussianHead(hidden_dim, latent_dim, LOGVAR_MIN, LOGVAR_MAX)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(F.gelu(self.hidden(z)))


class ChangePointDetector(nn.Module):
    """L levels of Gaussian latents that change only at detected event boundaries (module docstring).

    ``hidden_dim`` (H) and ``latent_dim`` (Z) are :data:`HIDDEN_DIM` and :data:`LATENT_DIM` in the
    models; tests and benchmarks build smaller detectors."""

    def __init__(
        self, feature_dim: int, config: ChangePointConfig, hidden_dim: int = HIDDEN_DIM, latent_dim: int = LATENT_DIM
    ) -> None:
        super().__init__()
        if hidden_dim < 1 or latent_dim < 1:
            raise ValueError(f"hidden_dim and latent_dim must be >= 1, got {hidden_dim}, {latent_dim}")
        self.config = config
        h, z, n_levels = hidden_dim, latent_dim, config.num_levels
        self.input_proj = nn.Linear(feature_dim, h)
        # Level 0 sees a short causal context; higher levels see held states, which change only at
        # the lower level's change points, so a context there would smear one event over several steps.
        self.posteriors = nn.ModuleList(
            [_Posterior(h if lvl == 0 else z, h, z, CONTEXT_SNIPPETS if lvl == 0 else 1) for lvl in range(n_levels)]
        )
        self.transitions = nn.ModuleList([_Prior(z, h, z) for _ in range(n_levels)])
        self.top_down = nn.ModuleList([_Prior(z, h, z) for _ in range(n_levels - 1)])
        recon_dim = min(RECON_DIM, feature_dim)
        self.decoder = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, recon_dim))
        # Fixed random projection of the features (Johnson-Lindenstrauss: distances are kept up to
        # a small distortion), so the decoder does not produce (B, T, D) values. Identity when D is small.
        projection = torch.randn(feature_dim, recon_dim) / recon_dim**0.5 if recon_dim < feature_dim else torch.eye(feature_dim)
        self.register_buffer("recon_projection", projection, persistent=True)
        self.summaries = nn.ModuleList([nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h)) for _ in range(n_levels - 1)])

    def forward(self, features: Tensor, mask: Tensor) -> ChangePointOutput:
        """features (B, T, D) float, mask (B, T) bool with valid snippets first -> ChangePointOutput.

        Runs in float32 whatever the caller's autocast says: the detector's matrices are small
        (H, Z) and most of its work is element-wise, where autocast would only add a cast kernel
        in front of many operations (it doubled the operations of a step) and lose precision.
        """
        with torch.autocast(device_type=features.device.type, enabled=False):
            return self._forward(features.float(), mask)

    def _forward(self, features: Tensor, mask: Tensor) -> ChangePointOutput:
        if features.dim() != 3 or mask.shape != features.shape[:2]:
            raise ValueError(f"expected features (B, T, D) and mask (B, T), got {tuple(features.shape)} and {tuple(mask.shape)}")
        mask = mask.bool()
        # Checked where it costs nothing; on an accelerator the check would wait for the device
        # every step (wsal.data builds prefix masks by construction).
        if mask.device.type == "cpu" and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ValueError("mask must mark a prefix of valid snippets (padding only at the end)")
        cfg = self.config
        valid = mask.unsqueeze(-1).to(features.dtype)  # (B, T, 1)
        n_valid = valid.sum().clamp_min(1.0)
        # Padded snippets are zeroed after the pointwise projection (cheaper than on (B, T, D));
        # a causal conv then never lets them reach valid snippets, and every loss is masked.
        u = torch.where(mask.unsqueeze(-1), F.gelu(self.input_proj(features)), 0.0)  # (B, T, H)
        target = u.detach()  # what upper levels summarise: the level-0 input, fixed for them
        t_idx = torch.arange(features.shape[1], device=features.device)
        candidates = mask & (t_idx > 0)  # (B, T): level 0 may change at every valid snippet but the first

        posts, holds, states, changes, scores = [], [], [], [], []
        kl_assigned = []
        for level in range(cfg.num_levels):
            mu, logvar = self.posteriors[level](u)  # (B, T, Z) each
            mu_ch, logvar_ch = self.transitions[level](_shift_right(mu))  # change prior p(t) from q(t-1)
            kl_change = gaussian_kl(mu, logvar, mu_ch, logvar_ch)  # (B, T)
            change, score = scan_decisions(
                mu,
                logvar,
                kl_change,
                candidates,
                cfg.gamma,
                AVG_MOMENTUM,
                level >= CHANGE_PRIOR_MIN_LEVEL,
                True,  # the static prior is the segment's mean posterior
            )
            hold = hold_index(change)  # (B, T)
            prev_hold = _shift_right(hold.unsqueeze(-1)).squeeze(-1)  # state before snippet t
            weight = (candidates | (t_idx == 0)).unsqueeze(-1).to(mu.dtype)  # (B, T, 1) snippets that count
            # one pass over [mu | logvar] (B, T, 2Z): every column is averaged on its own
            mu_st, logvar_st = _segment_mean(torch.cat([mu, logvar], dim=-1), weight, prev_hold).chunk(2, dim=-1)
            kl_static = gaussian_kl(mu, logvar, mu_st, logvar_st)
            step_kl = torch.where(change, kl_change, kl_static)
            step_kl = torch.where(t_idx > 0, step_kl, torch.zeros_like(step_kl))  # snippet 0 has no previous state
            kl_assigned.append((step_kl * mask).sum() / n_valid)
            if self.training:
                sample = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            else:
                sample = mu
            state = _gather_time(sample, hold)  # (B, T, Z) held state, piecewise constant
            posts.append((mu, logvar, sample))
            holds.append(hold)
            states.append(state)
            changes.append(change)
            scores.append(score.to(features.dtype))
            u = state
            candidates = change

        with torch.no_grad():
            recon_target = torch.where(mask.unsqueeze(-1), features @ self.recon_projection, 0.0)  # (B, T, R)
        decoded = self.decoder(posts[0][2])  # (B, T, R) from the per-snippet level-0 sample
        recon = (((decoded - recon_target) ** 2) * valid).sum() / (n_valid * recon_target.shape[-1])
        for level in range(1, cfg.num_levels):
            summary = self.summaries[level - 1](states[level])  # (B, T, H)
            recon = recon + (((summary - target) ** 2) * valid).sum() / (n_valid * target.shape[-1])
        kl_top_down = features.new_zeros(())
        for level in range(cfg.num_levels):
            mu, logvar, _ = posts[level]
            if level + 1 < cfg.num_levels:
                mu_td, logvar_td = self.top_down[level](states[level + 1])
            else:
                mu_td, logvar_td = torch.zeros_like(mu), torch.zeros_like(logvar)
            kl_top_down = kl_top_down + (gaussian_kl(mu, logvar, mu_td, logvar_td) * mask).sum() / n_valid
        latents = [_gather_time(posts[level][0], holds[level]) for level in range(cfg.num_levels)]
        return ChangePointOutput(
            change_scores=torch.stack(scores, dim=1),
            change_points=torch.stack(changes, dim=1),
            latents=latents,
            losses={"loss/cp_recon": recon, "loss/cp_kl": torch.stack(kl_assigned).sum() + kl_top_down},
        )
