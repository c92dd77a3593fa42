"""Snippet contrast with easy / hard snippet mining (CoLA's "SniCo" loss), on any model's embeddings.

Zhang et al., "CoLA: Weakly-Supervised Temporal Action Localization with Snippet Contrastive
Learning", CVPR 2021, re-implemented from the paper. Given per-snippet embeddings and an
actionness in [0, 1] (only read, never differentiated), per video:

* *easy action* / *easy background*: the T_valid // 5 snippets of highest / lowest actionness;
* actionness is cut at 0.5; *hard background* lies inside a cut region, 2-3 snippets from its
  edge (``erode(r=1) - erode(r=3)``: the T_valid // 20 of them with the lowest actionness), and
  *hard action* outside, 2-3 snippets from the edge (``dilate(r=3) - dilate(r=1)``: the T_valid //
  20 with the highest actionness). Where a region is empty, that video adds no term;
* an InfoNCE on L2-normalised embeddings at temperature 0.07: the mean hard-action embedding must
  match the mean easy-action embedding against each easy-background snippet, and the mean
  hard-background embedding the mean easy-background one against each easy-action snippet.

Hard snippets near the edges of what the model calls action are pulled towards the side their
embedding should join: this is what extends a detection from its most discriminative core to the
whole action. Our reading where the paper leaves a choice open: hard snippets are chosen by
actionness within their region (not at random).

What this module does not do: weigh the loss, or produce the actionness (CoLA's comes from its
CAS, wsal's from its foreground attention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

COLA_EASY_RATIO = 5  # easy snippets: T_valid // 5
COLA_HARD_RATIO = 20  # hard snippets: T_valid // 20
COLA_THRESHOLD = 0.5  # actionness cut for the hard regions
COLA_INNER_RADII = (1, 3)  # hard background: eroded by 1 minus eroded by 3
COLA_OUTER_RADII = (1, 3)  # hard action: dilated by 3 minus dilated by 1
COLA_TEMPERATURE = 0.07


def _dilate(binary: Tensor, radius: int) -> Tensor:
    """Binary dilation over T by ``radius`` snippets: (B, T) float 0/1 -> (B, T)."""
    return F.max_pool1d(binary.unsqueeze(1), 2 * radius + 1, stride=1, padding=radius).squeeze(1)


def _erode(binary: Tensor, radius: int, mask: Tensor) -> Tensor:
    """Binary erosion over T by ``radius`` snippets; snippets beyond the video count as inside."""
    outside = (1.0 - binary) * mask  # background within the video only
    return binary * (1.0 - _dilate(outside, radius))


def _select_rows(embeddings: Tensor, score: Tensor, allowed: Tensor, counts: Tensor, ratio: int) -> tuple[Tensor, Tensor]:
    """The ``counts`` highest-``score`` allowed snippets per video (fewer where fewer are allowed).

    embeddings (B, T, E), score (B, T), allowed (B, T) bool, counts (B,) <= T // ratio ->
    (B, k, E) rows and (B, k) bool "taken", k = max(1, T // ratio) (known without reading the device).
    """
    k_max = max(1, score.shape[1] // ratio)
    top = score.masked_fill(~allowed, float("-inf")).topk(k_max, dim=1)
    rank = torch.arange(k_max, device=score.device).unsqueeze(0)  # (1, k)
    taken = (rank < counts.unsqueeze(1)) & torch.isfinite(top.values)  # (B, k)
    rows = torch.gather(embeddings, 1, top.indices.unsqueeze(-1).expand(-1, -1, embeddings.shape[-1]))  # (B, k, E)
    return rows, taken


def _mean_rows(rows: Tensor, taken: Tensor) -> tuple[Tensor, Tensor]:
    """Mean of the taken rows: (B, k, E), (B, k) -> (B, E) and (B,) bool "at least one taken"."""
    weight = taken.to(rows.dtype).unsqueeze(-1)
    total = weight.sum(dim=1)  # (B, 1)
    return (rows * weight).sum(dim=1) / total.clamp_min(1.0), total.squeeze(1) > 0


def _info_nce(query: Tensor, positive: Tensor, negatives: Tensor, negative_taken: Tensor) -> Tensor:
    """Per-video InfoNCE: query, positive (B, E), negatives (B, k, E), all L2-normalised -> (B,)."""
    pos = (query * positive).sum(dim=-1, keepdim=True) / COLA_TEMPERATURE  # (B, 1)
    neg = torch.einsum("be,bke->bk", query, negatives) / COLA_TEMPERATURE  # (B, k)
    neg = neg.masked_fill(~negative_taken, float("-inf"))
    logits = torch.cat([pos, neg], dim=1)  # (B, 1 + k)
    return -torch.log_softmax(logits, dim=1)[:, 0]


def snippet_contrast(embeddings: Tensor, actionness: Tensor, mask: Tensor) -> Tensor:
    """CoLA's SniCo loss with its hard and easy snippet mining (module docstring): a scalar.

    ``embeddings`` (B, T, E) carry the gradient; ``actionness`` (B, T) in [0, 1] is only read.
    Videos where a hard region is empty add nothing to that half of the loss.
    """
    emb = F.normalize(embeddings.float(), dim=-1)
    score = actionness.detach().float()
    t_valid = mask.sum(dim=1)  # (B,)
    easy = torch.clamp(t_valid // COLA_EASY_RATIO, min=1)
    hard = torch.clamp(t_valid // COLA_HARD_RATIO, min=1)
    binary = ((score > COLA_THRESHOLD) & mask).float()
    inside = mask.float()
    inner = (_erode(binary, COLA_INNER_RADII[0], inside) - _erode(binary, COLA_INNER_RADII[1], inside)) > 0
    outer = (_dilate(binary, COLA_OUTER_RADII[1]) - _dilate(binary, COLA_OUTER_RADII[0])) > 0
    inner, outer = inner & mask, outer & mask
    ea_rows, ea_taken = _select_rows(emb, score, mask, easy, COLA_EASY_RATIO)
    eb_rows, eb_taken = _select_rows(emb, -score, mask, easy, COLA_EASY_RATIO)
    easy_action, has_ea = _mean_rows(ea_rows, ea_taken)
    easy_background, has_eb = _mean_rows(eb_rows, eb_taken)
    hard_action, has_ha = _mean_rows(*_select_rows(emb, score, outer, hard, COLA_HARD_RATIO))
    hard_background, has_hb = _mean_rows(*_select_rows(emb, -score, inner, hard, COLA_HARD_RATIO))
    action_term = _info_nce(F.normalize(hard_action, dim=-1), F.normalize(easy_action, dim=-1), eb_rows, eb_taken)  # (B,)
    background_term = _info_nce(F.normalize(hard_background, dim=-1), F.normalize(easy_background, dim=-1), ea_rows, ea_taken)
    use_a = (has_ha & has_ea).float()
    use_b = (has_hb & has_eb).float()
    total = (action_term * use_a).sum() + (background_term * use_b).sum()
    return total / (use_a.sum() + use_b.sum()).clamp_min(1.0)
