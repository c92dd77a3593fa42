"""Training data: sampling, padding, labels, missing videos, seeded batch plans, weak supervision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from wsal.config import MILConfig
from wsal.data import (
    ResidentVideos,
    StepBatchSampler,
    WeakVideoDataset,
    batch_plan,
    collate_batch,
    epoch_order,
    interpolate_sequence,
    sample_indices,
    shape_sequence,
    shape_video,
)
from wsal.annotations import load_ground_truth, write_ground_truth
from wsal.errors import WsalError
from wsal.features.store import StoreWriter
from wsal.model.losses import mil_losses
from wsal.model.wsal import WsalModel

LENGTHS = {"v_a": 30, "v_b": 12, "v_c": 50, "v_d": 8, "t_a": 20}


def _database(shift_s: float = 0.0) -> dict:
    def seg(s, e):
        return [s + shift_s, e + shift_s]

    return {
        "v_a": {"subset": "validation", "annotations": [{"segment": seg(1.0, 3.0), "label": "Jump"}]},
        "v_b": {
            "subset": "validation",
            "annotations": [{"segment": seg(0.5, 1.5), "label": "Run"}, {"segment": seg(2.0, 4.0), "label": "Jump"}],
        },
        "v_c": {"subset": "validation", "annotations": [{"segment": seg(5.0, 9.0), "label": "Run"}]},
        "v_d": {"subset": "validation", "annotations": [{"segment": seg(0.0, 1.0), "label": "Run"}]},
        "t_a": {"subset": "test", "annotations": [{"segment": seg(1.0, 2.0), "label": "Swim"}]},
    }


def _store_and_gt(tmp_path: Path, meta, rng, kept_rule=None) -> tuple[Path, Path]:
    """A store of LENGTHS videos (column 0 = snippet index, to check sampling) and its GT file."""
    store = tmp_path / "store.h5"
    with StoreWriter(store, meta) as writer:
        for vid, t in LENGTHS.items():
            feats = rng.standard_normal((t, meta.feature_dim)).astype(np.float32)
            feats[:, 0] = np.arange(t)
            kept = None if kept_rule is None else kept_rule(np.arange(t))
            writer.add(vid, feats, num_frames=16 * t, duration_s=0.64 * t, source="test", kept=kept)
    gt = tmp_path / "gt.json"
    write_ground_truth(_database(), gt)
    return store, gt


@pytest.fixture
def store_and_gt(tmp_path: Path, small_meta, rng) -> tuple[Path, Path]:
    return _store_and_gt(tmp_path, small_meta, rng)


def test_sample_indices_random_takes_one_per_bin():
    rng = np.random.default_rng(3)
    idx = sample_indices(100, 10, "random", rng)
    assert idx.shape == (10,)
    for i, value in enumerate(idx):  # bins of width 10
        assert 10 * i <= value < 10 * (i + 1)
    assert not np.array_equal(idx, sample_indices(100, 10, "random", np.random.default_rng(4)))
    np.testing.assert_array_equal(idx, sample_indices(100, 10, "random", np.random.default_rng(3)))


def test_sample_indices_short_and_uniform():
    assert sample_indices(3, 5, "random", np.random.default_rng(0)).tolist() == [0, 1, 2]
    assert sample_indices(9, 3, "uniform").tolist() == [1, 4, 7]
    assert sample_indices(5, 5, "uniform").tolist() == [0, 1, 2, 3, 4]


def test_interpolate_and_shape_sequence():
    seq = np.array([[0.0, 10.0], [4.0, 10.0], [8.0, 10.0]])
    up = interpolate_sequence(seq, 5)
    np.testing.assert_allclose(up[:, 0], [0, 2, 4, 6, 8])
    np.testing.assert_allclose(up[:, 1], 10)
    down, mask = shape_sequence(np.arange(10.0)[:, None], 4, "interpolate")
    np.testing.assert_allclose(down[:, 0], [0, 3, 6, 9])
    assert mask.all()
    padded, mask = shape_sequence(np.ones((3, 2)), 5, "uniform")
    assert mask.tolist() == [True, True, True, False, False]
    assert padded[3:].sum() == 0.0 and padded[:3].sum() == 6.0


def test_dataset_items_and_labels(store_and_gt):
    store, gt_path = store_and_gt
    ds = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 16, "random")
    assert ds.classes == ("Jump", "Run", "Swim")  # from the whole file, sorted
    assert ds.video_ids == ["v_a", "v_b", "v_c", "v_d"]
    np.testing.assert_array_equal(ds.labels, [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0]])
    item = ds[(2, 0, 5, 1)]  # v_c, T = 50 > 16: one snippet from each of 16 bins
    assert item["features"].shape == (16, 12) and item["mask"].all()
    order = item["features"][:, 0].numpy()
    assert np.all(np.diff(order) > 0) and order[0] < 3 and order[-1] >= 46  # first bin [0, 3), last [46, 50)
    short = ds[(3, 0, 5, 1)]  # v_d, T = 8: all snippets then padding
    assert short["mask"].tolist() == [True] * 8 + [False] * 8
    np.testing.assert_array_equal(short["features"][:8, 0].numpy(), np.arange(8))
    assert float(short["features"][8:].abs().sum()) == 0.0
    # same key, same sample; different step, different sample
    assert torch.equal(ds[(2, 0, 5, 1)]["features"], item["features"])
    assert not torch.equal(ds[(2, 0, 6, 1)]["features"], item["features"])
    ds.close()


def test_missing_training_videos_error_or_skip(tmp_path, store_and_gt):
    store, _ = store_and_gt
    database = _database()
    database["v_missing"] = {"subset": "validation", "annotations": [{"segment": [0, 1], "label": "Run"}]}
    database["v_gone"] = {"subset": "validation", "annotations": [{"segment": [0, 1], "label": "Jump"}]}
    gt_path = tmp_path / "gt_more.json"
    write_ground_truth(database, gt_path)
    gt = load_ground_truth(gt_path)
    with pytest.raises(WsalError, match=r"2 of 6 'validation' videos .* not in the store \(e.g. 'v_gone'\).*skip_missing"):
        WeakVideoDataset(store, gt, "validation", 16, "random")
    ds = WeakVideoDataset(store, gt, "validation", 16, "random", skip_missing=True)
    assert ds.skipped == ["v_gone", "v_missing"]
    assert len(ds) == 4
    with pytest.raises(WsalError, match="no subset 'training'"):
        WeakVideoDataset(store, gt, "training", 16, "random")


def test_batch_plan_covers_each_epoch_and_is_deterministic():
    plans = [batch_plan(10, 4, 7, s) for s in range(5)]  # 20 positions = 2 epochs
    flat = [i for p in plans for i in p]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert flat[:10] != flat[10:]  # a new permutation per epoch
    assert plans == [batch_plan(10, 4, 7, s) for s in range(5)]
    assert plans != [batch_plan(10, 4, 8, s) for s in range(5)]


def test_step_sampler_resume_gives_the_same_batches():
    full = list(StepBatchSampler(7, 3, 1, 0, 6))
    tail = list(StepBatchSampler(7, 3, 1, 4, 6))
    assert len(full) == 6 and tail == full[4:]
    assert full[4][2] == (batch_plan(7, 3, 1, 4)[2], 1, 4, 2)


def test_loader_with_worker_matches_in_process(store_and_gt):
    store, gt_path = store_and_gt
    ds = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 16, "random")

    def batches(workers: int) -> list:
        loader = DataLoader(
            ds,
            batch_sampler=StepBatchSampler(len(ds), 3, 0, 0, 3),
            collate_fn=collate_batch,
            num_workers=workers,
            generator=torch.Generator().manual_seed(0),
        )
        return list(loader)

    for a, b in zip(batches(0), batches(1)):
        assert torch.equal(a.features, b.features) and torch.equal(a.mask, b.mask)
        assert torch.equal(a.labels, b.labels) and torch.equal(a.video_index, b.video_index)
    ds.close()


def test_segment_times_never_reach_the_loss(tmp_path, store_and_gt):
    """Weak supervision: moving every segment changes nothing in the batch or the loss."""
    store, gt_path = store_and_gt
    moved = tmp_path / "gt_moved.json"
    database = _database(shift_s=3.3)
    database["v_b"]["annotations"].reverse()
    write_ground_truth(database, moved)
    torch.manual_seed(0)
    model = WsalModel(12, 3, MILConfig(embed_dim=8, dropout=0.0))
    results = []
    for path in (gt_path, moved):
        ds = WeakVideoDataset(store, load_ground_truth(path), "validation", 16, "random")
        batch = collate_batch([ds[k] for k in next(iter(StepBatchSampler(len(ds), 4, 0, 0, 1)))])
        losses = mil_losses(model(batch.features, batch.mask), batch.labels, batch.mask, model.config)
        results.append((batch, losses))
        ds.close()
    (b1, l1), (b2, l2) = results
    assert torch.equal(b1.features, b2.features) and torch.equal(b1.labels, b2.labels)
    for key in l1:
        assert float(l1[key].detach()) == float(l2[key].detach()), key


# ---- sampler kept masks ------------------------------------------------------------------------


def _kept_rule(index: np.ndarray) -> np.ndarray:
    return index % 3 != 1  # snippets 1, 4, 7, ... were skipped by the sampler


@pytest.fixture
def kept_store(tmp_path: Path, small_meta, rng) -> tuple[Path, Path]:
    """Like store_and_gt, but every video carries a kept mask."""
    return _store_and_gt(tmp_path, small_meta, rng, _kept_rule)


@pytest.mark.parametrize("sampling", ["random", "uniform"])
def test_kept_mask_is_sampled_and_padded_with_the_features(kept_store, sampling):
    store, gt_path = kept_store
    ds = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 16, sampling)
    for index, vid in enumerate(ds.video_ids):
        item = ds[(index, 0, 3, 0)]
        rows = item["mask"].numpy()
        source = item["features"][:, 0].numpy()[rows].astype(int)  # which stored snippet each row is
        assert item["kept"].dtype == torch.bool and item["kept"].shape == (16,)
        np.testing.assert_array_equal(item["kept"].numpy()[rows], _kept_rule(source))
        assert not item["kept"].numpy()[~rows].any()  # padding is never "kept"
        assert rows.sum() == min(16, LENGTHS[vid])
    batch = collate_batch([ds[k] for k in next(iter(StepBatchSampler(len(ds), 3, 0, 0, 1)))])
    assert batch.kept.shape == batch.mask.shape and not (batch.kept & ~batch.mask).any()
    ds.close()


def test_interpolated_kept_mask_needs_every_blended_row():
    shaped = shape_video(np.arange(4.0)[:, None], np.array([True, False, True, True]), 7, "interpolate")
    np.testing.assert_allclose(shaped.features[:, 0], [0, 0.5, 1, 1.5, 2, 2.5, 3])
    assert shaped.kept.tolist() == [True, False, False, False, True, True, True]
    assert shaped.mask.all()
    down = shape_video(np.arange(10.0)[:, None], _kept_rule(np.arange(10)), 4, "interpolate")  # rows at 0, 3, 6, 9
    assert down.kept.tolist() == [True, True, True, True]
    assert shape_video(np.ones((3, 2)), None, 5, "uniform").kept.tolist() == [True] * 3 + [False] * 2
    with pytest.raises(ValueError, match=r"kept must be \(3,\)"):
        shape_video(np.ones((3, 2)), np.ones(4, bool), 5, "uniform")


def test_a_store_with_kept_masks_trains(kept_store, tmp_path):
    """`wsal train` on a sampled store: stand-in rows are trained on like any other (module docstring)."""
    from wsal.cli import main

    store, gt_path = kept_store
    config = tmp_path / "tiny.toml"
    config.write_text("[data]\nnum_snippets = 16\n\n[mil]\nembed_dim = 8\n\n[train]\nmax_steps = 3\nbatch_size = 2\n"
                      "checkpoint_every = 3\nlog_every = 1\n")  # fmt: skip
    run = tmp_path / "run"
    code = main(["train", "--config", str(config), "--features", str(store), "--annotations", str(gt_path),
                 "--out", str(run), "--device", "cpu"])  # fmt: skip
    assert code == 0 and (run / "model.pt").is_file()


# ---- batches of similar length, crop, preloading -----------------------------------------------


def test_epoch_order_without_grouping_is_todays_permutation():
    for epoch in range(3):
        want = np.random.default_rng([5, epoch]).permutation(11)
        np.testing.assert_array_equal(epoch_order(11, 4, 5, epoch), want)
        np.testing.assert_array_equal(epoch_order(11, 4, 5, epoch, np.arange(11), group_batches=1), want)
    assert [batch_plan(11, 4, 5, s) for s in range(6)] == [batch_plan(11, 4, 5, s, None, 0) for s in range(6)]


def test_grouped_epochs_serve_every_video_once_in_batches_of_similar_length():
    rng = np.random.default_rng(2)
    lengths = rng.integers(5, 750, size=200)
    spans_grouped, spans_random = [], []
    for epoch in range(4):  # 200 videos in batches of 16: epochs start on and off the batch grid
        order = epoch_order(200, 16, 0, epoch, lengths, 8)
        assert sorted(order.tolist()) == list(range(200))
        np.testing.assert_array_equal(order, epoch_order(200, 16, 0, epoch, lengths, 8))  # deterministic
    plans = [batch_plan(200, 16, 0, s, lengths, 8) for s in range(50)]
    flat = [i for p in plans for i in p]
    for e in range(4):  # position p belongs to epoch p // 200: each epoch still every video once
        assert sorted(flat[200 * e : 200 * (e + 1)]) == list(range(200))
    for s, plan in enumerate(plans):
        spans_grouped.append(np.ptp(lengths[plan]))
        spans_random.append(np.ptp(lengths[batch_plan(200, 16, 0, s)]))
    assert np.median(spans_grouped) < 0.35 * np.median(spans_random)
    assert [batch_plan(200, 16, 0, s, lengths, 8) for s in range(50)] == plans
    assert [batch_plan(200, 16, 1, s, lengths, 8) for s in range(50)] != plans  # the seed matters
    # the sampler yields the plan, also when resumed mid-way
    sampler = list(StepBatchSampler(200, 16, 0, 0, 50, lengths, 8))
    assert [[k[0] for k in keys] for keys in sampler] == plans
    assert list(StepBatchSampler(200, 16, 0, 30, 50, lengths, 8)) == sampler[30:]


def test_collate_crops_the_padding_every_item_shares(store_and_gt):
    store, gt_path = store_and_gt
    ds = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 80, "random")
    np.testing.assert_array_equal(ds.lengths, [30, 12, 50, 8])  # min(T, num_snippets)
    short = collate_batch([ds[(1, 0, 0, 0)], ds[(3, 0, 0, 1)]])  # T = 12 and 8: one width multiple
    assert short.features.shape == (2, 32, 12) and short.mask.sum(1).tolist() == [12, 8]
    full = collate_batch([ds[(1, 0, 0, 0)], ds[(2, 0, 0, 1)]])  # 12 and 50 -> 64
    assert full.features.shape == (2, 64, 12)
    torch.testing.assert_close(full.features[0, :32], short.features[0], rtol=0, atol=0)
    capped = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 40, "random")
    assert collate_batch([capped[(2, 0, 0, 0)]]).features.shape == (1, 40, 12)  # never wider than num_snippets
    capped.close()
    ds.close()


def test_cropped_padding_changes_no_loss(store_and_gt):
    """The crop is free: the same items padded to num_snippets give the same model outputs and losses."""
    store, gt_path = store_and_gt
    ds = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 80, "random")
    items = [ds[(1, 0, 0, 0)], ds[(3, 0, 0, 1)], ds[(0, 0, 0, 2)]]
    cropped = collate_batch(items)
    padded_features = torch.stack([it["features"] for it in items])
    padded_mask = torch.stack([it["mask"] for it in items])
    assert cropped.features.shape[1] == 32 < padded_features.shape[1]
    torch.manual_seed(0)
    from wsal.config import ChangePointConfig

    cp = ChangePointConfig()
    model = WsalModel(12, 3, MILConfig(embed_dim=8, dropout=0.0), cp).eval()
    with torch.no_grad():
        a = mil_losses(model(cropped.features, cropped.mask), cropped.labels, cropped.mask, model.config)
        b = mil_losses(model(padded_features, padded_mask), cropped.labels, padded_mask, model.config)
    for key in a:
        assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5, abs=1e-6), key
    ds.close()


@pytest.mark.parametrize("sampling", ["random", "uniform", "interpolate"])
def test_preloaded_batches_equal_the_store_reads(kept_store, sampling):
    store, gt_path = kept_store
    ds = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 16, sampling)
    resident = ResidentVideos(ds, "cpu")
    steps = list(StepBatchSampler(len(ds), 3, 4, 0, 6, ds.lengths, 2))
    for keys in steps:
        want = collate_batch([ds[k] for k in keys])
        got = resident.batch(keys)
        for name in ("features", "mask", "labels", "video_index", "kept"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), (name, keys)
    ds.close()


def test_preloaded_single_row_video_interpolates_like_the_store(tmp_path, small_meta, rng):
    store = tmp_path / "one.h5"
    with StoreWriter(store, small_meta) as writer:
        writer.add("v_a", rng.standard_normal((1, 12)).astype(np.float32), num_frames=16, duration_s=0.64, source="t")
    gt = tmp_path / "gt.json"
    write_ground_truth({"v_a": {"subset": "validation", "annotations": [{"segment": [0, 0.5], "label": "Jump"}]}}, gt)
    ds = WeakVideoDataset(store, load_ground_truth(gt), "validation", 5, "interpolate")
    keys = [(0, 0, 0, 0)]
    assert torch.equal(ResidentVideos(ds, "cpu").batch(keys).features, collate_batch([ds[k] for k in keys]).features)
    ds.close()


def test_preload_only_when_it_fits(store_and_gt, monkeypatch):
    store, gt_path = store_and_gt
    ds = WeakVideoDataset(store, load_ground_truth(gt_path), "validation", 16, "random")
    size = ResidentVideos.size_bytes(ds)
    assert size == (30 + 12 + 50 + 8 + 1) * 12 * 4
    monkeypatch.setattr("wsal.data.available_memory_bytes", lambda device: 2 * size)
    assert ResidentVideos.load_if_fits(ds, torch.device("cpu")) is not None
    monkeypatch.setattr("wsal.data.available_memory_bytes", lambda device: 2 * size - 1)
    assert ResidentVideos.load_if_fits(ds, torch.device("cpu")) is None
    monkeypatch.setattr("wsal.data.available_memory_bytes", lambda device: None)
    assert ResidentVideos.load_if_fits(ds, torch.device("cpu")) is None
    ds.close()
