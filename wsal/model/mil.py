"""Attention multiple-instance learning: masked temporal embedding, CAS and 3-way attention heads,
and attention-weighted top-k pooling.

The pieces, with the shape convention of the whole model (B videos, T snippets, D feature
columns, E embedding channels, C action classes; column C of the CAS is background):

* :class:`TemporalEmbedding` -- a 1D convolution over T, (B, T, D) -> (B, T, E). Padded snippets
  are zeroed before every convolution, so a video padded on the right gives exactly the outputs of
  the same video alone (a convolution sees zeros past the end either way).
* :class:`MILHeads` -- per-snippet class activation logits (B, T, C+1) and attention logits
  (B, T, 3) for foreground / background / context. Context snippets share an action's scene
  (appearance) but not its motion; a separate attention channel lets the model set them apart
  from both true action snippets and plain background.
* :func:`attention_topk_pool` -- the video-level logits of one attention view: per video and
  class, the k = max(1, T_valid // r) valid snippets with the highest ``attention * cas``,
  averaged with attention weights. :func:`topk_pool` is the plain masked top-k mean.

What this module does not do: compute losses (wsal.model.losses), turn logits into
probabilities (WsalModel.scores), or know about segments in seconds.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

ATTENTION_VIEWS: tuple[str, ...] = ("foreground", "background", "context")  # channels of attention_logits

# Temporal kernel of the embedding convolution: 3 snippets (about 2 s), as the published WTAL
# embeddings use. Wider kernels (5, 7) traded low-tIoU for high-tIoU accuracy on one timing of the
# hard synthetic benchmark and lost on the other (experiments/notes/2026-12-06-completeness.md).
EMBED_KERNEL = 3


class TemporalEmbedding(nn.Module):
    """``layers`` masked Conv1d + ReLU + dropout blocks over time: (B, T, D) -> (B, T, E).

    The models use one block of kernel :data:`EMBED_KERNEL` (the published WTAL embeddings do too);
    more blocks widen the temporal context, and the masking holds for any number and any odd kernel
    (tests check two blocks).
    """

    def __init__(
        self, feature_dim: int, embed_dim: int, dropout: float, kernel: int = EMBED_KERNEL, layers: int = 1
    ) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 1, got {kernel}")
        if layers < 1:
            raise ValueError(f"embed_layers must be >= 1, got {layers}")
        dims = [feature_dim] + [embed_dim] * layers
        self.convs = nn.ModuleList(
            nn.Conv1d(dims[i], dims[i + 1], kernel_size=kernel, padding=kernel // 2) for i in range(layers)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        keep = mask.unsqueeze(1).to(features.dtype)  # (B, 1, T)
        x = features.transpose(1, 2)  # (B, D, T)
        for conv in self.convs:
            x = self.dropout(torch.relu(conv(x * keep)))  # zero padding before each conv
        return (x * keep).transpose(1, 2)  # (B, T, E)


class MILHeads(nn.Module):
    """Per-snippet heads on the embedding: CAS logits (B, T, C+1) and attention logits (B, T, 3)."""

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        self.cas = nn.Linear(embed_dim, num_classes + 1)
        self.attention = nn.Linear(embed_dim, len(ATTENTION_VIEWS))

    def forward(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        return self.cas(embeddings), self.attention(embeddings)  # (B, T, C+1), (B, T, 3)


def topk_counts(mask: Tensor, ratio: int) -> Tensor:
    """Snippets pooled per video: max(1, T_valid // ratio), shape (B,).

    >>> topk_counts(torch.tensor([[True] * 20, [True] * 3 + [False] * 17]), 8).tolist()
    [2, 1]
    """
    if ratio < 1:
        raise ValueError(f"topk_ratio must be >= 1, got {ratio}")
    return torch.clamp(mask.sum(dim=1) // ratio, min=1)


def topk_pool(values: Tensor, mask: Tensor, ratio: int) -> Tensor:
    """Mean of the k largest valid values over time per video and column: (B, T, K) -> (B, K).

    k = max(1, T_valid // ratio) for each video; padded snippets never enter. Computed in float32.

    >>> v = torch.tensor([[[1.0], [5.0], [3.0], [100.0]]])
    >>> topk_pool(v, torch.tensor([[True, True, True, False]]), 1)  # mean of 5, 3, 1
    tensor([[3.]])
    >>> topk_pool(v, torch.tensor([[True, True, True, False]]), 2)  # k = 3 // 2 = 1
    tensor([[5.]])
    """
    counts = topk_counts(mask, ratio)  # (B,)
    filled = values.float().masked_fill(~mask.unsqueeze(-1), float("-inf"))  # (B, T, K)
    k_max = max(1, mask.shape[1] // ratio)  # >= every count, known without reading the device
    top = filled.topk(k_max, dim=1).values  # (B, k_max, K), descending
    rank = torch.arange(k_max, device=values.device).view(1, k_max, 1)
    taken = torch.where(rank < counts.view(-1, 1, 1), top, torch.zeros_like(top))
    return taken.sum(dim=1) / counts.view(-1, 1).to(taken.dtype)


def attention_topk_pool(cas: Tensor, attention: Tensor, mask: Tensor, ratio: int) -> Tensor:
    """Video logits of one attention view: (B, T, K) logits, (B, T) attention -> (B, K).

    Per video and column, the k = max(1, T_valid // ratio) valid snippets with the largest
    attention-weighted logit ``attention * cas`` are selected, and their logits are averaged with
    the attention as weights: ``sum(a * cas) / sum(a)`` over the selection. Dividing by the
    selected attention keeps the result on the scale of the logits however small the attention
    is, so a view whose attention is uniformly low still gets (and passes on) a full gradient.

    >>> cas = torch.tensor([[[1.0], [4.0], [2.0], [9.0]]])
    >>> att = torch.tensor([[0.5, 0.5, 1.0, 0.9]])
    >>> attention_topk_pool(cas, att, torch.tensor([[True, True, True, False]]), 2)  # k=1: 0.5*4 > 1*2
    tensor([[4.]])
    >>> attention_topk_pool(cas, att, torch.tensor([[True, True, True, False]]), 1)  # (0.5+2+2) / 2
    tensor([[2.2500]])
    """
    counts = topk_counts(mask, ratio)  # (B,)
    values = cas.float()
    weights = attention.float().unsqueeze(-1).expand_as(values)  # (B, T, K)
    score = (values * weights).masked_fill(~mask.unsqueeze(-1), float("-inf"))
    k_max = max(1, mask.shape[1] // ratio)  # >= every count, known without reading the device
    index = score.topk(k_max, dim=1).indices  # (B, k_max, K)
    rank = torch.arange(k_max, device=cas.device).view(1, k_max, 1)
    taken = (rank < counts.view(-1, 1, 1)).to(values.dtype)  # (B, k_max, 1)
    w = weights.gather(1, index) * taken  # (B, k_max, K)
    return (w * values.gather(1, index)).sum(dim=1) / w.sum(dim=1).clamp_min(1e-12)
