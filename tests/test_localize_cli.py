"""`wsal localize` through the network: a tiny trained checkpoint, raw round trip, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsal.cli import main
from wsal.features.store import FeatureStore, StoreMeta, StoreWriter
from wsal.raw import RawReader
from wsal.synthetic import make_synthetic_dataset

TINY = dict(num_train_videos=6, num_test_videos=3, num_classes=2, feature_dim=12, snippets=(30, 60))
TRAIN_SETTINGS = [
    "--set", "train.max_steps=2", "--set", "train.batch_size=2", "--set", "mil.embed_dim=8",
    "--set", "data.num_snippets=64", "--set", "train.log_every=1", "--device", "cpu",
    "--set", "changepoint.enabled=true",  # so that the raw outputs carry change scores too
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    store, gt = make_synthetic_dataset(root / "data", seed=0, **TINY)
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(root / "run")] + TRAIN_SETTINGS) == 0
    return root, store, gt, root / "run" / "model.pt"


def localize(checkpoint, store, gt, out, *extra):
    return main(["localize", "--checkpoint", str(checkpoint), "--features", str(store), "--annotations", str(gt),
                 "--subset", "test", "--out", str(out), "--device", "cpu", *extra])


def test_direct_equals_from_raw(tiny_run, tmp_path):
    _, store, gt, ckpt = tiny_run
    direct, again, raw = tmp_path / "direct.json", tmp_path / "again.json", tmp_path / "raw.h5"
    assert localize(ckpt, store, gt, direct, "--save-raw", str(raw)) == 0
    assert main(["localize", "--from-raw", str(raw), "--out", str(again)]) == 0
    assert json.loads(direct.read_text()) == json.loads(again.read_text())
    results = json.loads(direct.read_text())["results"]
    gt_db = json.loads(gt.read_text())["database"]
    assert sorted(results) == sorted(v for v, e in gt_db.items() if e["subset"] == "test")
    for vid, dets in results.items():
        for det in dets:
            assert 0.0 <= det["segment"][0] < det["segment"][1] <= gt_db[vid]["duration"] + 1e-9
            assert np.isfinite(det["score"])
    with RawReader(raw) as reader, FeatureStore(store) as fs:
        assert reader.header.classes == ("Action00", "Action01")
        for vid in reader.video_ids:
            video = reader.read(vid)
            assert video.cas_probs.shape == (fs.num_snippets(vid), 2)
            assert ((video.attention >= 0) & (video.attention <= 1)).all()
            assert video.base_probs.shape == video.cas_probs.shape  # the default model suppresses background
    # from the raw file with and without plain-CAS proposals: the option is read, and changes something here
    without = tmp_path / "without.json"
    assert main(["localize", "--from-raw", str(raw), "--out", str(without), "--set", "localize.base_proposals=false"]) == 0
    assert json.loads(without.read_text())["results"] != results


def test_overrides_agree_between_direct_and_raw(tiny_run, tmp_path):
    _, store, gt, ckpt = tiny_run
    raw = tmp_path / "raw.h5"
    overrides = ["--set", "localize.nms=hard", "--set", "localize.max_per_video=5"]  # neither is the default
    assert localize(ckpt, store, gt, tmp_path / "a.json", "--save-raw", str(raw), *overrides) == 0
    assert main(["localize", "--from-raw", str(raw), "--out", str(tmp_path / "b.json")]) == 0  # raw keeps the overrides
    a = json.loads((tmp_path / "a.json").read_text())
    assert a == json.loads((tmp_path / "b.json").read_text())
    assert all(len(d) <= 5 for d in a["results"].values())


def test_interpolated_run_maps_back_to_the_real_timeline(tmp_path):
    store, gt = make_synthetic_dataset(tmp_path / "data", seed=1, **TINY)
    settings = [s.replace("data.num_snippets=64", "data.num_snippets=16") for s in TRAIN_SETTINGS]
    run = tmp_path / "run"
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(run),
                 "--set", "data.sampling=interpolate"] + settings) == 0
    raw = tmp_path / "raw.h5"
    assert localize(run / "model.pt", store, gt, tmp_path / "p.json", "--save-raw", str(raw)) == 0
    with RawReader(raw) as reader, FeatureStore(store) as fs:
        video = reader.read(reader.video_ids[0])
        assert video.cas_probs.shape[0] == 16
        assert video.num_snippets == fs.num_snippets(reader.video_ids[0]) > 16
    gt_db = json.loads(gt.read_text())["database"]
    for vid, dets in json.loads((tmp_path / "p.json").read_text())["results"].items():
        assert all(0 <= d["segment"][0] < d["segment"][1] <= gt_db[vid]["duration"] + 1e-9 for d in dets)


def _copy_store(src, dst, meta: StoreMeta, transform=lambda f: f):
    with FeatureStore(src) as fs, StoreWriter(dst, meta) as writer:
        for vid in fs.video_ids:
            v = fs.read(vid)
            writer.add(vid, transform(v.features), num_frames=v.num_frames, duration_s=v.duration_s, source=v.source)


def test_store_with_other_feature_dim_or_fps_is_refused(tiny_run, tmp_path, capsys):
    _, store, gt, ckpt = tiny_run
    with FeatureStore(store) as fs:
        meta = fs.meta
    narrow = tmp_path / "narrow.h5"
    _copy_store(store, narrow, StoreMeta(meta.fps, 16, 16, ("rgb", "flow"), (5, 5), "x"), lambda f: f[:, :10])
    assert localize(ckpt, narrow, gt, tmp_path / "p.json") == 2
    err = capsys.readouterr().err.strip()
    assert "stream_dims 5+5 differs from the checkpoint's 6+6" in err and "\n" not in err
    faster = tmp_path / "fps30.h5"
    _copy_store(store, faster, StoreMeta(30.0, 16, 16, meta.streams, meta.stream_dims, "x"))
    assert localize(ckpt, faster, gt, tmp_path / "p.json") == 2
    assert "fps 30 differs from the checkpoint's 25" in capsys.readouterr().err
    # same width, other streams: an rgb-only store of 12 columns against an rgb + flow 6 + 6 model
    rgb_only = tmp_path / "rgb.h5"
    _copy_store(store, rgb_only, StoreMeta(meta.fps, 16, 16, ("rgb",), (12,), meta.backbone))
    assert localize(ckpt, rgb_only, gt, tmp_path / "p.json") == 2
    err = capsys.readouterr().err.strip()
    assert "store streams rgb differs from the checkpoint's rgb+flow" in err and "\n" not in err
    # same layout, another backbone: allowed, with a warning
    other = tmp_path / "other.h5"
    _copy_store(store, other, StoreMeta(meta.fps, 16, 16, meta.streams, meta.stream_dims, "i3d-imported:basnet"))
    assert localize(ckpt, other, gt, tmp_path / "p.json") == 0
    assert "warning: " in (err := capsys.readouterr().err) and "features from backbone 'i3d-imported:basnet'" in err


def test_missing_videos_error_or_skip(tiny_run, tmp_path, capsys):
    _, store, gt, ckpt = tiny_run
    db = json.loads(gt.read_text())
    db["database"]["extra_test_video"] = {"subset": "test", "duration": 10.0, "annotations": [{"segment": [1.0, 2.0], "label": "Action00"}]}
    gt2 = tmp_path / "gt2.json"
    gt2.write_text(json.dumps(db))
    out = tmp_path / "p.json"
    assert localize(ckpt, store, gt2, out) == 2
    err = capsys.readouterr().err
    assert "1 of 4 videos of subset 'test' have no features (e.g. extra_test_video)" in err and "--skip-missing" in err
    assert not out.exists()
    assert localize(ckpt, store, gt2, out, "--skip-missing") == 0
    captured = capsys.readouterr()
    assert "skipping 1 videos without features: extra_test_video" in captured.err
    assert "(1 skipped without features)" in captured.out
    assert "extra_test_video" not in json.loads(out.read_text())["results"]


def test_missing_files_are_one_line_errors(tiny_run, tmp_path, capsys):
    _, store, gt, ckpt = tiny_run
    assert localize(tmp_path / "none.pt", store, gt, tmp_path / "p.json") == 2
    assert "none.pt: checkpoint file not found" in capsys.readouterr().err
    assert localize(ckpt, tmp_path / "none.h5", gt, tmp_path / "p.json") == 2
    assert "none.h5: feature store file not found" in capsys.readouterr().err
    assert localize(ckpt, store, gt, tmp_path / "p.json", "--subset", "nosuch") == 2
    assert "no subset 'nosuch'" in capsys.readouterr().err


def test_joint_model_changepoint_mode_direct_equals_from_raw(tmp_path, capsys):
    store, gt = make_synthetic_dataset(tmp_path / "data", seed=2, **TINY)
    run = tmp_path / "run"
    joint = ["--set", "changepoint.enabled=true"]
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(run)] + TRAIN_SETTINGS + joint) == 0
    raw, direct, again = tmp_path / "raw.h5", tmp_path / "direct.json", tmp_path / "again.json"
    cp = ["--set", "localize.boundaries=changepoint"]
    assert localize(run / "model.pt", store, gt, direct, "--save-raw", str(raw), *cp) == 0
    assert main(["localize", "--from-raw", str(raw), "--out", str(again)]) == 0
    assert json.loads(direct.read_text()) == json.loads(again.read_text())
    with RawReader(raw) as reader, FeatureStore(store) as fs:
        for vid in reader.video_ids:
            scores = reader.read(vid).change_scores
            assert scores.shape == (3, fs.num_snippets(vid)) and ((scores >= 0) & (scores < 1)).all()
    # a checkpoint without the detector cannot serve change-point mode: one clear line, exit 2
    plain = tmp_path / "plain"
    off = ["--set", "changepoint.enabled=false"]
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(plain)] + TRAIN_SETTINGS + off) == 0
    capsys.readouterr()
    assert localize(plain / "model.pt", store, gt, tmp_path / "x.json", *cp) == 2
    assert "changepoint.enabled" in capsys.readouterr().err


def test_batched_network_calls_give_each_videos_own_outputs(tiny_run):
    """Videos run padded together give what each gives alone (the model's padding contract)."""
    from wsal.inference import BATCH_SNIPPETS, network_batches, run_network_batch
    from wsal.config import ExperimentConfig
    from wsal.train import load_checkpoint

    _, store, _, ckpt = tiny_run
    loaded = load_checkpoint(ckpt)
    config: ExperimentConfig = loaded.config
    with FeatureStore(store) as fs:
        ids = fs.video_ids
        feats = [fs.read(v).features for v in ids]
    together = run_network_batch(loaded.model, feats, config, "cpu", ids, [None] * len(ids))
    assert len({f.shape[0] for f in feats}) > 1  # lengths differ, so padding is exercised
    for vid, f, video in zip(ids, feats, together):
        alone = run_network_batch(loaded.model, [f], config, "cpu", [vid], [None])[0]
        assert video.video_id == vid and video.cas_probs.shape == alone.cas_probs.shape == (f.shape[0], 2)
        np.testing.assert_allclose(video.cas_probs, alone.cas_probs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(video.attention, alone.attention, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(video.video_scores, alone.video_scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(video.change_scores, alone.change_scores, rtol=1e-5, atol=1e-6)
    # calls: sorted by length, padded size within the budget, a video longer than the budget alone
    lengths = {"a": 700, "b": 20, "c": 900, "d": 30, "e": BATCH_SNIPPETS + 5}
    calls = network_batches(list(lengths), lengths, config)
    assert calls[0] == ["b", "d", "a", "c"][: len(calls[0])] and calls[-1] == ["e"]
    assert [v for call in calls for v in call] == sorted(lengths, key=lengths.get)
    for call in calls[:-1]:
        assert max(lengths[v] for v in call) * len(call) <= BATCH_SNIPPETS


def test_non_finite_outputs_are_an_error_not_zero_segments(tiny_run, tmp_path, capsys):
    import h5py
    import torch

    _, store, gt, ckpt = tiny_run
    state = torch.load(ckpt, weights_only=True)
    state["model"] = {k: v * float("nan") if v.is_floating_point() else v for k, v in state["model"].items()}
    diverged = tmp_path / "diverged.pt"
    torch.save(state, diverged)
    out = tmp_path / "p.json"
    assert localize(diverged, store, gt, out) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("wsal localize: error: ") and "the model outputs are not finite (NaN / inf)" in last
    assert not out.exists()
    raw = tmp_path / "raw.h5"
    assert localize(ckpt, store, gt, tmp_path / "ok.json", "--save-raw", str(raw)) == 0
    with h5py.File(raw, "r+") as f:
        damaged = []
        f.visititems(lambda name, obj: damaged.append(obj) if name.endswith("attention") else None)
        damaged[0][0] = np.nan
    capsys.readouterr()
    assert main(["localize", "--from-raw", str(raw), "--out", str(out)]) == 2
    assert "the model outputs are not finite" in capsys.readouterr().err
