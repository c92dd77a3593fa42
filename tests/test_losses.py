"""Losses: stable keys, hand-computed values, masking, weighting."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from wsal.config import ChangePointConfig, MILConfig
from wsal.model.changepoint import KL_WEIGHT
from wsal.model.losses import LOSS_KEYS, mil_loss_keys, class_targets, context_target, mil_losses, soft_cross_entropy
from wsal.model.wsal import ModelOutput, WsalModel


def _output(cas: torch.Tensor, attention_logits: torch.Tensor, video_logits: torch.Tensor) -> ModelOutput:
    attention = torch.softmax(attention_logits, dim=-1)[..., 0]
    return ModelOutput(
        cas=cas,
        attention=attention,
        attention_logits=attention_logits,
        video_logits=video_logits,
        embeddings=torch.zeros(*cas.shape[:2], 1),
    )


def test_keys_are_stable():
    assert LOSS_KEYS == (
        "loss/mil_fg", "loss/mil_bg", "loss/mil_ctx", "loss/sparsity",
        "loss/cp_recon", "loss/cp_kl", "loss/changepoint", "loss/total",
    )
    out = _output(torch.zeros(2, 6, 4), torch.zeros(2, 6, 3), torch.zeros(2, 4))
    losses = mil_losses(out, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), torch.ones(2, 6, dtype=torch.bool), MILConfig(suppression=False))
    assert tuple(losses) == LOSS_KEYS == mil_loss_keys(MILConfig(suppression=False))
    assert mil_loss_keys(MILConfig()) == (*LOSS_KEYS[:-1], "loss/mil_base", "loss/mil_cls", "loss/total")  # suppression: the default
    with pytest.raises(ValueError, match="suppression"):
        mil_losses(out, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), torch.ones(2, 6, dtype=torch.bool), MILConfig())


def test_hand_computed_values_with_uniform_outputs():
    # cas = 0 everywhere: every view's logits are 0, each softmax is uniform over C+1 = 4 columns.
    # attention logits 0: a_fg = a_bg = a_ctx = 1/3.
    out = _output(torch.zeros(1, 5, 4), torch.zeros(1, 5, 3), torch.zeros(1, 4))
    losses = mil_losses(out, torch.tensor([[1.0, 0.0, 1.0]]), torch.ones(1, 5, dtype=torch.bool), MILConfig(suppression=False))
    for key in ("loss/mil_fg", "loss/mil_bg", "loss/mil_ctx"):
        assert float(losses[key]) == pytest.approx(math.log(4), abs=1e-6)
    assert float(losses["loss/sparsity"]) == pytest.approx(1 / 3, abs=1e-6)
    expected_total = 3 * math.log(4) + 0.1 * (1 / 3)
    assert float(losses["loss/total"]) == pytest.approx(expected_total, abs=1e-5)


def test_foreground_view_rewards_the_labelled_class():
    labels = torch.tensor([[0.0, 1.0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    right = _output(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), torch.tensor([[0.0, 5.0, 0.0]]))
    wrong = _output(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), torch.tensor([[5.0, 0.0, 0.0]]))
    config = MILConfig(suppression=False)
    assert float(mil_losses(right, labels, mask, config)["loss/mil_fg"]) < 0.02
    assert float(mil_losses(wrong, labels, mask, config)["loss/mil_fg"]) > 4.9


def test_background_and_context_views_pool_their_attention():
    # Snippet 0: all background attention, background logit 10. Snippets 1-3: uniform attention
    # (1/3 each view), background logit 1. topk_ratio 4 -> k = 1 snippet per column.
    cas = torch.zeros(1, 4, 3)
    cas[0, :, 2] = torch.tensor([10.0, 1.0, 1.0, 1.0])
    att = torch.zeros(1, 4, 3)
    att[0, 0] = torch.tensor([-30.0, 30.0, -30.0])
    out = _output(cas, att, torch.zeros(1, 3))
    losses = mil_losses(out, torch.tensor([[1.0, 0.0]]), torch.ones(1, 4, dtype=torch.bool), MILConfig(topk_ratio=4, suppression=False))
    # bg view picks snippet 0 for the background column: logits [0, 0, 10], CE vs background
    assert float(losses["loss/mil_bg"]) == pytest.approx(math.log(2 + math.exp(10)) - 10, abs=1e-4)
    # ctx view: snippet 0 has ~0 context attention, so a snippet with logit 1 wins: logits [0, 0, 1];
    # target [1/2, 0, 1] / (3/2) = [1/3, 0, 2/3] -> CE = log(2 + e) - 2/3
    assert float(losses["loss/mil_ctx"]) == pytest.approx(math.log(2 + math.e) - 2 / 3, abs=1e-4)


def test_class_targets():
    actions, background, both = class_targets(torch.tensor([[0.0, 1.0, 1.0]]))
    assert actions.tolist() == [[0.0, 1.0, 1.0, 0.0]]
    assert background.tolist() == [[0.0, 0.0, 0.0, 1.0]]
    assert both.tolist() == [[0.0, 1.0, 1.0, 1.0]]
    # normalised targets: two classes + background, each 1/3
    assert float(soft_cross_entropy(torch.zeros(1, 4), both)) == pytest.approx(math.log(4), abs=1e-6)


def test_context_target_weighs_background_above_each_action():
    ctx = context_target(torch.tensor([[0.0, 1.0, 1.0]]))
    assert ctx.tolist() == [[0.0, 0.5, 0.5, 1.0]]
    # normalised: each action 1/4, background 1/2; logits favouring background lose less than
    # logits favouring one action by as much
    favour_bg = soft_cross_entropy(torch.tensor([[0.0, 0.0, 0.0, 2.0]]), ctx)
    favour_action = soft_cross_entropy(torch.tensor([[0.0, 2.0, 0.0, 0.0]]), ctx)
    assert float(favour_bg) < float(favour_action)


def test_padding_does_not_change_losses():
    torch.manual_seed(0)
    model = WsalModel(6, 3, MILConfig(embed_dim=8, topk_ratio=2)).eval()
    x = torch.randn(1, 10, 6)
    labels = torch.tensor([[0.0, 1.0, 0.0]])
    alone = mil_losses(model(x, torch.ones(1, 10, dtype=torch.bool)), labels, torch.ones(1, 10, dtype=torch.bool), model.config)
    padded = torch.cat([x, 50 * torch.randn(1, 6, 6)], dim=1)
    mask = torch.zeros(1, 16, dtype=torch.bool)
    mask[0, :10] = True
    with_pad = mil_losses(model(padded, mask), labels, mask, model.config)
    for key in mil_loss_keys(model.config):
        assert float(with_pad[key].detach()) == pytest.approx(float(alone[key].detach()), abs=1e-6), key


def test_total_sums_the_views_with_the_sparsity_weight():
    out = _output(torch.randn(2, 5, 3), torch.randn(2, 5, 3), torch.randn(2, 3))
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mask = torch.ones(2, 5, dtype=torch.bool)
    views = ("loss/mil_fg", "loss/mil_bg", "loss/mil_ctx")
    for sparsity in (0.7, 0.0):
        losses = mil_losses(out, labels, mask, MILConfig(weight_sparsity=sparsity, suppression=False))
        expected = sum(losses[k] for k in views) + sparsity * losses["loss/sparsity"]
        assert float(losses["loss/sparsity"]) > 0 and float(losses["loss/total"]) == pytest.approx(float(expected), abs=1e-6)


def test_changepoint_terms_join_the_total():
    cp = ChangePointConfig(enabled=True, num_levels=2)
    torch.manual_seed(0)
    model = WsalModel(6, 3, MILConfig(embed_dim=8, topk_ratio=2), cp).eval()
    x = torch.randn(2, 12, 6)
    mask = torch.ones(2, 12, dtype=torch.bool)
    labels = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    out = model(x, mask)
    losses = mil_losses(out, labels, mask, model.config)
    assert tuple(losses) == mil_loss_keys(model.config)
    recon, kl = (float(out.changepoint_losses[k].detach()) for k in ("loss/cp_recon", "loss/cp_kl"))
    assert recon > 0 and kl > 0
    assert float(losses["loss/changepoint"].detach()) == pytest.approx(recon + KL_WEIGHT * kl, rel=1e-6)
    mil_only = sum(float(losses[k].detach()) for k in ("loss/mil_fg", "loss/mil_bg", "loss/mil_ctx"))
    mil_only += 0.1 * float(losses["loss/sparsity"].detach()) + float(losses["loss/mil_base"].detach())
    mil_only += float(losses["loss/mil_cls"].detach())
    assert float(losses["loss/total"].detach()) == pytest.approx(mil_only + float(losses["loss/changepoint"].detach()), rel=1e-6)
    # without a detector the change-point keys are present and zero
    plain = mil_losses(WsalModel(6, 3, MILConfig(embed_dim=8, topk_ratio=2)).eval()(x, mask), labels, mask, model.config)
    assert float(plain["loss/changepoint"]) == 0.0 and float(plain["loss/cp_kl"]) == 0.0


def test_joint_padding_does_not_change_losses():
    cp = ChangePointConfig(enabled=True, num_levels=2)
    torch.manual_seed(0)
    model = WsalModel(6, 3, MILConfig(embed_dim=8, topk_ratio=2), cp).eval()
    x = torch.randn(1, 20, 6)
    labels = torch.tensor([[0.0, 1.0, 0.0]])
    alone = mil_losses(model(x, torch.ones(1, 20, dtype=torch.bool)), labels, torch.ones(1, 20, dtype=torch.bool), model.config)
    padded = torch.cat([x, 50 * torch.randn(1, 7, 6)], dim=1)
    mask = torch.zeros(1, 27, dtype=torch.bool)
    mask[0, :20] = True
    with_pad = mil_losses(model(padded, mask), labels, mask, model.config)
    for key in mil_loss_keys(model.config):
        assert float(with_pad[key].detach()) == pytest.approx(float(alone[key].detach()), abs=1e-5), key


def _outputs(seed: int, suppression: bool = True) -> tuple[ModelOutput, torch.Tensor, MILConfig]:
    """A small model's outputs on random features (2 videos x 10 snippets, 3 classes), its mask and config."""
    torch.manual_seed(seed)
    config = MILConfig(embed_dim=8, topk_ratio=2, suppression=suppression)
    x, mask = torch.randn(2, 10, 6), torch.ones(2, 10, dtype=torch.bool)
    return WsalModel(6, 3, config).eval()(x, mask), mask, config


def test_suppression_adds_the_base_view_with_the_context_target():
    out, mask, config = _outputs(0)
    losses = mil_losses(out, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), mask, config)
    want = soft_cross_entropy(out.extras["base_video_logits"], torch.tensor([[0.5, 0, 0, 1], [0, 0.5, 0.5, 1]]))
    torch.testing.assert_close(losses["loss/mil_base"], want)
    classes = soft_cross_entropy(out.extras["base_video_logits"][:, :3], torch.tensor([[1.0, 0, 0], [0, 1, 1]]))
    torch.testing.assert_close(losses["loss/mil_cls"], classes)
    rest = sum(losses[k] * w for k, w in (("loss/mil_fg", 1), ("loss/mil_bg", 1), ("loss/mil_ctx", 1), ("loss/sparsity", 0.1)))
    torch.testing.assert_close(losses["loss/total"], rest + want + classes)


def test_the_class_term_ignores_the_background_logit():
    """loss/mil_cls asks which action, never whether: moving the base view's background logit
    changes loss/mil_base and leaves loss/mil_cls as it was."""
    out, mask, config = _outputs(1)
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    louder = dataclasses.replace(out, extras={**out.extras, "base_video_logits": out.extras["base_video_logits"] + torch.tensor([0.0, 0, 0, 4])})
    before, after = mil_losses(out, labels, mask, config), mil_losses(louder, labels, mask, config)
    torch.testing.assert_close(after["loss/mil_cls"], before["loss/mil_cls"])
    assert float(after["loss/mil_base"]) != pytest.approx(float(before["loss/mil_base"]), abs=1e-3)
    # without suppression there is no base view and no class term
    plain, mask, config = _outputs(1, suppression=False)
    assert "loss/mil_cls" not in mil_losses(plain, labels, mask, config)
