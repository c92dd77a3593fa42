"""The hard synthetic benchmark: splits, determinism, each switchable property, the I3D-like map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from wsal.annotations import load_ground_truth
from wsal.errors import WsalError
from wsal.features.store import FeatureStore
from wsal.synthetic import Instance
from wsal.synthetic.hard import (
    STREAM_NORM,
    HardSpec,
    hard_splits,
    i3d_like,
    make_hard_dataset,
    make_hard_prototypes,
    render_hard_video,
)

CLASSES = ("Jump", "Throw", "Swim", "Run")


@pytest.fixture
def timeline(tmp_path) -> Path:
    """A small GT: 6 training videos and 7 evaluation videos of 30-90 s, 1-3 instances of 2-8 s."""
    rng = np.random.default_rng(5)
    database = {}
    for subset, count in (("validation", 6), ("test", 7)):
        for i in range(count):
            duration = float(rng.uniform(30, 90))
            starts = np.sort(rng.uniform(0, duration - 10, size=int(rng.integers(1, 4))))
            label = CLASSES[i % len(CLASSES)]
            annotations = [{"segment": [float(s), float(s + rng.uniform(2, 8))], "label": label} for s in starts]
            database[f"{subset}_{i:02d}"] = {"subset": subset, "duration": duration, "fps": 25.0, "annotations": annotations}
    path = tmp_path / "timeline.json"
    path.write_text(json.dumps({"database": database}))
    return path


def test_splits_never_mix_and_do_not_depend_on_the_seed(timeline):
    splits = hard_splits(timeline, "validation", "test")
    assert splits["train"] == [f"validation_{i:02d}" for i in range(6)]
    assert splits["tuning"] == ["test_00", "test_02", "test_04", "test_06"]
    assert splits["test"] == ["test_01", "test_03", "test_05"]
    capped = hard_splits(timeline, "validation", "test", max_videos=2)
    assert capped == {"train": ["validation_00", "validation_05"], "tuning": ["test_00", "test_06"], "test": ["test_01", "test_05"]}
    with pytest.raises(WsalError, match="needs videos"):
        hard_splits(timeline, "training", "test")


def test_dataset_copies_the_real_timing_and_is_deterministic(tmp_path, timeline):
    store_a, gt_a = make_hard_dataset(tmp_path / "a", timeline, seed=3, feature_dim=16)
    store_b, _ = make_hard_dataset(tmp_path / "b", timeline, seed=3, feature_dim=16)
    store_c, _ = make_hard_dataset(tmp_path / "c", timeline, seed=4, feature_dim=16)
    source, written = load_ground_truth(timeline), load_ground_truth(gt_a)
    assert sorted(written.video_ids()) == sorted(source.video_ids())
    assert {written.videos[v].subset for v in written.video_ids()} == {"train", "tuning", "test"}
    for vid in source.video_ids():
        np.testing.assert_array_equal(written.videos[vid].segments_s, source.videos[vid].segments_s)
        assert written.videos[vid].labels == source.videos[vid].labels
    with FeatureStore(store_a) as a, FeatureStore(store_b) as b, FeatureStore(store_c) as c:
        assert a.meta.feature_dim == 16 and a.meta.streams == ("rgb", "flow")
        for vid in a.video_ids:
            fa = a.read(vid).features
            assert fa.shape[0] == round(source.videos[vid].duration_s * 25) // 16  # full 16-frame snippets
            np.testing.assert_array_equal(fa, b.read(vid).features)
            assert not np.array_equal(fa, c.read(vid).features)
    # fewer videos leave the kept ones as they are
    capped, _ = make_hard_dataset(tmp_path / "d", timeline, seed=3, feature_dim=16, max_videos=7)
    with FeatureStore(store_a) as a, FeatureStore(capped) as d:
        for vid in d.video_ids:
            np.testing.assert_array_equal(a.read(vid).features, d.read(vid).features)


def _render(spec: HardSpec, instances: list[Instance], t_count: int = 200, seed: int = 0):
    protos = make_hard_prototypes(np.random.default_rng(0), 4, 64, 64, spec)
    return render_hard_video(np.random.default_rng(seed), protos, t_count, instances, spec)


def test_partial_core_lies_inside_the_instance_with_the_drawn_share():
    spec = HardSpec(boundary_sigma=0.0, core_fraction=(0.3, 0.5))
    for seed in range(10):
        video = _render(spec, [Instance(1, 50, 89)], seed=seed)
        core = np.flatnonzero(video.core > 0.5)
        assert 50 <= core.min() and core.max() <= 89
        assert 12 <= len(core) <= 20 and np.all(np.diff(core) == 1)
        np.testing.assert_array_equal(np.flatnonzero(video.action > 0.5), np.arange(50, 90))
    whole = _render(HardSpec.from_switches(["partial"]), [Instance(1, 50, 89)])
    np.testing.assert_array_equal(whole.core, whole.action)


def test_context_surrounds_instances_without_overlapping_them():
    spec = HardSpec(boundary_sigma=0.0, context_s=(3.2, 3.2))  # 5 snippets each side
    video = _render(spec, [Instance(0, 50, 59)])
    np.testing.assert_array_equal(np.flatnonzero(video.context > 0.5), [45, 46, 47, 48, 49, 60, 61, 62, 63, 64])
    assert not _render(HardSpec.from_switches(["context"]), [Instance(0, 50, 59)]).context.any()


def test_distractors_stay_outside_instances_and_can_be_turned_off():
    spec = HardSpec(boundary_sigma=0.0, distractor_every_s=2.0)
    video = _render(spec, [Instance(0, 20, 59), Instance(2, 100, 139)], t_count=300)
    assert video.distractor.any()
    assert not (video.distractor * video.action).any()
    assert not _render(HardSpec.from_switches(["distractors"]), [Instance(0, 20, 59)]).distractor.any()


def test_lookalike_pairs_share_their_prototypes_and_modes_differ():
    protos = make_hard_prototypes(np.random.default_rng(1), 4, 4000, 4000, HardSpec(lookalike=0.8, modes=2))
    assert protos.motion.shape == (4, 2, 4000) and protos.appearance.shape == (4, 2, 4000)
    corr = lambda a, b: float(np.corrcoef(a, b)[0, 1])  # noqa: E731
    assert corr(protos.motion[0, 0], protos.motion[1, 0]) == pytest.approx(0.8, abs=0.05)
    assert abs(corr(protos.motion[0, 0], protos.motion[2, 0])) < 0.05
    assert corr(protos.motion[0, 0], protos.motion[0, 1]) == pytest.approx(0.4, abs=0.05)  # modes share 40 %
    plain = make_hard_prototypes(np.random.default_rng(1), 4, 4000, 4000, HardSpec.from_switches(["lookalike", "modes"]))
    assert plain.motion.shape == (4, 1, 4000)
    assert abs(corr(plain.motion[0, 0], plain.motion[1, 0])) < 0.05


def test_i3d_like_features_are_non_negative_sparse_with_the_stream_norm():
    spec = HardSpec()
    latent = np.random.default_rng(0).standard_normal((2000, 2048))  # pure noise: the scale's reference
    feats = i3d_like(latent, 1024, spec)
    assert feats.dtype == np.float32 and feats.min() == 0.0
    assert 0.45 < float((feats == 0).mean()) < 0.6
    for cols in (slice(0, 1024), slice(1024, 2048)):
        assert float(np.linalg.norm(feats[:, cols], axis=1).mean()) == pytest.approx(STREAM_NORM, rel=0.02)
    narrow = i3d_like(latent[:, :256], 128, spec)  # a 128-value stream keeps the size per value
    assert float(np.linalg.norm(narrow[:, :128], axis=1).mean()) == pytest.approx(STREAM_NORM * (128 / 1024) ** 0.5, rel=0.03)


def test_turning_i3d_like_off_stores_the_latent(tmp_path, timeline):
    store, _ = make_hard_dataset(tmp_path, timeline, seed=0, feature_dim=16, spec=HardSpec.from_switches(["i3d_like"]))
    with FeatureStore(store) as s:
        assert min(float(s.read(v).features.min()) for v in s.video_ids) < 0


def test_bad_specs_and_switches_are_one_line_errors(timeline, tmp_path):
    with pytest.raises(WsalError, match="unknown property 'noise'"):
        HardSpec.from_switches(["noise"])
    with pytest.raises(WsalError, match="core_fraction"):
        HardSpec(core_fraction=(0.6, 0.3))
    with pytest.raises(WsalError, match="lookalike"):
        HardSpec(lookalike=1.0)
    with pytest.raises(WsalError, match="feature_dim"):
        make_hard_dataset(tmp_path, timeline, feature_dim=1)
    assert "motion_strength=1.0" in HardSpec().describe()


def test_real_thumos_timing(shared_data, tmp_path):
    gt = shared_data / "thumos14" / "derived" / "thumos14_official_gt.json"
    splits = hard_splits(gt, "validation", "test")
    assert (len(splits["train"]), len(splits["tuning"]), len(splits["test"])) == (200, 107, 106)
    assert not set(splits["tuning"]) & set(splits["test"])
    anet = shared_data / "activitynet" / "derived" / "anet1.2_trainval_gt_from_wtalc_npy.json"
    capped = hard_splits(anet, "training", "validation", max_videos=50)
    assert [len(capped[k]) for k in ("train", "tuning", "test")] == [50, 50, 50]
    assert not set(capped["tuning"]) & set(capped["test"]) and not set(capped["train"]) & set(capped["test"])


@pytest.mark.slow
def test_benchmark_with_baselines_runs_end_to_end_on_a_tiny_timeline(tmp_path, timeline):
    """bench/accuracy_synthetic.py --preset hard --baselines: every method trained, tuned on the
    tuning subset, reported on the test subset, with its convergence row."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "accuracy_synthetic.py"
    command = [sys.executable, str(bench), "--preset", "hard", "--baselines", "--timeline", str(timeline), "--seeds", "0", "1",
               "--steps", "4", "--eval-every", "2", "--feature-dim", "16", "--threads", "1", "--out", str(tmp_path / "run"),
               "--set", "mil.embed_dim=8", "--set", "data.num_snippets=32", "--set", "train.batch_size=2",
               "--lrs", "1e-4", "1e-3", "--cosine-lrs", "1e-3"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = (tmp_path / "run" / "summary.md").read_text()
    for method in ("wsal", "attention-mil", "basnet", "cola"):
        assert f"| {method} (0, 1) |" in summary  # test table, two seeds
        assert summary.count(f"| {method} |") == 2  # convergence row, per-seed row
        assert f"{method}: lr " in summary and "signal=" in summary  # chosen on the tuning subset
        folders = [f"{method}_lr0.0001_seed_0", f"{method}_lr0.001_seed_0", f"{method}_lr0.001_cosine_seed_0"]
        curves = [tmp_path / "run" / folder / "test_curve.json" for folder in folders]
        assert sum(c.is_file() for c in curves) == 1  # the curve of the chosen setting only
        curve = json.loads(next(c for c in curves if c.is_file()).read_text())
        assert [step for step, _ in curve] == [2, 4]
        log = (tmp_path / "run" / folders[2] / "log.csv").read_text().splitlines()
        assert log[0].split(",")[-2] == "lr" and float(log[-1].split(",")[-2]) < 1e-3  # cosine decayed
    per_seed = summary.split("Per seed on the test subset")[1].splitlines()
    assert per_seed[1] == "| method | seed 0 | seed 1 |"
    assert re.fullmatch(r"\| wsal \| \d+\.\d \([24]\) \| \d+\.\d \([24]\) \|", per_seed[3])
    assert "spec: partial=True" in summary
    assert "optimisation settings tried ['lr 0.0001', 'lr 0.001', 'lr 0.001 cosine']" in summary
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "pass --resume" in refused.stderr
    model = tmp_path / "run" / "wsal_lr0.001_cosine_seed_1" / "model.pt"
    before = model.stat().st_mtime_ns
    again = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing to train" in again.stderr and model.stat().st_mtime_ns == before  # reused, not retrained
    table = [line for line in summary.splitlines() if line.startswith("| wsal (0, 1) |")]
    assert table == [line for line in (tmp_path / "run" / "summary.md").read_text().splitlines() if line.startswith("| wsal (0, 1) |")]
    bad = subprocess.run([sys.executable, str(bench), "--preset", "hard", "--timeline", str(tmp_path / "none.json"),
                          "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode != 0 and "timeline GT not found" in bad.stderr and "Traceback" not in bad.stderr


def test_benchmark_learning_rates_may_be_cosine_only_but_not_none(tmp_path):
    """--lrs with no value: only the cosine rates (one setting to screen); no rate at all: a one-line refusal."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "accuracy_synthetic.py"
    base = [sys.executable, str(bench), "--preset", "hard", "--timeline", str(tmp_path / "missing.json"), "--out", str(tmp_path / "run")]
    none = subprocess.run([*base, "--lrs"], capture_output=True, text=True, timeout=120)
    assert none.returncode != 0 and "no learning rate to try" in none.stderr and "Traceback" not in none.stderr
    cosine_only = subprocess.run([*base, "--lrs", "--cosine-lrs", "2e-3"], capture_output=True, text=True, timeout=120)
    assert cosine_only.returncode != 0 and "no learning rate" not in cosine_only.stderr
    assert "missing.json: timeline GT not found" in cosine_only.stderr  # the rates passed; the next check speaks
