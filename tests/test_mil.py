"""Attention-MIL model: shapes, masked padding invariance, top-k pooling, whole-video inference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsal.config import ChangePointConfig, MILConfig
from wsal.model.mil import TemporalEmbedding, attention_topk_pool, topk_counts, topk_pool
from wsal.config import ExperimentConfig
from wsal.inference import run_network_batch
from wsal.model.wsal import ModelOutput, WsalModel

D, C = 10, 4


@pytest.fixture
def model() -> WsalModel:
    torch.manual_seed(0)
    m = WsalModel(D, C, MILConfig(embed_dim=12, topk_ratio=4))
    m.embedding = TemporalEmbedding(D, 12, 0.5, kernel=5, layers=2)  # padding must stay invisible through stacked, wider convolutions
    return m.eval()


def test_output_shapes_and_ranges(model):
    x = torch.randn(3, 17, D)
    mask = torch.ones(3, 17, dtype=torch.bool)
    with torch.no_grad():
        out = model(x, mask)
    assert isinstance(out, ModelOutput)
    assert out.cas.shape == (3, 17, C + 1)
    assert out.attention.shape == (3, 17)
    assert out.attention_logits.shape == (3, 17, 3)
    assert out.video_logits.shape == (3, C + 1)
    assert out.embeddings.shape == (3, 17, 12)
    assert out.change_scores is None
    cas_probs, attention, video_scores = model.scores(out)
    assert cas_probs.shape == (3, 17, C) and video_scores.shape == (3, C)
    for t in (cas_probs, attention, video_scores):
        assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    # attention is the foreground channel of a softmax over the three views
    expected = torch.softmax(out.attention_logits, dim=-1)[..., 0]
    torch.testing.assert_close(out.attention, expected)


def test_padding_with_junk_changes_nothing_valid(model):
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(1, 20, D, generator=gen)
    b = torch.randn(1, 13, D, generator=gen)
    alone_a = model(a, torch.ones(1, 20, dtype=torch.bool))
    alone_b = model(b, torch.ones(1, 13, dtype=torch.bool))
    junk = 1e3 * torch.randn(1, 5 + 12, D, generator=gen)  # 5 rows pad a, 12 pad b
    batch = torch.cat([torch.cat([a, junk[:, :5]], dim=1), torch.cat([b, junk[:, 5:]], dim=1)])  # (2, 25, D)
    mask = torch.zeros(2, 25, dtype=torch.bool)
    mask[0, :20] = True
    mask[1, :13] = True
    with torch.no_grad():
        out = model(batch, mask)
    for i, (alone, t_valid) in enumerate(((alone_a, 20), (alone_b, 13))):
        for name in ("cas", "attention", "attention_logits", "embeddings"):
            torch.testing.assert_close(getattr(out, name)[i, :t_valid], getattr(alone, name)[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(out.video_logits[i], alone.video_logits[0], atol=1e-6, rtol=0)
    # padded positions are zeroed
    assert float(out.attention[1, 13:].abs().max()) == 0.0
    assert float(out.cas[1, 13:].abs().max()) == 0.0


def test_padding_gets_no_gradient(model):
    x = torch.randn(2, 9, D, requires_grad=True)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False
    out = model(x, mask)
    (out.video_logits.sum() + out.cas.sum() + out.attention.sum()).backward()
    assert float(x.grad[1, 6:].abs().max()) == 0.0
    assert float(x.grad[1, :6].abs().max()) > 0.0


def test_topk_pool_per_video_k():
    values = torch.tensor([[1.0, 9.0, 3.0, 7.0, 5.0, 2.0, 8.0, 4.0], [6.0, 2.0, 4.0, 100.0, 100.0, 100.0, 100.0, 100.0]])
    mask = torch.tensor([[True] * 8, [True, True, True] + [False] * 5])
    assert topk_counts(mask, 3).tolist() == [2, 1]
    pooled = topk_pool(values.unsqueeze(-1), mask, 3)  # k = 8 // 3 = 2 (9, 8), k = max(1, 3 // 3) = 1 (6)
    assert pooled.squeeze(-1).tolist() == [8.5, 6.0]
    # each column pools on its own
    two = torch.stack([values, -values], dim=-1)
    pooled2 = topk_pool(two, mask, 3)
    assert pooled2[0].tolist() == [8.5, -1.5]  # -1, -2 are the largest of the negated row
    assert pooled2[1].tolist() == [6.0, -2.0]


def test_video_logits_are_attention_weighted_topk():
    """Without suppression, the foreground view pools the CAS with the attention."""
    torch.manual_seed(0)
    model = WsalModel(D, C, MILConfig(embed_dim=12, topk_ratio=4, suppression=False)).eval()
    x = torch.randn(1, 16, D)
    mask = torch.ones(1, 16, dtype=torch.bool)
    with torch.no_grad():
        out = model(x, mask)
    cas, att = out.cas[0].numpy(), out.attention[0].numpy()
    expected = []
    for j in range(C + 1):  # reference: the 4 (= 16 // 4) best a * cas, attention-weighted mean of cas
        best = np.argsort(-(att * cas[:, j]))[:4]
        expected.append((att[best] * cas[best, j]).sum() / att[best].sum())
    np.testing.assert_allclose(out.video_logits[0].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_attention_topk_pool_keeps_the_logit_scale_for_tiny_attention():
    cas = torch.tensor([[[2.0], [6.0], [4.0], [0.0]]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    for scale in (1.0, 1e-4):
        att = scale * torch.tensor([[1.0, 1.0, 0.4, 1.0]])
        # k = 2: a * cas = [2, 6, 1.6, 0] * scale selects snippets 1 and 0 -> (6 + 2) / 2
        assert float(attention_topk_pool(cas, att, mask, 2)) == pytest.approx(4.0)
    att = torch.tensor([[0.1, 0.9, 0.9, 0.1]])
    assert float(attention_topk_pool(cas, att, mask, 2)) == pytest.approx(5.0)  # (0.9*6 + 0.9*4) / 1.8


def _infer(model, feats):
    """One whole video through the production inference path (wsal.inference)."""
    video = run_network_batch(model, [feats], ExperimentConfig(), torch.device("cpu"), ["v"], [None])[0]
    return video.cas_probs, video.attention, video.video_scores


def test_inference_matches_forward_and_takes_any_length(model):
    feats = np.random.default_rng(0).standard_normal((37, D)).astype(np.float32)
    cas_probs, attention, video_scores = _infer(model, feats)
    assert cas_probs.shape == (37, C) and attention.shape == (37,) and video_scores.shape == (C,)
    assert cas_probs.dtype == np.float32
    with torch.no_grad():
        ref = model.scores(model(torch.from_numpy(feats)[None], torch.ones(1, 37, dtype=torch.bool)))
    np.testing.assert_allclose(cas_probs, ref[0][0].numpy(), atol=1e-7)
    np.testing.assert_allclose(video_scores, ref[2][0].numpy(), atol=1e-7)
    assert not model.training
    one = _infer(model, feats[:1])
    assert one[0].shape == (1, C)


def test_bad_inputs_raise(model):
    with pytest.raises(ValueError, match="features must be"):
        model(torch.randn(2, 5, D + 1), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be bool"):
        model(torch.randn(2, 5, D), torch.ones(2, 5))
    with pytest.raises(ValueError, match="kernel must be odd"):
        TemporalEmbedding(D, 12, 0.5, kernel=2)


# --------------------------------------------------------------------------- joint model (MIL + change-point detector)

JOINT_CP = ChangePointConfig(enabled=True, num_levels=2, gamma=1.0)


def _joint(seed: int = 0, pool_level: int = -1, pool_mix: float = 1.0) -> WsalModel:
    torch.manual_seed(seed)
    return WsalModel(D, C, MILConfig(embed_dim=12, topk_ratio=4), JOINT_CP, pool_mix=pool_mix, pool_level=pool_level)


def test_detector_only_when_enabled():
    assert WsalModel(D, C, MILConfig(embed_dim=8)).detector is None
    assert WsalModel(D, C, MILConfig(embed_dim=8), ChangePointConfig(enabled=False)).detector is None
    model = _joint().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 30, D), torch.ones(2, 30, dtype=torch.bool))
    assert out.change_scores.shape == (2, JOINT_CP.num_levels, 30)
    assert set(out.changepoint_losses) == {"loss/cp_recon", "loss/cp_kl"}
    # the detector's weights are part of the model's state (standalone checkpoints)
    assert any(k.startswith("detector.") for k in model.state_dict())


@pytest.mark.parametrize("pool_level", [-1, 0, 1])
def test_joint_padding_with_junk_changes_nothing_valid(pool_level):
    model = _joint(pool_level=pool_level, pool_mix=0.5).eval()
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(1, 40, D, generator=gen), torch.randn(1, 23, D, generator=gen)
    batch = 1e3 * torch.randn(2, 45, D, generator=gen)
    batch[0, :40], batch[1, :23] = a[0], b[0]
    mask = torch.zeros(2, 45, dtype=torch.bool)
    mask[0, :40], mask[1, :23] = True, True
    with torch.no_grad():
        out = model(batch, mask)
        for i, (x, n) in enumerate(((a, 40), (b, 23))):
            alone = model(x, torch.ones(1, n, dtype=torch.bool))
            assert alone.change_scores.gt(0.5).any(), "the example must contain change points"
            for name in ("cas", "attention"):
                torch.testing.assert_close(getattr(out, name)[i, :n], getattr(alone, name)[0], atol=1e-6, rtol=0)
            # scores are ratios of KL terms: float noise of the batched convolutions grows to ~1e-6;
            # the decisions themselves are identical
            torch.testing.assert_close(out.change_scores[i, :, :n], alone.change_scores[0], atol=1e-5, rtol=0)
            assert torch.equal(out.change_scores[i, :, :n] > 0.5, alone.change_scores[0] > 0.5)
            torch.testing.assert_close(out.video_logits[i], alone.video_logits[0], atol=1e-6, rtol=0)
        assert not out.change_scores[1, :, 23:].any()


@pytest.mark.parametrize("pool_level", [-1, 0])
def test_joint_gradients_reach_every_parameter(pool_level):
    from wsal.model.losses import mil_losses

    model = _joint(seed=1, pool_level=pool_level, pool_mix=0.5).train()
    x = torch.randn(3, 60, D)
    x[:, 30:] += 3.0  # a planted change, so every level fires and every transition prior is used
    mask = torch.ones(3, 60, dtype=torch.bool)
    labels = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 1.0]])
    out = model(x, mask)
    assert out.change_scores.gt(0.5).any(dim=2).all(), "every level must fire somewhere"
    mil_losses(out, labels, mask, model.config)["loss/total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_detector_reads_the_detached_mil_embedding():
    from wsal.model.losses import mil_losses

    cp = JOINT_CP
    torch.manual_seed(0)
    model = WsalModel(D, C, MILConfig(embed_dim=12, topk_ratio=4), cp).train()
    assert model.detector.input_proj.in_features == 12  # the embedding width, not D
    x = torch.randn(2, 40, D)
    mask = torch.ones(2, 40, dtype=torch.bool)
    losses = mil_losses(model(x, mask), torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]), mask, model.config)
    losses["loss/changepoint"].backward()
    # the change-point loss trains the detector only: the MIL embedding and heads get no gradient from it
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("detector."))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if n.startswith("detector."))


@pytest.mark.parametrize("pool_level", [0, 1])
def test_segment_pooling_reads_segment_means(pool_level):
    """With pool_mix 1 the heads see one embedding per segment: CAS and attention are constant
    between the pooling level's change points; pool_mix 0 is the snippet embedding alone."""
    x = torch.randn(2, 50, D, generator=torch.Generator().manual_seed(3))
    x[:, 25:] += 3.0  # a planted change, so the segments are not the whole video
    mask = torch.ones(2, 50, dtype=torch.bool)
    with torch.no_grad():
        pooled = _joint(pool_level=pool_level, pool_mix=1.0).eval()(x, mask)
        points = pooled.change_scores[:, pool_level] > 0.5  # (B, T)
        assert points.any()
        for b in range(2):
            cuts = [0, *torch.nonzero(points[b]).flatten().tolist(), 50]
            assert len(cuts) > 2
            for start, stop in zip(cuts[:-1], cuts[1:]):
                seg = pooled.cas[b, start:stop]
                torch.testing.assert_close(seg, seg[:1].expand_as(seg), atol=1e-5, rtol=0)
        assert not torch.allclose(pooled.cas[0, 0], pooled.cas[0, -1])
        off = _joint(pool_level=-1).eval()(x, mask)
        unmixed = _joint(pool_level=pool_level, pool_mix=0.0).eval()(x, mask)
    torch.testing.assert_close(unmixed.cas, off.cas)


def test_pool_settings_are_checked():
    with pytest.raises(ValueError, match="pool_level"):
        WsalModel(D, C, MILConfig(embed_dim=8), JOINT_CP, pool_level=2)  # JOINT_CP has levels 0 and 1
    with pytest.raises(ValueError, match="pool_mix"):
        WsalModel(D, C, MILConfig(embed_dim=8), JOINT_CP, pool_mix=1.5)


def _suppressing(**mil) -> WsalModel:
    torch.manual_seed(3)
    return WsalModel(D, C, MILConfig(embed_dim=12, topk_ratio=4, suppression=True, **mil))


def test_suppression_classifies_the_attention_weighted_features():
    """The foreground view is the top-k of the CAS of (features x attention) through the same
    embedding and heads; localization reads that CAS; the unsuppressed CAS keeps the views."""
    model = _suppressing().eval()
    x, mask = torch.randn(2, 16, D), torch.ones(2, 16, dtype=torch.bool)
    with torch.no_grad():
        out = model(x, mask)
        supp_cas = model.heads.cas(model.embedding(x * out.attention.unsqueeze(-1), mask))
    torch.testing.assert_close(out.extras["supp_cas"], supp_cas)
    torch.testing.assert_close(out.video_logits, topk_pool(supp_cas, mask, 4))
    torch.testing.assert_close(out.extras["base_video_logits"], topk_pool(out.cas, mask, 4))
    cas_probs, _, _ = model.scores(out)
    torch.testing.assert_close(cas_probs, torch.softmax(supp_cas[..., :C], dim=-1))
    # the plain CAS for localize.base_proposals: background in the softmax, its column dropped
    torch.testing.assert_close(model.base_probs(out), torch.softmax(out.cas, dim=-1)[..., :C])
    assert float(model.base_probs(out).sum(dim=-1).max()) < 1.0


def test_scores_are_over_the_action_classes_only():
    """The background logit never enters cas_probs or video_scores: they sum to 1 over the C classes."""
    model = WsalModel(D, C, MILConfig(embed_dim=12, topk_ratio=4, suppression=False)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 9, D), torch.ones(2, 9, dtype=torch.bool))
    cas_probs, _, video_scores = model.scores(out)
    assert model.base_probs(out) is None  # one CAS without suppression: scores reads it
    torch.testing.assert_close(cas_probs.sum(dim=-1), torch.ones(2, 9))
    torch.testing.assert_close(video_scores.sum(dim=-1), torch.ones(2))
    louder = dataclasses.replace(out, cas=out.cas + 5.0 * F.one_hot(torch.tensor(C), C + 1),
                                 video_logits=out.video_logits + 5.0 * F.one_hot(torch.tensor(C), C + 1))
    again, _, again_video = model.scores(louder)
    torch.testing.assert_close(again, cas_probs)
    torch.testing.assert_close(again_video, video_scores)


def test_suppression_ignores_padding():
    model = _suppressing().eval()
    x = torch.randn(2, 20, D)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 11:] = False
    x[1, 11:] = 1e3
    with torch.no_grad():
        out = model(x, mask)
        alone = model(x[1:, :11], torch.ones(1, 11, dtype=torch.bool))
    torch.testing.assert_close(out.extras["supp_cas"][1, :11], alone.extras["supp_cas"][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.video_logits[1], alone.video_logits[0], atol=1e-5, rtol=0)


def test_suppression_alone_trains_the_attention():
    """The foreground classification alone trains the attention: through the suppressed features."""
    from wsal.model.losses import mil_losses

    model = _suppressing().train()
    x, mask = torch.randn(2, 16, D), torch.ones(2, 16, dtype=torch.bool)
    losses = mil_losses(model(x, mask), torch.eye(C)[:2], mask, model.config)
    assert "loss/mil_base" in losses
    losses["loss/mil_fg"].backward()
    assert float(model.heads.attention.weight.grad.abs().sum()) > 0
