"""The comparison methods (BaS-Net, CoLA): outputs, padding, losses by hand, and
that they train, resume and localize through the same commands as wsal's model."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from wsal.cli import main
from wsal.config import ConfigError, ExperimentConfig, MILConfig, apply_overrides, config_from_dict
from wsal.model.baselines import (
    BASNET_LOSS_KEYS,
    BASNET_NORM_WEIGHT,
    COLA_LOSS_KEYS,
    COLA_SNICO_WEIGHT,
    BasNetModel,
    ColaModel,
    basnet_losses,
    cola_losses,
)
from wsal.model.methods import build_model, loss_keys, model_losses
from wsal.model.wsal import ModelOutput, WsalModel
from wsal.raw import RawReader
from wsal.synthetic import make_synthetic_dataset
from wsal.train import load_checkpoint

D, C = 10, 4


def _config(method: str) -> ExperimentConfig:
    return config_from_dict(ExperimentConfig, apply_overrides({}, [f"mil.method={method}", "mil.embed_dim=12", "mil.topk_ratio=4"]))


@pytest.mark.parametrize("method", ["basnet", "cola"])
def test_outputs_follow_the_model_convention_and_ignore_padding(method):
    torch.manual_seed(0)
    model = build_model(D, C, _config(method)).eval()
    x = torch.randn(3, 17, D)
    mask = torch.ones(3, 17, dtype=torch.bool)
    mask[1, 9:] = False
    mask[2, 13:] = False
    with torch.no_grad():
        out = model(x, mask)
    assert out.cas.shape == (3, 17, C + 1) and out.attention.shape == (3, 17) and out.video_logits.shape == (3, C + 1)
    assert out.attention_logits.shape == (3, 17, 1)
    assert float(out.attention.min()) >= 0 and float(out.attention.max()) <= 1
    assert float(out.cas[~mask].abs().max()) == 0 and float(out.attention[~mask].abs().max()) == 0
    cas_probs, attention, video_scores = model.scores(out)
    assert cas_probs.shape == (3, 17, C) and video_scores.shape == (3, C)
    if method == "basnet":  # the base branch's CAS (plain features), for localize.base_proposals
        with torch.no_grad():
            base_cas = model.classifier(model.embedding(x, mask))
        torch.testing.assert_close(model.base_probs(out)[mask], torch.softmax(base_cas, dim=-1)[..., :C][mask])
    else:
        assert model.base_probs(out) is None
    for i, t in ((1, 9), (2, 13)):
        with torch.no_grad():
            alone = model(x[i : i + 1, :t], torch.ones(1, t, dtype=torch.bool))
        torch.testing.assert_close(out.cas[i, :t], alone.cas[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.attention[i, :t], alone.attention[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(out.video_logits[i], alone.video_logits[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", ["basnet", "cola"])
def test_every_parameter_gets_a_gradient(method):
    torch.manual_seed(1)
    config = _config(method)
    model = build_model(D, C, config).train()
    x = torch.rand(4, 40, D) * 3
    mask = torch.ones(4, 40, dtype=torch.bool)
    labels = torch.eye(C)
    losses = model_losses(model(x, mask), labels, mask, config, C)
    assert tuple(losses) == loss_keys(config)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss/total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_build_model_and_loss_keys_follow_the_method():
    assert isinstance(build_model(D, C, _config("basnet")), BasNetModel)
    assert isinstance(build_model(D, C, _config("cola")), ColaModel)
    assert isinstance(build_model(D, C, ExperimentConfig()), WsalModel)
    assert loss_keys(_config("basnet")) == BASNET_LOSS_KEYS and loss_keys(_config("cola")) == COLA_LOSS_KEYS
    with pytest.raises(ConfigError, match="mil.method"):
        config_from_dict(ExperimentConfig, {"mil": {"method": "umnet"}})


def _output(**kw) -> ModelOutput:
    b, t = kw["attention"].shape
    base = dict(cas=torch.zeros(b, t, C + 1), attention_logits=torch.zeros(b, t, 1), embeddings=torch.zeros(b, t, 3))
    base.update(kw)
    return ModelOutput(**base)


def test_basnet_losses_by_hand():
    attention = torch.tensor([[0.5, 0.25, 1.0, 0.9]])
    mask = torch.tensor([[True, True, True, False]])
    base = torch.tensor([[2.0, 0.0, 0.0, 0.0, 2.0]])  # video class 0 and background equally likely
    supp = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0]])  # uniform over the C+1 columns
    out = _output(attention=attention, video_logits=supp, extras={"base_video_logits": base})
    losses = basnet_losses(out, torch.tensor([[1.0, 0, 0, 0]]), mask)
    log_z = math.log(2 * math.exp(2.0) + 3)
    assert float(losses["loss/base"]) == pytest.approx(log_z - 2.0, rel=1e-5)  # -(0.5 log p0 + 0.5 log p_bg)
    assert float(losses["loss/supp"]) == pytest.approx(math.log(C + 1), rel=1e-5)
    assert float(losses["loss/norm"]) == pytest.approx(1.75)  # padding not counted
    assert float(losses["loss/total"]) == pytest.approx(log_z - 2.0 + math.log(C + 1) + BASNET_NORM_WEIGHT * 1.75, rel=1e-5)


def test_cola_losses_weigh_classification_and_contrast():
    torch.manual_seed(3)
    config = _config("cola")
    model = build_model(D, C, config).eval()
    x, mask = torch.randn(2, 24, D), torch.ones(2, 24, dtype=torch.bool)
    out = model(x, mask)
    assert float(out.cas[..., C].detach().abs().max()) == 0  # no background class
    torch.testing.assert_close(out.attention, torch.sigmoid(out.cas[..., :C].sum(-1)))
    losses = cola_losses(out, torch.tensor([[1.0, 0, 0, 0], [0, 0, 1.0, 0]]), mask, C)
    torch.testing.assert_close(losses["loss/total"], losses["loss/cls"] + COLA_SNICO_WEIGHT * losses["loss/snico"])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("synthetic")
    return make_synthetic_dataset(out, seed=0, num_train_videos=12, num_test_videos=4, num_classes=3, feature_dim=16, snippets=(30, 60))


@pytest.mark.parametrize("method", ["basnet", "cola"])
def test_methods_train_resume_and_localize_through_the_commands(tmp_path, tiny_data, method):
    torch.set_num_threads(1)
    store, gt = tiny_data
    common = ["--features", str(store), "--annotations", str(gt), "--device", "cpu", "--set", f"mil.method={method}",
              "--set", "mil.embed_dim=16", "--set", "data.num_snippets=32", "--set", "train.batch_size=4",
              "--set", "train.log_every=2", "--set", "train.checkpoint_every=2"]  # fmt: skip
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(["train", "--out", str(whole), "--set", "train.max_steps=4", *common]) == 0
    assert main(["train", "--out", str(split), "--set", "train.max_steps=2", *common]) == 0
    assert main(["train", "--out", str(split), "--resume", "--set", "train.max_steps=4", "--device", "cpu"]) == 0
    a, b = torch.load(whole / "model.pt", weights_only=True), torch.load(split / "model.pt", weights_only=True)
    for key, value in a["model"].items():
        torch.testing.assert_close(value, b["model"][key], rtol=0, atol=0)
    with (whole / "log.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    config = config_from_dict(ExperimentConfig, {"mil": {"method": method}})
    assert list(rows[0]) == ["step", *loss_keys(config), "lr", "steps_per_s"]
    assert all(np.isfinite(float(r["loss/total"])) for r in rows)
    loaded = load_checkpoint(whole / "model.pt")
    assert type(loaded.model) is type(build_model(16, 3, config))
    pred, raw = tmp_path / "pred.json", tmp_path / "raw.h5"
    assert main(["localize", "--checkpoint", str(whole / "model.pt"), "--features", str(store), "--annotations", str(gt),
                 "--subset", "test", "--out", str(pred), "--save-raw", str(raw), "--device", "cpu"]) == 0  # fmt: skip
    assert pred.is_file() and raw.is_file()
    with RawReader(raw) as reader:  # BaS-Net keeps its base branch's CAS for plain-CAS proposals; CoLA has none
        assert all((v.base_probs is not None) == (method == "basnet") for v in reader)


def test_wsal_method_is_the_default_and_unchanged():
    assert MILConfig().method == "wsal"
    config = config_from_dict(ExperimentConfig, {"mil": {"embed_dim": 12}})
    torch.manual_seed(0)
    a = WsalModel(D, C, config.mil, config.changepoint).state_dict()
    torch.manual_seed(0)
    b = build_model(D, C, config).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
