"""Snippet contrast with easy / hard mining (wsal.model.contrast): morphology, the loss by hand, padding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsal.model.contrast import COLA_TEMPERATURE, _dilate, _erode, snippet_contrast


def test_morphology_by_hand():
    a = torch.tensor([[0, 1, 1, 1, 1, 1, 0, 0, 0, 0]], dtype=torch.float32)
    valid = torch.ones_like(a)
    assert _dilate(a, 1).tolist() == [[1, 1, 1, 1, 1, 1, 1, 0, 0, 0]]
    assert _erode(a, 1, valid).tolist() == [[0, 0, 1, 1, 1, 0, 0, 0, 0, 0]]
    edge = torch.tensor([[1, 1, 1, 0]], dtype=torch.float32)  # a region at the video's start is not eroded there
    assert _erode(edge, 1, torch.ones_like(edge)).tolist() == [[1, 1, 0, 0]]


def test_snippet_contrast_by_hand():
    """T = 20: easy = 4 snippets, hard = 1. Actionness > 0.5 on snippets 6..13."""
    t = 20
    actionness = torch.full((1, t), 0.1)
    actionness[0, 6:14] = torch.tensor([0.6, 0.7, 0.8, 0.95, 0.99, 0.9, 0.75, 0.55])
    actionness[0, 3] = 0.45  # outer band (distance 3 before the region): the hard action
    actionness[0, 0:3] = torch.tensor([0.01, 0.02, 0.03])  # the lowest: easy background with snippet 19
    actionness[0, 19] = 0.0
    emb = torch.randn(1, t, 5, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, t, dtype=torch.bool)
    got = snippet_contrast(emb, actionness, mask)
    e = F.normalize(emb[0], dim=-1)
    easy_action = [10, 9, 11, 8]  # highest actionness
    easy_background = [19, 0, 1, 2]  # lowest
    # inner band: inside the region, eroded by 1 minus eroded by 3 = snippets 7, 8, 11, 12; lowest actionness: 7
    hard_background, hard_action = [7], [3]  # outer band: 3, 4, 15, 16 (dilated by 3 minus by 1); highest: 3

    def nce(query, positive, negatives):
        q, k = F.normalize(e[query].mean(0), dim=0), F.normalize(e[positive].mean(0), dim=0)
        logits = torch.cat([(q @ k)[None], e[negatives] @ q]) / COLA_TEMPERATURE
        return -torch.log_softmax(logits, 0)[0]

    want = 0.5 * (nce(hard_action, easy_action, easy_background) + nce(hard_background, easy_background, easy_action))
    assert float(got) == pytest.approx(float(want), rel=1e-5)


def test_snippet_contrast_skips_videos_without_hard_regions_and_ignores_padding():
    emb = torch.randn(2, 30, 6, generator=torch.Generator().manual_seed(2))
    flat = torch.full((1, 30), 0.2)  # nothing above 0.5: no hard region, no term
    assert float(snippet_contrast(emb[:1], flat, torch.ones(1, 30, dtype=torch.bool))) == 0.0
    act = torch.rand(1, 30, generator=torch.Generator().manual_seed(3))
    alone = snippet_contrast(emb[:1, :22], act[:, :22], torch.ones(1, 22, dtype=torch.bool))
    padded_mask = torch.zeros(1, 30, dtype=torch.bool)
    padded_mask[0, :22] = True
    padded_act = act.clone()
    padded_act[0, 22:] = 5.0  # padding must not be picked, whatever its value
    torch.testing.assert_close(snippet_contrast(emb[:1], padded_act, padded_mask), alone)
