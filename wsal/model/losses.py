"""Weakly-supervised losses of the attention-MIL model; one dict with stable keys.

Only video-level labels enter: ``labels`` (B, C) multi-hot. Each view's video logits come from
wsal.model.mil.attention_topk_pool with that view's attention (a_fg, a_bg, a_ctx: the softmax over
the three attention channels). Keys of the returned dict:

* ``loss/mil_fg`` -- the foreground view is classified as the video's actions, with background
  target 0. With ``MILConfig.suppression`` (the default) the foreground view is the top-k mean of
  the CAS of the *suppressed* features (features x a_fg, WsalModel), so background must be
  removed by the attention; without it, the CAS pooled with ``a_fg``.
* ``loss/mil_base`` -- with suppression only: the top-k mean of the plain CAS is classified as the
  video's actions *and* background (an untrimmed video contains both), with the context view's
  target (:func:`context_target`).
* ``loss/mil_cls`` -- with suppression only: the same top-k mean, over the C action columns alone
  (the background logit left out of the softmax), is classified as the video's actions. Why:
  localization reads class scores that way (WsalModel.scores), and every other term spends part
  of its target on the background column; early in training, predicting background everywhere
  lowers all of them at once, and the classes were learnt late. This term asks "which action?"
  from the first step: on the hard synthetic benchmark's tuning subset wsal converges sooner at
  the same accuracy with it (experiments/notes/2026-12-06-class-term.md).
* ``loss/mil_bg`` -- the background view (pooled with ``a_bg``) is classified as background only.
* ``loss/mil_ctx`` -- the context view (pooled with ``a_ctx``). Target (:func:`context_target`):
  the video's actions with weight :data:`CONTEXT_ACTION_WEIGHT` each and background with weight
  1, normalised (one action: 1/3 action, 2/3 background). Why: context snippets show the scene
  and appearance of the video's action but not its motion; they carry class evidence (asking "no
  action" of them would fight the appearance the classifier needs on true action snippets) yet
  are not the action (so they carry the background target too). The foreground view never gets
  the background target, which is what separates foreground from context. Why background
  weighs more than each action, here and in ``loss/mil_base``: on the hard synthetic
  benchmark's tuning subsets it was more accurate on every seed with both timings than equal
  weights; the gain comes from the base view's target (with THUMOS timing the context view's
  alone changed nothing), and on short runs over easy data it learns more slowly
  (experiments/notes/2026-12-07-context-target.md).
* ``loss/sparsity`` -- mean foreground attention over valid snippets (actions are a minority).
* ``loss/cp_recon``, ``loss/cp_kl`` -- the change-point detector's unsupervised terms (unweighted;
  wsal.model.changepoint), 0 when the model has no detector;
* ``loss/changepoint`` -- ``cp_recon + KL_WEIGHT * cp_kl`` (wsal.model.changepoint), 0
  without a detector;
* ``loss/total`` -- the sum of the MIL terms (the views and the class term with weight 1,
  ``loss/sparsity`` with ``MILConfig.weight_sparsity``) and ``loss/changepoint``. The views are the model's
  definition, not knobs; the sparsity prior depends on how much of a video the actions fill.
  (An attention-guidance term, ``|a_fg - (1 - p_bg)|``, pulled the attention down wherever the
  plain CAS found a snippet background-like and trimmed actions to their discriminative cores:
  experiments/notes/2026-12-06-completeness.md.)

Classification losses are cross-entropies against the normalised target (softmax over C+1, but
``loss/mil_cls``: over C).
Per-snippet terms are averaged over each video's valid snippets, then over the batch.

What this module does not do: see segment times (there are none in a batch), or optimise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wsal.config import MILConfig
from wsal.model.changepoint import changepoint_loss
from wsal.model.mil import attention_topk_pool
from wsal.model.wsal import ModelOutput

LOSS_KEYS: tuple[str, ...] = (
    "loss/mil_fg",
    "loss/mil_bg",
    "loss/mil_ctx",
    "loss/sparsity",
    "loss/cp_recon",
    "loss/cp_kl",
    "loss/changepoint",
    "loss/total",
)


def mil_loss_keys(config: MILConfig) -> tuple[str, ...]:
    """The keys :func:`mil_losses` returns, in order: LOSS_KEYS, with "loss/mil_base" and
    "loss/mil_cls" before "loss/total" when ``config.suppression``."""
    return (*LOSS_KEYS[:-1], "loss/mil_base", "loss/mil_cls", LOSS_KEYS[-1]) if config.suppression else LOSS_KEYS


def soft_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of ``-sum(target * log_softmax(logits))``; target rows are normalised.

    >>> round(float(soft_cross_entropy(torch.zeros(1, 4), torch.tensor([[1.0, 1.0, 0.0, 0.0]]))), 4)  # log 4
    1.3863
    """
    target = target / target.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return -(target * torch.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over each video's valid snippets, then over the batch: (B, T) -> scalar.

    >>> masked_mean(torch.tensor([[1.0, 3.0, 99.0], [2.0, 2.0, 2.0]]), torch.tensor([[True, True, False], [True] * 3]))
    tensor(2.)
    """
    m = mask.to(torch.float32)
    per_video = (values.float() * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
    return per_video.mean()


def class_targets(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Targets (B, C+1), not yet normalised: the video's actions, background only, and the actions
    and background equally weighted (BaS-Net's base branch, wsal.model.baselines).

    >>> actions, background, both = class_targets(torch.tensor([[1.0, 0.0]]))
    >>> actions.tolist(), background.tolist(), both.tolist()
    ([[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0]])
    """
    labels = labels.float()
    zero = torch.zeros_like(labels[:, :1])
    one = torch.ones_like(labels[:, :1])
    return torch.cat([labels, zero], dim=1), torch.cat([torch.zeros_like(labels), one], dim=1), torch.cat([labels, one], dim=1)


CONTEXT_ACTION_WEIGHT = 0.5  # each action's weight in the context target, background's is 1 (module docstring)


def context_target(labels: Tensor) -> Tensor:
    """Target (B, C+1), not yet normalised, of the context view and of the base view: each of the
    video's actions with weight CONTEXT_ACTION_WEIGHT, background with weight 1.

    >>> context_target(torch.tensor([[1.0, 0.0]])).tolist()
    [[0.5, 0.0, 1.0]]
    """
    labels = labels.float()
    return torch.cat([labels * CONTEXT_ACTION_WEIGHT, torch.ones_like(labels[:, :1])], dim=1)


def mil_losses(out: ModelOutput, labels: Tensor, mask: Tensor, config: MILConfig) -> dict[str, Tensor]:
    """All loss terms for one batch: ``out`` of WsalModel, ``labels`` (B, C) multi-hot, ``mask`` (B, T)."""
    views = torch.softmax(out.attention_logits.float(), dim=-1)  # (B, T, 3)
    cas = out.cas.float()  # (B, T, C+1)
    bg_logits = attention_topk_pool(cas, views[..., 1], mask, config.topk_ratio)  # (B, C+1)
    ctx_logits = attention_topk_pool(cas, views[..., 2], mask, config.topk_ratio)  # (B, C+1)
    fg_target, bg_target, _ = class_targets(labels)
    ctx_target = context_target(labels)
    losses = {
        "loss/mil_fg": soft_cross_entropy(out.video_logits, fg_target),
        "loss/mil_bg": soft_cross_entropy(bg_logits, bg_target),
        "loss/mil_ctx": soft_cross_entropy(ctx_logits, ctx_target),
        "loss/sparsity": masked_mean(out.attention.float(), mask),
    }
    zero = cas.new_zeros(())
    if out.changepoint_losses is not None:
        losses["loss/cp_recon"] = out.changepoint_losses["loss/cp_recon"].float()
        losses["loss/cp_kl"] = out.changepoint_losses["loss/cp_kl"].float()
        losses["loss/changepoint"] = changepoint_loss(out.changepoint_losses).float()
    else:
        losses["loss/cp_recon"] = losses["loss/cp_kl"] = losses["loss/changepoint"] = zero
    base = zero
    if config.suppression:
        if out.extras is None or "base_video_logits" not in out.extras:
            raise ValueError("MILConfig.suppression: the outputs come from a model built without it")
        base_logits = out.extras["base_video_logits"]  # (B, C+1)
        losses["loss/mil_base"] = soft_cross_entropy(base_logits, ctx_target)
        losses["loss/mil_cls"] = soft_cross_entropy(base_logits[:, : labels.shape[1]], labels.float())  # over the C actions
        base = losses["loss/mil_base"] + losses["loss/mil_cls"]
    mil_terms = losses["loss/mil_fg"] + losses["loss/mil_bg"] + losses["loss/mil_ctx"]
    losses["loss/total"] = losses["loss/changepoint"] + base + mil_terms + config.weight_sparsity * losses["loss/sparsity"]
    return losses
