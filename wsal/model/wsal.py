"""The composed WSAL model: features (B, T, D) + mask (B, T) -> :class:`ModelOutput`.

``forward`` is the same in training and evaluation (dropout aside) and works on any T, so a whole
video can be run at once (:mod:`wsal.inference` does). Outputs keep the model's tensor convention:

* ``cas`` (B, T, C+1) class activation logits, column C = background;
* ``attention_logits`` (B, T, 3) foreground / background / context, ``attention`` (B, T) the
  softmax probability of foreground (the comparison methods of wsal.model.baselines have one
  attention view: (B, T, 1));
* ``video_logits`` (B, C+1) the foreground view. With ``MILConfig.suppression`` (the default):
  the top-k mean of the CAS of the suppressed features (features x attention, through the same
  embedding and heads; that CAS is ``extras["supp_cas"]``, the one localization reads, and the
  top-k mean of the plain CAS is ``extras["base_video_logits"]``; :meth:`WsalModel.base_probs`
  turns the plain CAS into probabilities for localization). Without: per class, the k
  snippets with the highest ``attention * cas``, their logits averaged with attention weights
  (mil.attention_topk_pool);
* ``embeddings`` (B, T, E);
* with a :class:`~wsal.config.ChangePointConfig` whose ``enabled`` is true, the hierarchical
  change-point detector (wsal.model.changepoint) runs on the same batch: ``change_scores``
  (B, L, T) (> 0.5 at a change point of level l, 0 at padding) and ``changepoint_losses``
  (its unweighted "loss/cp_recon" and "loss/cp_kl", combined in wsal.model.losses). Without it
  both are None and the model is the attention MIL alone.

**What the detector reads**: the MIL embedding (B, T, E), *detached*. The detector keeps its own parameters (input projection, posteriors,
priors, decoder) and its loss never reaches the MIL: an unsupervised reconstruction objective
flowing into a shared embedding would pull the classifier's channels towards everything that
varies in the features (scene changes, distractor motion), which the weak labels teach the MIL to
ignore. Reading the detached embedding still lets the detector see what the MIL has learnt to
tell apart, so its changes fall on action boundaries; reading the raw input features instead left
change-point mode far behind (experiments/notes/2026-11-21-change-points.md).
bench/train_speed.py measures what the detector adds to a training step.

**Segment pooling** (with the detector): the CAS and attention heads read ``(1 - pool_mix) *
embedding + pool_mix * segment mean of the embedding`` (``pool_mix`` = :data:`POOL_MIX` and
``pool_level`` = :data:`POOL_LEVEL` but in tests), the segments cut at that level's change points (detached decisions; the means carry the gradient). This is how
the detector feeds back into the MIL: averaging within a detected event removes snippet noise
without blurring across the event's edges. Pooling over fixed windows instead gains less, and
heads that see segment means only lose: a segment that straddles a boundary then spoils both sides
(measured in experiments/README.md, "Change points on the easy benchmark (measured)").
With ``pool_level = -1`` the MIL trains exactly as without the detector (which is how tests
check that pooling is the detector's only way into the MIL). The two also meet at localization, where change
points can cut the video and the attention pick the segments (wsal.localize).

Padded snippets (mask False) never influence valid outputs; their own outputs are set to zero.

What this module does not do: losses (wsal.model.losses), sampling or batching (wsal.data),
turning scores into segments (wsal.localize).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from wsal.config import ChangePointConfig, MILConfig
from wsal.model.changepoint import ChangePointDetector, ChangePointOutput, segment_means
from wsal.model.mil import MILHeads, TemporalEmbedding, attention_topk_pool, topk_pool


# Weight of the segment mean in segment pooling: chosen on held-out synthetic videos among 0.1,
# 0.2 and 1.0 (experiments/README.md, "Segment pooling").
POOL_MIX = 0.2
# The detector level whose change points cut the pooled segments (-1: no pooling): level 0 gained
# most on the same held-out videos; level 1 and no pooling lost.
POOL_LEVEL = 0


def check_inputs(features: Tensor, mask: Tensor, feature_dim: int) -> None:
    """Raise ValueError unless ``features`` is (B, T, feature_dim) and ``mask`` bool (B, T): every model's contract."""
    if features.ndim != 3 or features.shape[-1] != feature_dim:
        raise ValueError(f"features must be (B, T, {feature_dim}), got {tuple(features.shape)}")
    if mask.shape != features.shape[:2] or mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool (B, T) = {tuple(features.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}")


@dataclass
class ModelOutput:
    cas: Tensor  # (B, T, C+1) class activation logits, last column = background
    attention: Tensor  # (B, T) foreground attention in [0, 1]
    attention_logits: Tensor  # (B, T, 3) foreground / background / context
    video_logits: Tensor  # (B, C+1) attention-weighted top-k pooled logits (foreground view)
    embeddings: Tensor  # (B, T, E)
    change_scores: Tensor | None = None  # (B, L, T) detached, with the change-point detector only
    changepoint_losses: dict[str, Tensor] | None = None  # "loss/cp_recon", "loss/cp_kl" (unweighted)
    extras: dict[str, Tensor] | None = None  # what a comparison method's loss needs besides the above (wsal.model.baselines)


class WsalModel(nn.Module):
    """Temporal embedding + CAS + three-way attention + attention-weighted top-k pooling
    (+ the change-point detector when ``changepoint.enabled``)."""

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        config: MILConfig,
        changepoint: ChangePointConfig | None = None,
        pool_mix: float = POOL_MIX,
        pool_level: int = POOL_LEVEL,
    ) -> None:
        super().__init__()
        if feature_dim < 1 or num_classes < 1:
            raise ValueError(f"feature_dim and num_classes must be >= 1, got {feature_dim}, {num_classes}")
        if not 0.0 <= pool_mix <= 1.0:
            raise ValueError(f"pool_mix must be in [0, 1], got {pool_mix}")
        self.pool_mix = pool_mix
        self.pool_level = pool_level
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.config = config
        self.embedding = TemporalEmbedding(feature_dim, config.embed_dim, config.dropout)
        self.heads = MILHeads(config.embed_dim, num_classes)
        self.changepoint_config = changepoint if changepoint is not None and changepoint.enabled else None
        self.detector = None
        if self.changepoint_config is not None:
            self.detector = ChangePointDetector(config.embed_dim, self.changepoint_config)
            if not -1 <= pool_level < self.changepoint_config.num_levels:
                raise ValueError(f"pool_level must be -1 (off) or a level in 0..{self.changepoint_config.num_levels - 1}, got {pool_level}")

    def _segment_pooled(self, x: Tensor, cp: ChangePointOutput | None, mask: Tensor) -> Tensor:
        """``x`` (B, T, E) mixed with its means over the detector's segments (segment pooling), or
        ``x`` itself without a detector or with ``pool_level`` -1."""
        if cp is None or self.pool_level < 0:
            return x
        pooled = segment_means(x, cp.change_points[:, self.pool_level], mask)  # (B, T, E)
        return (1.0 - self.pool_mix) * x + self.pool_mix * pooled

    def forward(self, features: Tensor, mask: Tensor) -> ModelOutput:
        check_inputs(features, mask, self.feature_dim)
        embeddings = self.embedding(features, mask)  # (B, T, E)
        cp, cp_cfg = None, self.changepoint_config
        if self.detector is not None and cp_cfg is not None:
            cp = self.detector(embeddings.detach(), mask)  # (B, T, E): the detector's loss stays out of the MIL
        cas, attention_logits = self.heads(self._segment_pooled(embeddings, cp, mask))  # (B, T, C+1), (B, T, 3)
        valid = mask.unsqueeze(-1)
        cas = cas.masked_fill(~valid, 0.0)
        attention_logits = attention_logits.masked_fill(~valid, 0.0)
        attention = torch.softmax(attention_logits.float(), dim=-1)[..., 0].masked_fill(~mask, 0.0)  # (B, T)
        extras = None
        if self.config.suppression:
            supp = self.embedding(features * attention.unsqueeze(-1).to(features.dtype), mask)  # (B, T, E)
            supp_cas = self.heads.cas(self._segment_pooled(supp, cp, mask)).masked_fill(~valid, 0.0)  # (B, T, C+1)
            extras = {"base_video_logits": topk_pool(cas, mask, self.config.topk_ratio), "supp_cas": supp_cas}
            video_logits = topk_pool(supp_cas, mask, self.config.topk_ratio)  # (B, C+1)
        else:
            video_logits = attention_topk_pool(cas, attention, mask, self.config.topk_ratio)  # (B, C+1)
        change_scores, cp_losses = None, None
        if cp is not None:
            change_scores = cp.change_scores.masked_fill(~mask.unsqueeze(1), 0.0)  # (B, L, T)
            cp_losses = cp.losses
        return ModelOutput(
            cas=cas,
            attention=attention,
            attention_logits=attention_logits,
            video_logits=video_logits,
            embeddings=embeddings,
            change_scores=change_scores,
            changepoint_losses=cp_losses,
            extras=extras,
        )

    def scores(self, out: ModelOutput) -> tuple[Tensor, Tensor, Tensor]:
        """Probabilities for localization: cas_probs (B, T, C), attention (B, T), video_scores (B, C).

        The CAS and the video scores are softmaxes over the C action columns only: the background
        logit is dropped *before* the softmax. They say which action a snippet or video shows; the
        attention says whether it shows one. Why: with the background column in the softmax, every
        snippet the background logit also claims gets a small class probability; in videos where
        one action fills most of the time (ActivityNet), the parts of the action that look least
        like its most discriminative moments lose their class score, and detections shrink to the
        action's core (measured on the hard benchmark's tuning subset, experiments/README.md). A
        video with two classes splits its video score between them.
        """
        cas = out.cas if out.extras is None or "supp_cas" not in out.extras else out.extras["supp_cas"]
        cas_probs = torch.softmax(cas.float()[..., : self.num_classes], dim=-1)
        video_scores = torch.softmax(out.video_logits.float()[..., : self.num_classes], dim=-1)
        return cas_probs, out.attention.float(), video_scores

    def base_probs(self, out: ModelOutput) -> Tensor | None:
        """(B, T, C) with ``MILConfig.suppression``: the plain (unsuppressed) CAS as probabilities
        over the C actions *and* background, background column dropped after the softmax. Where the
        attention took a snippet for context or background, the suppressed CAS has nothing to say
        (its input was multiplied by about 0); the plain CAS still scores the class there, and its
        background column says how action-like the snippet looks. localize.base_proposals reads it
        (wsal.localize). None without suppression: the model then has one CAS, ``scores`` reads it.
        """
        if not self.config.suppression:
            return None
        return torch.softmax(out.cas.float(), dim=-1)[..., : self.num_classes]
