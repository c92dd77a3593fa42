"""Two published WTAL methods, re-implemented from their papers, for comparison with wsal's model.

Both keep wsal's tensor convention and interfaces (``forward(features, mask) -> ModelOutput``,
``scores(out)``, ``base_probs(out)``), so they train in the same loop (``mil.method``), on the same data, with the
same embedding (:class:`wsal.model.mil.TemporalEmbedding`, sized by MILConfig), optimiser and
localization, and are scored by the same evaluator. Only what the papers define differs.

**BaS-Net** (Lee et al., "Background Suppression Network for Weakly-supervised Temporal Action
Localization", AAAI 2020), :class:`BasNetModel` and :func:`basnet_losses`:

* a background class: the CAS has C+1 columns, column C = background;
* a filtering module (temporal conv 3 -> 512 channels, ReLU, conv 1 -> 1, sigmoid) gives each
  snippet a foreground weight w in [0, 1];
* the *base* branch classifies the features as they are; its video logits (top-k mean over T, k
  = T_valid // topk_ratio) target the video's classes *and* background (every untrimmed video
  contains background);
* the *suppression* branch classifies the features times w, through the same embedding and
  classifier; its video logits target the video's classes only, so w must suppress background;
* loss = CE(base) + CE(suppression) + 1e-4 * L1 norm of w (summed over the video's snippets);
* localization reads the suppression branch: ``cas`` is its CAS, ``attention`` is w; the base
  branch's CAS is ``extras["base_cas"]``, for ``localize.base_proposals`` (``base_probs``), an
  option of the benchmark's post-processing for every method that has such a CAS.

**CoLA** (Zhang et al., "CoLA: Weakly-Supervised Temporal Action Localization with Snippet
Contrastive Learning", CVPR 2021), :class:`ColaModel` and :func:`cola_losses`:

* a C-class CAS (no background class: ``cas`` column C holds 0 and is never read); the video
  logits are the top-k mean over T (k = T_valid // topk_ratio), trained with CE against the
  normalised labels;
* actionness A = sigmoid(sum of the CAS over classes), the ``attention`` of localization;
* SniCo: snippet contrast with easy / hard snippet mining on the detached actionness
  (wsal.model.contrast);
* loss = CE + 0.01 * SniCo.

Our reading where a paper leaves a choice open: the classification loss is a soft cross-entropy
(wsal's); the embedding depth, width and dropout are wsal's MILConfig values for every method, so
differences come from the method, not the backbone (both published implementations drop 0.7 of
the embedding; on the hard synthetic benchmark's tuning videos that scored no higher for either
peer than the shared 0.5: experiments/notes/2026-12-07-dropout.md). The constants below are the
papers' values.

What this module does not do: run the change-point detector (the methods here have none), or
choose localization settings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsal.config import MILConfig
from wsal.model.losses import class_targets, soft_cross_entropy
from wsal.model.contrast import snippet_contrast
from wsal.model.mil import TemporalEmbedding, topk_pool
from wsal.model.wsal import ModelOutput, check_inputs

BASNET_FILTER_CHANNELS = 512
BASNET_NORM_WEIGHT = 1e-4
COLA_SNICO_WEIGHT = 0.01

BASNET_LOSS_KEYS: tuple[str, ...] = ("loss/base", "loss/supp", "loss/norm", "loss/total")
COLA_LOSS_KEYS: tuple[str, ...] = ("loss/cls", "loss/snico", "loss/total")


class _Backbone(nn.Module):
    """What both methods share: wsal's temporal embedding and a per-snippet linear classifier."""

    def __init__(self, feature_dim: int, num_classes: int, config: MILConfig, columns: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.config = config
        self.embedding = TemporalEmbedding(feature_dim, config.embed_dim, config.dropout)
        self.classifier = nn.Linear(config.embed_dim, columns)


class BasNetModel(_Backbone):
    """BaS-Net: shared embedding + C+1 classifier, a filtering module, base and suppression branches."""

    def __init__(self, feature_dim: int, num_classes: int, config: MILConfig) -> None:
        super().__init__(feature_dim, num_classes, config, num_classes + 1)
        self.filter_hidden = nn.Conv1d(feature_dim, BASNET_FILTER_CHANNELS, kernel_size=3, padding=1)
        self.filter_out = nn.Conv1d(BASNET_FILTER_CHANNELS, 1, kernel_size=1)

    def forward(self, features: Tensor, mask: Tensor) -> ModelOutput:
        check_inputs(features, mask, self.feature_dim)
        keep = mask.unsqueeze(-1).to(features.dtype)  # (B, T, 1)
        x = (features * keep).transpose(1, 2)  # (B, D, T)
        filter_logits = self.filter_out(torch.relu(self.filter_hidden(x))).squeeze(1)  # (B, T)
        filter_logits = filter_logits.float().masked_fill(~mask, 0.0)
        weights = torch.sigmoid(filter_logits).masked_fill(~mask, 0.0)  # (B, T)
        valid = mask.unsqueeze(-1)
        base_embeddings = self.embedding(features, mask)  # (B, T, E)
        base_cas = self.classifier(base_embeddings).masked_fill(~valid, 0.0)  # (B, T, C+1)
        supp_embeddings = self.embedding(features * weights.unsqueeze(-1).to(features.dtype), mask)  # (B, T, E)
        supp_cas = self.classifier(supp_embeddings).masked_fill(~valid, 0.0)  # (B, T, C+1)
        ratio = self.config.topk_ratio
        return ModelOutput(
            cas=supp_cas,
            attention=weights,
            attention_logits=filter_logits.unsqueeze(-1),  # (B, T, 1)
            video_logits=topk_pool(supp_cas, mask, ratio),  # (B, C+1)
            embeddings=supp_embeddings,
            extras={"base_video_logits": topk_pool(base_cas, mask, ratio), "base_cas": base_cas},
        )

    def scores(self, out: ModelOutput) -> tuple[Tensor, Tensor, Tensor]:
        """cas_probs (B, T, C), attention (B, T), video_scores (B, C): suppression-branch softmaxes, background dropped."""
        cas_probs = torch.softmax(out.cas.float(), dim=-1)[..., : self.num_classes]
        video_scores = torch.softmax(out.video_logits.float(), dim=-1)[..., : self.num_classes]
        return cas_probs, out.attention.float(), video_scores

    def base_probs(self, out: ModelOutput) -> Tensor | None:
        """(B, T, C): the base branch's CAS, softmax over C+1, background dropped (as WsalModel.base_probs)."""
        if out.extras is None or "base_cas" not in out.extras:
            raise ValueError("BasNetModel.base_probs needs the outputs of BasNetModel")
        return torch.softmax(out.extras["base_cas"].float(), dim=-1)[..., : self.num_classes]


def basnet_losses(out: ModelOutput, labels: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """BASNET_LOSS_KEYS for one batch of :class:`BasNetModel` outputs; ``labels`` (B, C) multi-hot."""
    if out.extras is None or "base_video_logits" not in out.extras:
        raise ValueError("basnet_losses needs the outputs of BasNetModel")
    actions, _, actions_and_background = class_targets(labels)  # (B, C+1) each
    base = soft_cross_entropy(out.extras["base_video_logits"], actions_and_background)
    supp = soft_cross_entropy(out.video_logits, actions)
    norm = (out.attention.float() * mask).sum(dim=1).mean()  # weights are >= 0: their L1 norm is their sum
    return {"loss/base": base, "loss/supp": supp, "loss/norm": norm, "loss/total": base + supp + BASNET_NORM_WEIGHT * norm}


class ColaModel(_Backbone):
    """CoLA: embedding + C-class classifier; actionness from the CAS; SniCo loss on the embeddings."""

    def __init__(self, feature_dim: int, num_classes: int, config: MILConfig) -> None:
        super().__init__(feature_dim, num_classes, config, num_classes)

    def forward(self, features: Tensor, mask: Tensor) -> ModelOutput:
        check_inputs(features, mask, self.feature_dim)
        embeddings = self.embedding(features, mask)  # (B, T, E)
        valid = mask.unsqueeze(-1)
        cas = self.classifier(embeddings).float().masked_fill(~valid, 0.0)  # (B, T, C)
        actionness_logits = cas.sum(dim=-1)  # (B, T)
        attention = torch.sigmoid(actionness_logits).masked_fill(~mask, 0.0)
        video_logits = topk_pool(cas, mask, self.config.topk_ratio)  # (B, C)
        return ModelOutput(
            cas=F.pad(cas, (0, 1)),  # (B, T, C+1): no background class, column C is 0
            attention=attention,
            attention_logits=actionness_logits.unsqueeze(-1),  # (B, T, 1)
            video_logits=F.pad(video_logits, (0, 1)),  # (B, C+1), column C is 0
            embeddings=embeddings,
        )

    def scores(self, out: ModelOutput) -> tuple[Tensor, Tensor, Tensor]:
        """cas_probs (B, T, C): softmax over the C classes; attention = actionness; video_scores (B, C)."""
        cas_probs = torch.softmax(out.cas.float()[..., : self.num_classes], dim=-1)
        video_scores = torch.softmax(out.video_logits.float()[..., : self.num_classes], dim=-1)
        return cas_probs, out.attention.float(), video_scores

    def base_probs(self, out: ModelOutput) -> Tensor | None:
        """None: CoLA has one CAS and no suppressed branch (see WsalModel.base_probs)."""
        return None


def cola_losses(out: ModelOutput, labels: Tensor, mask: Tensor, num_classes: int) -> dict[str, Tensor]:
    """COLA_LOSS_KEYS for one batch of :class:`ColaModel` outputs; ``labels`` (B, C) multi-hot."""
    cls = soft_cross_entropy(out.video_logits[:, :num_classes], labels.float())
    snico = snippet_contrast(out.embeddings, out.attention, mask)
    return {"loss/cls": cls, "loss/snico": snico, "loss/total": cls + COLA_SNICO_WEIGHT * snico}
