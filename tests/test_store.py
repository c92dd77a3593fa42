import h5py
import numpy as np
import pytest

from wsal.errors import WsalError
from wsal.features.store import FeatureStore, StoreError, StoreMeta, StoreWriter, merge_stores


def _feats(rng, t, d=12):
    return rng.standard_normal((t, d)).astype(np.float32)


def test_write_read_round_trip(tmp_path, rng, small_meta):
    path = tmp_path / "s.h5"
    a = _feats(rng, 5)
    with StoreWriter(path, small_meta) as w:
        w.add("vid_a", a, num_frames=80, duration_s=3.2, source="a.mp4")
        w.add("vid b", _feats(rng, 3), num_frames=48, duration_s=1.9, source="b.mp4", kept=np.array([1, 0, 1], bool))
        w.add_failure("broken", "corrupt file")
    assert not (tmp_path / "s.h5.parts").exists()
    with FeatureStore(path) as s:
        assert s.meta == small_meta
        assert s.meta.feature_dim == 12
        assert s.video_ids == ["vid b", "vid_a"]
        got = s.read("vid_a")
        np.testing.assert_array_equal(got.features, a)
        assert got.kept is None and got.num_frames == 80 and got.duration_s == pytest.approx(3.2)
        np.testing.assert_array_equal(s.read("vid b").kept, [True, False, True])
        assert s.failures() == {"broken": "corrupt file"}
        assert "broken" not in s


def test_append_keeps_existing_and_resume_skips_staged(tmp_path, rng, small_meta):
    path = tmp_path / "s.h5"
    with StoreWriter(path, small_meta) as w:
        w.add("v1", _feats(rng, 4), num_frames=64, duration_s=2.56, source="x")
    # an interrupted second run: v2 staged, then the job dies before commit
    with pytest.raises(RuntimeError):
        with StoreWriter(path, small_meta) as w:
            w.add("v2", _feats(rng, 4), num_frames=64, duration_s=2.56, source="x")
            raise RuntimeError("killed")
    with FeatureStore(path) as s:
        assert s.video_ids == ["v1"]  # partial results never visible
    w = StoreWriter(path, small_meta)
    assert w.is_done("v1") and w.is_done("v2") and not w.is_done("v3")
    w.add("v3", _feats(rng, 2), num_frames=32, duration_s=1.28, source="x")
    assert w.commit() == 3
    with FeatureStore(path) as s:
        assert s.video_ids == ["v1", "v2", "v3"]


def test_failure_cleared_when_video_later_succeeds(tmp_path, rng, small_meta):
    path = tmp_path / "s.h5"
    with StoreWriter(path, small_meta) as w:
        w.add_failure("v1", "timeout")
    with StoreWriter(path, small_meta) as w:
        w.add("v1", _feats(rng, 2), num_frames=32, duration_s=1.28, source="x")
    with FeatureStore(path) as s:
        assert s.failures() == {}


def test_writer_rejects_bad_input(tmp_path, rng, small_meta):
    w = StoreWriter(tmp_path / "s.h5", small_meta)
    with pytest.raises(StoreError, match="shape"):
        w.add("v", _feats(rng, 3, d=10), num_frames=1, duration_s=1, source="x")
    bad = _feats(rng, 3)
    bad[1, 2] = np.nan
    with pytest.raises(StoreError, match="non-finite"):
        w.add("v", bad, num_frames=1, duration_s=1, source="x")
    with pytest.raises(StoreError, match="invalid video id"):
        w.add("a/b", _feats(rng, 3), num_frames=1, duration_s=1, source="x")


def test_append_with_other_settings_is_an_error(tmp_path, rng, small_meta):
    path = tmp_path / "s.h5"
    with StoreWriter(path, small_meta) as w:
        w.add("v1", _feats(rng, 2), num_frames=32, duration_s=1.28, source="x")
    other = StoreMeta(fps=30.0, clip_len_frames=16, stride_frames=16, streams=("rgb", "flow"), stream_dims=(6, 6), backbone="test")
    with pytest.raises(StoreError, match="settings differ") as err:
        StoreWriter(path, other)
    # only the field that differs is named, not two whole settings reprs
    assert str(err.value).endswith("store settings differ: fps 25.0 here, 30.0 asked") and "stream_dims" not in str(err.value)


def test_reader_validates_schema_dims_and_values(tmp_path, rng, small_meta):
    path = tmp_path / "s.h5"
    with StoreWriter(path, small_meta) as w:
        w.add("v1", _feats(rng, 2), num_frames=32, duration_s=1.28, source="x")
    with h5py.File(path, "a") as f:
        f["v1"]["features"][0, 0] = np.inf
    with FeatureStore(path) as s:
        with pytest.raises(StoreError, match="'v1' has 1 non-finite"):
            s.read("v1")
    with h5py.File(path, "a") as f:
        del f["v1"]["features"]
        f["v1"].create_dataset("features", data=np.zeros((2, 5), np.float32))
    with pytest.raises(StoreError, match=r"'v1' features have shape \(2, 5\)"):
        FeatureStore(path)
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(StoreError, match="schema_version 99"):
        FeatureStore(path)
    (tmp_path / "not.h5").write_text("hello")
    with pytest.raises(StoreError, match="not a readable HDF5"):
        FeatureStore(tmp_path / "not.h5")
    with pytest.raises(StoreError, match="not found"):
        FeatureStore(tmp_path / "missing.h5")


def test_merge_stores_equals_single_write(tmp_path, rng, small_meta):
    data = {f"v{i}": _feats(rng, 3 + i) for i in range(4)}
    for shard, ids in (("a", ["v0", "v2"]), ("b", ["v1", "v3"])):
        with StoreWriter(tmp_path / f"{shard}.h5", small_meta) as w:
            for vid in ids:
                w.add(vid, data[vid], num_frames=16 * len(data[vid]), duration_s=1.0, source=vid)
    assert merge_stores([tmp_path / "a.h5", tmp_path / "b.h5"], tmp_path / "m.h5") == 4
    with FeatureStore(tmp_path / "m.h5") as s:
        assert s.video_ids == sorted(data)
        for vid, feats in data.items():
            np.testing.assert_array_equal(s.read(vid).features, feats)
    with pytest.raises(StoreError, match="also in"):
        merge_stores([tmp_path / "a.h5", tmp_path / "a.h5"], tmp_path / "m2.h5")


def _add(writer, vid, rng, meta, n=5):
    writer.add(vid, rng.standard_normal((n, meta.feature_dim)).astype(np.float32), num_frames=16 * n, duration_s=0.64 * n, source="x")


def test_a_second_writer_is_refused_and_loses_nothing(tmp_path, rng, small_meta):
    path = tmp_path / "s.h5"
    first = StoreWriter(path, small_meta)
    _add(first, "a", rng, small_meta)
    with pytest.raises(WsalError, match=r"another process is writing this feature store \(pid \d+ on "):
        StoreWriter(path, small_meta)
    assert first.is_done("a")  # the refused writer touched nothing
    first.commit()
    first.close()
    with StoreWriter(path, small_meta) as second:  # free again once the first is closed
        _add(second, "b", rng, small_meta)
    with FeatureStore(path) as store:
        assert store.video_ids == ["a", "b"]


def test_damaged_staged_parts_are_removed_reported_and_redone(tmp_path, rng, small_meta, capsys):
    path = tmp_path / "s.h5"
    writer = StoreWriter(path, small_meta)
    for vid in ("good", "cut"):
        _add(writer, vid, rng, small_meta)
    writer.close()  # killed before its commit: the parts stay
    parts = path.with_name("s.h5.parts")
    cut = parts / "cut.part.h5"
    cut.write_bytes(cut.read_bytes()[:100])  # truncated by a crash
    (parts / "meta.json").write_text("")  # empty after a crash
    with StoreWriter(path, small_meta) as again:
        assert again.is_done("good") and not again.is_done("cut")  # redone
        _add(again, "cut", rng, small_meta)
    err = capsys.readouterr().err
    assert "cut.part.h5: damaged staged video" in err and "will be processed again" in err
    assert "meta.json: damaged" in err
    with FeatureStore(path) as store:
        assert store.video_ids == ["cut", "good"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda g: g.attrs.__delitem__("num_frames"), "lacks a numeric num_frames / duration_s attribute"),
        (lambda g: g.attrs.__setitem__("duration_s", float("nan")), "both must be > 0"),
        (lambda g: g.attrs.__setitem__("num_frames", 0), "both must be > 0"),
        (lambda g: (g.__delitem__("features"), g.create_dataset("features", data=np.full((5, 6), b"xy"))), "expected numbers"),
    ],
)
def test_reader_refuses_damaged_video_records(tmp_path, rng, small_meta, damage, message):
    path = tmp_path / "s.h5"
    with StoreWriter(path, small_meta) as w:
        w.add("v", _feats(rng, 5), num_frames=80, duration_s=3.2, source="x")
    with h5py.File(path, "r+") as f:
        damage(f["v"])
    with pytest.raises(StoreError, match=message):
        FeatureStore(path)
    with pytest.raises(StoreError, match=message):  # merge-stores reads its parts the same way
        merge_stores([path], tmp_path / "merged.h5")


def test_youtube_ids_that_start_with_an_underscore_are_stored(tmp_path, rng, small_meta):
    """ActivityNet has such ids (105 of 7202 in v1.2); names starting with '_' are the store's own."""
    path = tmp_path / "s.h5"
    with StoreWriter(path, small_meta) as w:
        for vid in ("_6fbXk6y8X0", "%odd", "plain"):
            w.add(vid, _feats(rng, 3), num_frames=48, duration_s=1.92, source="x")
        w.add_failure("_broken", "could not decode")
    with FeatureStore(path) as store:
        assert store.video_ids == ["%odd", "_6fbXk6y8X0", "plain"]
        assert "_6fbXk6y8X0" in store and store.read("_6fbXk6y8X0").features.shape == (3, 12)
        assert "_failures" not in store and store.failures() == {"_broken": "could not decode"}
    with StoreWriter(path, small_meta) as again:  # appending keeps them, and knows they are done
        assert again.is_done("_6fbXk6y8X0")
    merged = tmp_path / "m.h5"
    merge_stores([path], merged)
    with FeatureStore(merged) as store:
        assert store.video_ids == ["%odd", "_6fbXk6y8X0", "plain"]
