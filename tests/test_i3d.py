"""Tests of features/i3d.py: key layout, strict loading, TF 'same' shapes, equivalence with the port.

The equivalence tests compare InceptionI3d with ``reference_forward`` below: a minimal functional
forward written for this test (torch.nn.functional conv3d / batch_norm / max_pool3d) that reads the
same state_dict and follows the published architecture of the widely used PyTorch port
(github.com/piergiaj/pytorch-i3d, ``pytorch_i3d.py``): unit order, channel widths, kernels, strides,
TF 'SAME' padding (TF's own formula here, not the module's), BN eps 1e-3, the final
``AvgPool3d([2, 7, 7], stride 1)`` and a biased 1x1x1 logits conv.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsal.errors import WsalError
from wsal.features.i3d import InceptionI3d, extract_clip_features, load_i3d, same_padding

# ---------------------------------------------------------------- reference (port's architecture)

# (name, b0, b1a, b1b, b2a, b2b, b3b) as listed in the port's InceptionI3d.__init__.
REF_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def tf_same_pad(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """TensorFlow's documented SAME rule: total = max((ceil(n / s) - 1) * s + k - n, 0)."""
    pads = []
    for n, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def ref_unit(sd, name, x, kernel=(1, 1, 1), stride=(1, 1, 1)):
    x = F.conv3d(tf_same_pad(x, kernel, stride), sd[f"{name}.conv3d.weight"], None, stride)
    x = F.batch_norm(
        x, sd[f"{name}.bn.running_mean"], sd[f"{name}.bn.running_var"], sd[f"{name}.bn.weight"],
        sd[f"{name}.bn.bias"], training=False, eps=1e-3,
    )  # fmt: skip
    return F.relu(x)


def ref_pool(x, kernel, stride):
    return F.max_pool3d(tf_same_pad(x, kernel, stride), kernel, stride)


def ref_mixed(sd, name, x):
    b0 = ref_unit(sd, f"{name}.b0", x)
    b1 = ref_unit(sd, f"{name}.b1b", ref_unit(sd, f"{name}.b1a", x), (3, 3, 3))
    b2 = ref_unit(sd, f"{name}.b2b", ref_unit(sd, f"{name}.b2a", x), (3, 3, 3))
    b3 = ref_unit(sd, f"{name}.b3b", ref_pool(x, (3, 3, 3), (1, 1, 1)))
    return torch.cat([b0, b1, b2, b3], dim=1)


def reference_trunk(sd, x):
    """Clips -> Mixed_5c output, following the port's layer sequence."""
    x = ref_unit(sd, "Conv3d_1a_7x7", x, (7, 7, 7), (2, 2, 2))
    x = ref_pool(x, (1, 3, 3), (1, 2, 2))
    x = ref_unit(sd, "Conv3d_2b_1x1", x)
    x = ref_unit(sd, "Conv3d_2c_3x3", x, (3, 3, 3))
    x = ref_pool(x, (1, 3, 3), (1, 2, 2))
    x = ref_mixed(sd, "Mixed_3b", x)
    x = ref_mixed(sd, "Mixed_3c", x)
    x = ref_pool(x, (3, 3, 3), (2, 2, 2))
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
        x = ref_mixed(sd, name, x)
    x = ref_pool(x, (2, 2, 2), (2, 2, 2))
    x = ref_mixed(sd, "Mixed_5b", x)
    return ref_mixed(sd, "Mixed_5c", x)


def reference_forward(sd, x):
    """The port at 16x224x224: AvgPool3d([2, 7, 7], stride 1) -> (B, 1024); logits -> (B, classes)."""
    pooled = F.avg_pool3d(reference_trunk(sd, x), (2, 7, 7), stride=1)  # (B, 1024, 1, 1, 1)
    logits = F.conv3d(pooled, sd["logits.conv3d.weight"], sd["logits.conv3d.bias"])
    return pooled.flatten(1), logits.flatten(1)


# ---------------------------------------------------------------- fixtures


def randomized_state(model: InceptionI3d, seed: int) -> dict[str, torch.Tensor]:
    """Random weights with non-trivial BN statistics; He-scaled convs keep activations O(1)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in model.state_dict().items():
        if key.endswith("conv3d.weight"):
            new = torch.randn(value.shape, generator=gen) * math.sqrt(2.0 / value[0].numel())
        elif key.endswith(("running_var", "bn.weight")):
            new = 0.5 + torch.rand(value.shape, generator=gen)
        elif key.endswith(("running_mean", "bn.bias", "conv3d.bias")):
            new = 0.1 * torch.randn(value.shape, generator=gen)
        else:
            new = value.clone()  # num_batches_tracked
        out[key] = new
    return out


def random_model(in_channels: int = 3, seed: int = 0, num_classes: int = 400) -> InceptionI3d:
    model = InceptionI3d(in_channels, num_classes)
    model.load_state_dict(randomized_state(model, seed))
    return model.eval()


def clips(shape, seed: int = 1) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def model_224():
    """One random RGB model, a 1x3x16x224x224 clip, and every stage output (computed once)."""
    model = random_model(3, seed=0)
    x = clips((1, 3, 16, 224, 224))
    with torch.inference_mode():
        stages = {name: out for name, out in model.stages(x)}
    return model, x, stages


# ---------------------------------------------------------------- key layout


def test_same_padding_matches_tf_formula():
    for size in range(1, 40):
        for kernel in (1, 2, 3, 7):
            for stride in (1, 2):
                total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
                assert same_padding(size, kernel, stride) == (total // 2, total - total // 2)


def test_state_dict_key_layout():
    sd = InceptionI3d(3).state_dict()
    keys = set(sd)
    # 57 BN conv units x 5 tensors + logits weight/bias = 287; + 57 num_batches_tracked = 344.
    assert len(keys) == 344
    assert len([k for k in keys if not k.endswith("num_batches_tracked")]) == 287
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    unit = lambda p: {f"{p}.conv3d.weight"} | {f"{p}.bn.{s}" for s in bn}  # noqa: E731
    assert {k for k in keys if k.startswith("Conv3d_1a_7x7.")} == unit("Conv3d_1a_7x7")
    assert {k for k in keys if k.startswith("Conv3d_2c_3x3.")} == unit("Conv3d_2c_3x3")
    expected_3b = set().union(*(unit(f"Mixed_3b.{b}") for b in ("b0", "b1a", "b1b", "b2a", "b2b", "b3b")))
    assert {k for k in keys if k.startswith("Mixed_3b.")} == expected_3b
    assert {k for k in keys if k.startswith("logits.")} == {"logits.conv3d.weight", "logits.conv3d.bias"}
    prefixes = {k.split(".")[0] for k in keys}
    assert prefixes == {"Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "logits", *REF_MIXED}
    assert not [k for k in keys if k.endswith("conv3d.bias") and k != "logits.conv3d.bias"]


def test_state_dict_shapes():
    sd = InceptionI3d(3).state_dict()
    assert sd["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert sd["Conv3d_2b_1x1.conv3d.weight"].shape == (64, 64, 1, 1, 1)
    assert sd["Conv3d_2c_3x3.conv3d.weight"].shape == (192, 64, 3, 3, 3)
    assert sd["Mixed_3b.b1b.conv3d.weight"].shape == (128, 96, 3, 3, 3)
    assert sd["Mixed_4b.b0.conv3d.weight"].shape == (192, 480, 1, 1, 1)
    assert sd["Mixed_5c.b2b.bn.running_var"].shape == (128,)
    assert sd["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    assert sd["logits.conv3d.bias"].shape == (400,)
    assert InceptionI3d(2).state_dict()["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 2, 7, 7, 7)
    # Every Mixed unit's widths are the port's.
    for name, (w0, w1a, w1b, w2a, w2b, w3b) in REF_MIXED.items():
        outs = [sd[f"{name}.{b}.conv3d.weight"].shape[0] for b in ("b0", "b1a", "b1b", "b2a", "b2b", "b3b")]
        assert outs == [w0, w1a, w1b, w2a, w2b, w3b], name


def test_batch_norm_settings():
    bns = [m for m in InceptionI3d(3).modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(bns) == 57
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)


# ---------------------------------------------------------------- shapes and equivalence at 224


def test_stage_shapes_at_224(model_224):
    _, _, stages = model_224
    expected = {
        "Conv3d_1a_7x7": (64, 8, 112, 112),
        "MaxPool3d_2a_3x3": (64, 8, 56, 56),
        "Conv3d_2b_1x1": (64, 8, 56, 56),
        "Conv3d_2c_3x3": (192, 8, 56, 56),
        "MaxPool3d_3a_3x3": (192, 8, 28, 28),
        "Mixed_3b": (256, 8, 28, 28),
        "Mixed_3c": (480, 8, 28, 28),
        "MaxPool3d_4a_3x3": (480, 4, 14, 14),
        "Mixed_4b": (512, 4, 14, 14),
        "Mixed_4c": (512, 4, 14, 14),
        "Mixed_4d": (512, 4, 14, 14),
        "Mixed_4e": (528, 4, 14, 14),
        "Mixed_4f": (832, 4, 14, 14),
        "MaxPool3d_5a_2x2": (832, 2, 7, 7),
        "Mixed_5b": (832, 2, 7, 7),
        "Mixed_5c": (1024, 2, 7, 7),
    }
    assert {name: tuple(out.shape[1:]) for name, out in stages.items()} == expected


def test_matches_port_reference_at_224(model_224):
    model, x, stages = model_224
    sd = model.state_dict()
    with torch.inference_mode():
        ref_feats, ref_logits = reference_forward(sd, x)
        feats = model(x)
        logits = model.classify(x)
    assert feats.shape == (1, 1024) and logits.shape == (1, 400)
    assert ref_feats.abs().mean() > 0.1  # activations did not vanish: the comparison means something
    torch.testing.assert_close(stages["Mixed_5c"].mean(dim=(2, 3, 4)), feats)
    torch.testing.assert_close(feats, ref_feats, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("in_channels", [3, 2])
def test_matches_reference_trunk_at_odd_sizes(in_channels):
    # T=10, H=100, W=72 give odd sizes deeper in (e.g. H: 50, 25, 13, 7), where the asymmetric
    # padding matters; the feature is the global mean of Mixed_5c.
    model = random_model(in_channels, seed=3)
    x = clips((2, in_channels, 10, 100, 72), seed=4)
    with torch.inference_mode():
        trunk = reference_trunk(model.state_dict(), x)
        feats = model(x)
    assert trunk.shape == (2, 1024, 2, 4, 3)
    torch.testing.assert_close(feats, trunk.mean(dim=(2, 3, 4)), rtol=1e-4, atol=1e-4)


def test_features_reject_wrong_channels():
    with pytest.raises(ValueError, match=r"\(B, 2, T, H, W\)"):
        InceptionI3d(2)(torch.zeros(1, 3, 16, 32, 32))


# ---------------------------------------------------------------- loading


def test_save_load_roundtrip_gives_identical_outputs(tmp_path):
    src = random_model(3, seed=5)
    path = tmp_path / "rgb.pt"
    torch.save(src.state_dict(), path)
    loaded = load_i3d(path)
    assert isinstance(loaded, InceptionI3d) and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    x = clips((2, 3, 16, 64, 64))
    with torch.inference_mode():
        assert torch.equal(loaded(x), src(x))
        other = random_model(3, seed=6)(x)
    assert (other - src(x)).abs().max() > 1e-2


def test_fresh_state_dict_is_a_checkpoint(tmp_path):
    path = tmp_path / "fresh.pt"
    torch.save(InceptionI3d(2).state_dict(), path)
    model = load_i3d(path, in_channels=2)
    with torch.inference_mode():
        assert model(clips((1, 2, 16, 64, 64))).shape == (1, 1024)


def test_module_prefix_missing_num_batches_tracked_and_legacy_format_accepted(tmp_path):
    src = random_model(2, seed=7)
    old_style = {f"module.{k}": v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(old_style) == 287
    path = tmp_path / "flow_dp.pt"
    torch.save(old_style, path, _use_new_zipfile_serialization=False)  # the pre-1.6 file format
    loaded = load_i3d(path, in_channels=2)
    x = clips((1, 2, 16, 64, 64))
    with torch.inference_mode():
        assert torch.equal(loaded(x), src(x))


def test_wrapped_state_dict_and_class_count_inferred(tmp_path):
    src = random_model(3, seed=8, num_classes=157)
    path = tmp_path / "charades.pt"
    torch.save({"state_dict": src.state_dict(), "epoch": 3}, path)
    loaded = load_i3d(path)
    assert loaded.num_classes == 157
    x = clips((1, 3, 16, 64, 64))
    with torch.inference_mode():
        assert loaded.classify(x).shape == (1, 157)
        assert torch.equal(loaded.classify(x), src.classify(x))


def _save(tmp_path, state, name="bad.pt"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_missing_key_is_an_error(tmp_path):
    state = InceptionI3d(3).state_dict()
    del state["Mixed_4c.b2b.bn.running_mean"]
    path = _save(tmp_path, state)
    with pytest.raises(WsalError) as err:
        load_i3d(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    assert "1 missing keys (Mixed_4c.b2b.bn.running_mean)" in msg


def test_unexpected_keys_are_an_error_listing_first_few(tmp_path):
    state = InceptionI3d(3).state_dict()
    for i in range(5):
        state[f"extra.layer{i}.weight"] = torch.zeros(1)
    with pytest.raises(WsalError, match=r"5 unexpected keys \(extra\.layer0\.weight, .*\.\.\. \(2 more\)\)"):
        load_i3d(_save(tmp_path, state))


def test_wrong_shape_is_an_error(tmp_path):
    path = _save(tmp_path, InceptionI3d(2).state_dict(), "flow.pt")
    with pytest.raises(WsalError) as err:
        load_i3d(path, in_channels=3)
    assert "flow.pt" in str(err.value) and "in_channels=3" in str(err.value)
    assert "Conv3d_1a_7x7.conv3d.weight (64, 2, 7, 7, 7) != (64, 3, 7, 7, 7)" in str(err.value)


def test_unreadable_files_are_errors(tmp_path):
    with pytest.raises(WsalError, match="not found"):
        load_i3d(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WsalError, match="junk.pt: not a readable I3D weights file"):
        load_i3d(junk)
    with pytest.raises(WsalError, match="expected a state_dict"):
        load_i3d(_save(tmp_path, [1, 2, 3], "list.pt"))


# ---------------------------------------------------------------- batched extraction


def test_extract_clip_features_batches_match_direct():
    model = random_model(3, seed=9)
    x = clips((5, 3, 16, 48, 48), seed=10)
    with torch.inference_mode():
        direct = model(x).numpy()
    out = extract_clip_features(model, x.numpy(), batch_size=2, device="cpu")
    assert out.dtype == np.float32 and out.shape == (5, 1024)
    # Batches of 2 vs 5 may take different conv algorithms: equal up to float32 rounding.
    np.testing.assert_allclose(out, direct, rtol=1e-4, atol=1e-4)
    assert extract_clip_features(model, np.zeros((0, 3, 16, 48, 48), np.float32)).shape == (0, 1024)


def test_exact_float32_turns_tf32_off_on_cuda_only():
    from wsal.features.i3d import exact_float32

    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        with exact_float32(torch.device("cuda")):
            assert torch.backends.cudnn.allow_tf32 is False
            assert torch.backends.cudnn.enabled is True  # the other settings are kept
        assert torch.backends.cudnn.allow_tf32 is True
        with exact_float32(torch.device("cpu")):
            assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_extract_clip_features_cuda_bf16_close_to_float32():
    model = random_model(3, seed=11)
    x = clips((4, 3, 16, 224, 224), seed=12).numpy()
    full = extract_clip_features(model, x, batch_size=4, device="cuda", autocast_dtype=None)
    half = extract_clip_features(model, x, batch_size=4, device="cuda")
    cpu = extract_clip_features(model.cpu(), x[:1], batch_size=1, device="cpu")
    np.testing.assert_allclose(full[:1], cpu, rtol=1e-3, atol=1e-3)
    cos = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cos.min() > 0.99
