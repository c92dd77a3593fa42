"""Configuration of the hierarchical latent change-point detector (:mod:`wsal.model.changepoint`).

A plain dataclass with commented defaults; it is meant to move into :mod:`wsal.config` (nested in
``ExperimentConfig``) later. It imports no torch, so configs load without the model.

>>> ChangePointConfig().num_levels
3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class ChangePointConfig:
    """Hierarchical latent change-point detector: sizes, event criterion and loss weights."""

    num_levels: int = 3  # L: levels of latent states; higher levels change at slower rates
    hidden_dim: int = 128  # H: width of the input projection and of every small MLP
    latent_dim: int = 32  # Z: size of each level's Gaussian latent
    context_snippets: int = 2  # level-0 posterior sees this many snippets: the current one and its past
    state: Literal["last", "mean"] = "mean"  # held state: posterior at the last change, or mean since it
    gamma: float = 3.0  # a change when the surprise exceeds gamma x its running average ...
    avg_momentum: float = 0.9  # ... an exponential average of the surprise at steps without a change
    change_prior_criterion: bool = True  # ... or when the change prior explains the posterior better
    change_prior_min_level: int = 1  # lowest level using the change-prior criterion (see wsal.model.changepoint)
    logvar_min: float = -6.0  # posterior / prior log-variances are squashed into [logvar_min, logvar_max]
    logvar_max: float = 2.0
    recon_dim: int = 256  # reconstruct a fixed random projection of the features to this size (0: the features)
    recon_weight: float = 1.0  # weight of "loss/cp_recon" in changepoint_loss
    kl_weight: float = 0.002  # weight of "loss/cp_kl" (summed over Z, vs recon averaged over D); larger collapses q

    def __post_init__(self) -> None:
        if self.num_levels < 1:
            raise ValueError(f"num_levels must be >= 1, got {self.num_levels}")
        if self.recon_dim < 0:
            raise ValueError(f"recon_dim must be >= 0, got {self.recon_dim}")
        if self.hidden_dim < 1 or self.latent_dim < 1 or self.context_snippets < 1:
            raise ValueError("hidden_dim, latent_dim and context_snippets must be >= 1")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma}")
        if not 0.0 <= self.avg_momentum < 1.0:
            raise ValueError(f"avg_momentum must be in [0, 1), got {self.avg_momentum}")
        if not self.logvar_min < self.logvar_max:
            raise ValueError("logvar_min must be below logvar_max")
