"""Synthetic features: determinism, GT layout, timing from a GT file, the designed feature structure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsal.annotations import load_ground_truth, write_ground_truth
from wsal.errors import WsalError
from wsal.features.store import FeatureStore
from wsal.synthetic import GRID, Instance, make_prototypes, random_timeline, render_video
from wsal.synthetic import make_synthetic_dataset


def _small(out, seed=0):
    return make_synthetic_dataset(
        out, seed=seed, num_train_videos=6, num_test_videos=3, num_classes=3, feature_dim=8, snippets=(40, 80)
    )


def test_same_seed_same_files_other_seed_differs(tmp_path):
    store1, gt1 = _small(tmp_path / "a")
    store2, gt2 = _small(tmp_path / "b")
    store3, gt3 = _small(tmp_path / "c", seed=1)
    assert gt1.read_bytes() == gt2.read_bytes()
    assert gt1.read_bytes() != gt3.read_bytes()
    with FeatureStore(store1) as s1, FeatureStore(store2) as s2, FeatureStore(store3) as s3:
        assert s1.video_ids == s2.video_ids
        for vid in s1.video_ids:
            np.testing.assert_array_equal(s1.read(vid).features, s2.read(vid).features)
        assert not np.array_equal(s1.read(s1.video_ids[0]).features, s3.read(s3.video_ids[0]).features)


def test_store_and_gt_layout(tmp_path):
    store, gt_path = _small(tmp_path)
    gt = load_ground_truth(gt_path)
    assert gt.classes == ("Action00", "Action01", "Action02")
    assert len(gt.subset("validation").videos) == 6 and len(gt.subset("test").videos) == 3
    with FeatureStore(store) as s:
        assert s.meta.fps == 25.0 and s.meta.stride_frames == 16 and s.meta.clip_len_frames == 16
        assert s.meta.streams == ("rgb", "flow") and s.meta.stream_dims == (4, 4)
        assert sorted(s.video_ids) == gt.video_ids()
        for vid, v in gt.videos.items():
            t = s.num_snippets(vid)
            assert 40 <= t <= 80
            assert v.duration_s == pytest.approx(t * 0.64)
            assert s.read(vid).num_frames == 16 * t
            assert len(v.labels) >= 1
            assert float(v.segments_s.min()) >= 0.0 and float(v.segments_s.max()) <= v.duration_s + 1e-9


def test_heldout_subset_leaves_training_and_test_videos_unchanged(tmp_path):
    store1, gt1 = _small(tmp_path / "a")
    store2, gt2 = make_synthetic_dataset(
        tmp_path / "b", seed=0, num_train_videos=6, num_test_videos=3, num_heldout_videos=4, num_classes=3,
        feature_dim=8, snippets=(40, 80),
    )  # fmt: skip
    plain, with_heldout = load_ground_truth(gt1), load_ground_truth(gt2)
    heldout = with_heldout.subset("heldout")
    assert sorted(heldout.videos) == [f"synthetic_heldout_{i:04d}" for i in range(4)]
    assert set(with_heldout.videos) == set(plain.videos) | set(heldout.videos)
    assert all(len(v.labels) >= 1 for v in heldout.videos.values())
    with FeatureStore(store1) as s1, FeatureStore(store2) as s2:
        for vid in s1.video_ids:  # training and test videos: bit for bit the same as without held-out ones
            np.testing.assert_array_equal(s1.read(vid).features, s2.read(vid).features)
            np.testing.assert_array_equal(plain.videos[vid].segments_s, with_heldout.videos[vid].segments_s)
        held = [s2.read(vid).features for vid in sorted(heldout.videos)]
        # new videos, not copies of existing ones
        assert not any(h.shape == s1.read(v).features.shape and np.allclose(h, s1.read(v).features) for h in held for v in s1.video_ids)


def test_random_timeline_instances_do_not_overlap():
    rng = np.random.default_rng(5)
    for _ in range(20):
        instances = random_timeline(rng, 120, 4)
        covered = np.zeros(120, dtype=int)
        for inst in instances:
            assert 4 <= inst.last - inst.first + 1 <= 25
            covered[inst.first : inst.last + 1] += 1
        assert covered.max() <= 1
        assert 1 <= len({i.label_index for i in instances}) <= 2


def test_rendered_structure_without_noise():
    rng = np.random.default_rng(0)
    protos = make_prototypes(rng, num_classes=2, rgb_dim=5, flow_dim=3, scale=1.0)
    video = render_video(
        rng, protos, 60, [Instance(1, 20, 29)], noise=0.0, boundary_sigma=0.0, context_snippets=(3, 3), distractor_rate=0.0
    )
    rgb, flow = video.features[:, :5], video.features[:, 5:]
    scene = rgb[0]  # snippet 0 is plain background
    np.testing.assert_allclose(flow[0], 0.0)
    # action snippets: scene + class appearance, class motion
    np.testing.assert_allclose(rgb[25], scene + protos.appearance[1], atol=1e-5)
    np.testing.assert_allclose(flow[25], protos.motion[1], atol=1e-5)
    # context (3 snippets each side): scene + class appearance, no motion
    for t in (17, 18, 19, 30, 31, 32):
        np.testing.assert_allclose(rgb[t], scene + protos.appearance[1], atol=1e-5)
        np.testing.assert_allclose(flow[t], 0.0, atol=1e-6)
    # beyond the context window: background again
    np.testing.assert_allclose(rgb[16], scene, atol=1e-6)
    np.testing.assert_allclose(rgb[33], scene, atol=1e-6)
    assert video.action[:, 1].sum() == 10 and video.context[:, 1].sum() == 6


def test_core_fraction_moves_class_motion_to_the_centre():
    rng = np.random.default_rng(0)
    protos = make_prototypes(rng, num_classes=2, rgb_dim=5, flow_dim=3, scale=1.0)
    generic = np.array([2.0, -1.0, 0.5], dtype=np.float32)
    video = render_video(
        rng, protos, 60, [Instance(1, 20, 29)], noise=0.0, boundary_sigma=0.0, context_snippets=(3, 3),
        distractor_rate=0.0, core_fraction=0.4, generic_motion=generic,
    )  # fmt: skip
    rgb, flow = video.features[:, :5], video.features[:, 5:]
    scene = rgb[0]
    # 10 snippets, core of 4 in the middle (23..26): class motion; 20..22 and 27..29: generic motion
    for t in range(23, 27):
        np.testing.assert_allclose(flow[t], protos.motion[1], atol=1e-5)
    for t in (20, 21, 22, 27, 28, 29):
        np.testing.assert_allclose(flow[t], generic, atol=1e-5)
    for t in range(20, 30):  # appearance of the class over the whole instance, which stays the ground truth
        np.testing.assert_allclose(rgb[t], scene + protos.appearance[1], atol=1e-5)
    assert video.action[:, 1].sum() == 10
    np.testing.assert_allclose(flow[19], 0.0, atol=1e-6)  # context: no motion


def test_core_fraction_one_and_bad_values(tmp_path):
    rng = np.random.default_rng(0)
    protos = make_prototypes(rng, num_classes=1, rgb_dim=4, flow_dim=4, scale=1.0)
    plain = render_video(np.random.default_rng(3), protos, 80, [Instance(0, 10, 29)])
    same = render_video(np.random.default_rng(3), protos, 80, [Instance(0, 10, 29)], core_fraction=1.0,
                        generic_motion=np.ones(4, dtype=np.float32))
    np.testing.assert_array_equal(plain.features, same.features)
    with pytest.raises(WsalError, match="core_fraction"):
        render_video(rng, protos, 80, [Instance(0, 10, 29)], core_fraction=0.5)  # no generic motion
    with pytest.raises(WsalError, match="core_fraction"):
        make_synthetic_dataset(tmp_path, num_train_videos=2, num_test_videos=1, feature_dim=8, core_fraction=0.0)


def test_core_fraction_dataset_keeps_timeline_and_changes_motion(tmp_path):
    kwargs = dict(seed=4, num_train_videos=3, num_test_videos=2, feature_dim=16)
    store_a, gt_a = make_synthetic_dataset(tmp_path / "a", **kwargs)
    store_b, gt_b = make_synthetic_dataset(tmp_path / "b", core_fraction=0.5, **kwargs)
    assert gt_a.read_text() == gt_b.read_text()  # same videos, same ground truth
    with FeatureStore(store_a) as fa, FeatureStore(store_b) as fb:
        assert "core_fraction=0.5" in fb.meta.backbone and "core_fraction" not in fa.meta.backbone
        vid = fa.video_ids[0]
        a, b = fa.read(vid).features, fb.read(vid).features
        np.testing.assert_array_equal(a[:, :8], b[:, :8])  # appearance columns untouched
        assert not np.array_equal(a[:, 8:], b[:, 8:])  # motion columns differ inside actions


def test_blurred_boundaries_and_distractors():
    rng = np.random.default_rng(1)
    protos = make_prototypes(rng, num_classes=1, rgb_dim=4, flow_dim=4, scale=1.0)
    video = render_video(rng, protos, 400, [Instance(0, 100, 119)], noise=0.0, distractor_rate=1 / 20)
    assert 0.0 < video.action[99, 0] < 0.5 < video.action[100, 0] < 1.0  # ramps across the boundary
    assert video.action[110, 0] == pytest.approx(1.0, abs=1e-3)
    assert video.distractor.max() > 0.9  # some distractor motion happened
    assert video.distractor[100:120].max() < 0.5  # ...but it stays out of the action


def test_timing_from_a_gt_file(tmp_path):
    source = tmp_path / "timing.json"
    write_ground_truth(
        {
            "vid_train": {
                "subset": "validation",
                "duration": 10.0,
                "fps": 30.0,
                "annotations": [{"segment": [1.28, 2.56], "label": "Kick"}, {"segment": [5.0, 6.0], "label": "Jump"}],
            },
            "vid_test": {
                "subset": "test",
                "duration": 4.0,
                "annotations": [{"segment": [0.0, 1.0], "label": "Kick"}],
                "ambiguous": [[2.0, 3.0]],
            },
        },
        source,
    )
    store, gt_path = make_synthetic_dataset(tmp_path / "out", seed=3, feature_dim=6, timeline_gt=source)
    written = json.loads(gt_path.read_text())["database"]
    assert written["vid_train"]["annotations"][0] == {"segment": [1.28, 2.56], "label": "Kick"}
    assert written["vid_test"]["ambiguous"] == [[2.0, 3.0]]
    with FeatureStore(store) as s:
        assert s.num_snippets("vid_train") == GRID.num_full_snippets(250) == 15
        assert s.num_snippets("vid_test") == GRID.num_full_snippets(100) == 6
        feats = s.read("vid_train").features
    assert feats.shape == (15, 6)


def test_timing_from_real_thumos14_gt(tmp_path, shared_data):
    source = shared_data / "thumos14" / "derived" / "thumos14_official_gt.json"
    store, gt_path = make_synthetic_dataset(tmp_path, seed=0, feature_dim=2, timeline_gt=source)
    gt = load_ground_truth(gt_path)
    assert len(gt.classes) == 20
    assert len(gt.subset("validation").videos) == 200 and len(gt.subset("test").videos) == 213
    with FeatureStore(store) as s:
        assert len(s) == 413
        # video_test_0000004: 33.73 s -> 843 frames at 25 fps -> 52 full snippets
        assert s.num_snippets("video_test_0000004") == 52
