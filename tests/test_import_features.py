"""`wsal import-features` and wsal.features.importers on tiny generated npy trees (rgb 8 + flow 6 columns)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsal.cli import main
from wsal.features.importers import ImportOptions, import_features
from wsal.features.store import FeatureStore, StoreWriter

RGB_DIM, FLOW_DIM = 8, 6


def _basnet_tree(root: Path, rng: np.random.Generator, videos: dict[str, tuple[str, int]]) -> dict[str, np.ndarray]:
    """Write rgb/flow npys for ``{video: (split, T)}``; return the expected joined (T, 14) features."""
    expected = {}
    for vid, (split, t) in videos.items():
        rgb = rng.standard_normal((t, RGB_DIM))  # float64 on disk: the import casts to float32
        flow = rng.standard_normal((t, FLOW_DIM)).astype(np.float32)
        for stream, arr in (("rgb", rgb), ("flow", flow)):
            (root / split / stream).mkdir(parents=True, exist_ok=True)
            np.save(root / split / stream / f"{vid}.npy", arr)
        expected[vid] = np.concatenate([rgb.astype(np.float32), flow], axis=1)
    return expected


def _read_all(path: Path) -> dict[str, np.ndarray]:
    with FeatureStore(path) as store:
        return {vid: store.read(vid).features for vid in store.video_ids}


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["import-features", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_line(err: str) -> str:
    """The CLI's error line (progress bars may precede it on stderr)."""
    lines = [ln for ln in err.splitlines() if ln.startswith("wsal import-features: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_basnet_round_trip(tmp_path, rng, capsys):
    src = tmp_path / "feats"
    expected = _basnet_tree(src, rng, {"video_validation_1": ("train", 5), "video_test_2": ("test", 3)})
    out = tmp_path / "s.h5"
    code, stdout, _ = _run(capsys, "--layout", "basnet", str(src), "--out", str(out))
    assert code == 0
    assert stdout.strip() == f"{out}: 2 imported, 0 skipped (already present), 0 bad"
    assert not Path(str(out) + ".parts").exists()
    with FeatureStore(out) as store:
        assert store.meta.streams == ("rgb", "flow")
        assert store.meta.stream_dims == (RGB_DIM, FLOW_DIM)  # from the data, not 1024
        assert (store.meta.fps, store.meta.clip_len_frames, store.meta.stride_frames) == (25.0, 16, 16)
        assert store.meta.backbone == "i3d-imported:basnet"
        video = store.read("video_validation_1")
        np.testing.assert_array_equal(video.features, expected["video_validation_1"])
        np.testing.assert_array_equal(store.read("video_test_2").features, expected["video_test_2"])
        assert video.num_frames == 5 * 16
        assert video.duration_s == pytest.approx(5 * 16 / 25)  # 3.2 s: the snippet grid, not the video
        assert video.source == f"{src}/train/rgb/video_validation_1.npy;{src}/train/flow/video_validation_1.npy"
        assert video.kept is None and store.failures() == {}


def test_basnet_with_one_split_and_custom_grid(tmp_path, rng):
    src = tmp_path / "feats"
    expected = _basnet_tree(src, rng, {"v": ("test", 4)})
    out = tmp_path / "s.h5"
    summary = import_features(src, out, ImportOptions("basnet", fps=10.0, snippet_frames=4), progress=False)
    assert summary.imported == ["v"]
    with FeatureStore(out) as store:
        assert (store.meta.fps, store.meta.clip_len_frames, store.meta.stride_frames) == (10.0, 4, 4)
        video = store.read("v")
        np.testing.assert_array_equal(video.features, expected["v"])
        assert (video.num_frames, video.duration_s) == (16, pytest.approx(1.6))


def test_acmnet_round_trip(tmp_path, rng, capsys):
    src = tmp_path / "feats"
    joint = {"a": rng.standard_normal((6, 12)).astype(np.float32), "b": rng.standard_normal((2, 12)).astype(np.float32)}
    for vid, split in (("a", "train"), ("b", "test")):
        (src / split).mkdir(parents=True, exist_ok=True)
        np.save(src / split / f"{vid}.npy", joint[vid])
    out = tmp_path / "s.h5"
    code, stdout, _ = _run(capsys, "--layout", "acmnet", str(src), "--out", str(out))
    assert code == 0 and "2 imported" in stdout
    assert _read_all(out).keys() == joint.keys()
    for vid, feats in _read_all(out).items():
        np.testing.assert_array_equal(feats, joint[vid])
    with FeatureStore(out) as store:
        assert store.meta.stream_dims == (6, 6) and store.meta.backbone == "i3d-imported:acmnet"
        assert store.read("b").source == str(src / "test" / "b.npy")


def _object_array(arrays: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = a
    return out


def test_wtalc_round_trip_with_annotations_dir(tmp_path, rng, capsys):
    feats = [rng.standard_normal((t, 10)).astype(np.float32) for t in (3, 7, 1)]
    names = np.array([b"video_validation_0000051", b"video_test_0000004", b"video_test_0000006"], dtype="S24")
    ann = tmp_path / "Thumos14reduced-Annotations"
    ann.mkdir()
    np.save(ann / "videoname.npy", names)
    npy = tmp_path / "Thumos14reduced-I3D-JOINTFeatures.npy"
    np.save(npy, _object_array(feats), allow_pickle=True)
    out = tmp_path / "s.h5"
    code, stdout, _ = _run(capsys, "--layout", "wtalc", str(npy), "--annotations-dir", str(ann), "--out", str(out))
    assert code == 0 and "3 imported" in stdout
    with FeatureStore(out) as store:
        assert store.video_ids == ["video_test_0000004", "video_test_0000006", "video_validation_0000051"]
        assert store.meta.stream_dims == (5, 5)
        np.testing.assert_array_equal(store.read("video_test_0000004").features, feats[1])
        np.testing.assert_array_equal(store.read("video_test_0000006").features, feats[2])
        assert store.read("video_validation_0000051").source == f"{npy}[0]"


def test_wtalc_uses_youtube_ids_from_url_npy_like_annotations(tmp_path, rng):
    # ActivityNet 1.2's W-TALC folder names videos `video_<n>`; the id both commands use is the YouTube id.
    feats = rng.standard_normal((2, 4, 6)).astype(np.float32)
    np.save(tmp_path / "videoname.npy", np.array([b"video_0", b"video_1"]))
    np.save(tmp_path / "url.npy", np.array([b"https://www.youtube.com/watch?v=abcDEF12345", b"https://www.youtube.com/watch?v=zzzYYY67890"]))
    np.save(tmp_path / "joint.npy", feats)
    summary = import_features(tmp_path / "joint.npy", tmp_path / "s.h5", ImportOptions("wtalc"), progress=False)
    assert summary.imported == ["abcDEF12345", "zzzYYY67890"]
    np.testing.assert_array_equal(_read_all(tmp_path / "s.h5")["zzzYYY67890"], feats[1])


def test_wtalc_names_default_to_source_folder_and_equal_lengths(tmp_path, rng):
    # When every video has the same length, np.save stores a plain (N, T, D) array.
    feats = rng.standard_normal((2, 4, 6)).astype(np.float32)
    np.save(tmp_path / "videoname.npy", np.array([b"x", b"y"]))
    np.save(tmp_path / "joint.npy", feats)
    summary = import_features(tmp_path / "joint.npy", tmp_path / "s.h5", ImportOptions("wtalc"), progress=False)
    assert summary.imported == ["x", "y"]
    np.testing.assert_array_equal(_read_all(tmp_path / "s.h5")["y"], feats[1])


def test_wtalc_with_the_real_thumos_video_names(tmp_path, shared_data):
    ann = shared_data / "thumos14" / "Thumos14reduced-Annotations"
    names = [n.decode() for n in np.load(ann / "videoname.npy")]
    assert len(names) == 412
    feats = [np.full((1 + i % 3, 4), float(i), dtype=np.float32) for i in range(len(names))]
    npy = tmp_path / "Thumos14reduced-I3D-JOINTFeatures.npy"
    np.save(npy, _object_array(feats), allow_pickle=True)
    out = tmp_path / "s.h5"
    options = ImportOptions("wtalc", annotations_dir=ann)
    summary = import_features(npy, out, options, progress=False)
    assert len(summary.imported) == 412
    with FeatureStore(out) as store:
        assert "video_validation_0000051" in store and "video_test_0000004" in store
        test_4 = store.read("video_test_0000004")  # index 200 in videoname.npy
        np.testing.assert_array_equal(test_4.features, np.full((3, 4), 200.0))
        assert test_4.source == f"{npy}[200]"


def test_rerun_adds_only_new_videos(tmp_path, rng, capsys):
    src = tmp_path / "feats"
    first = _basnet_tree(src, rng, {"a": ("train", 3), "b": ("test", 2)})
    out = tmp_path / "s.h5"
    assert _run(capsys, "--layout", "basnet", str(src), "--out", str(out))[0] == 0
    second = _basnet_tree(src, rng, {"c": ("test", 4)})
    code, stdout, _ = _run(capsys, "--layout", "basnet", str(src), "--out", str(out))
    assert code == 0
    assert stdout.strip() == f"{out}: 1 imported, 2 skipped (already present), 0 bad"
    stored = _read_all(out)
    assert sorted(stored) == ["a", "b", "c"]
    for vid, feats in {**first, **second}.items():
        np.testing.assert_array_equal(stored[vid], feats)


def test_killed_run_resumes(tmp_path, rng, monkeypatch):
    src = tmp_path / "feats"
    expected = _basnet_tree(src, rng, {"a": ("train", 3), "b": ("train", 2), "c": ("test", 4)})
    out = tmp_path / "s.h5"
    real_add = StoreWriter.add
    calls = []

    def add_then_die(self, video_id, *args, **kwargs):
        if calls:
            raise KeyboardInterrupt  # the job is killed while importing the second video
        calls.append(video_id)
        real_add(self, video_id, *args, **kwargs)

    monkeypatch.setattr(StoreWriter, "add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        import_features(src, out, ImportOptions("basnet"), progress=False)
    assert not out.exists() and calls == ["a"]
    monkeypatch.setattr(StoreWriter, "add", real_add)
    summary = import_features(src, out, ImportOptions("basnet"), progress=False)
    assert (summary.imported, summary.skipped) == (["b", "c"], ["a"])
    stored = _read_all(out)
    assert sorted(stored) == ["a", "b", "c"]
    for vid, feats in expected.items():
        np.testing.assert_array_equal(stored[vid], feats)


# Each bad-video kind: (how to spoil the tree, a fragment of the expected message).
def _missing_flow(src: Path) -> None:
    (src / "test" / "flow" / "bad.npy").unlink()


def _lengths_differ(src: Path) -> None:
    np.save(src / "test" / "flow" / "bad.npy", np.zeros((2, FLOW_DIM)))


def _wrong_dim(src: Path) -> None:
    np.save(src / "test" / "rgb" / "bad.npy", np.zeros((3, RGB_DIM + 1)))


def _non_finite(src: Path) -> None:
    rgb = np.zeros((3, RGB_DIM))
    rgb[1, 2] = np.nan
    np.save(src / "test" / "rgb" / "bad.npy", rgb)


def _too_large_for_float32(src: Path) -> None:
    rgb = np.zeros((3, RGB_DIM))
    rgb[0, 0] = 1e300
    np.save(src / "test" / "rgb" / "bad.npy", rgb)


def _unreadable(src: Path) -> None:
    (src / "test" / "rgb" / "bad.npy").write_bytes(b"not an npy file")


def _zero_snippets(src: Path) -> None:
    np.save(src / "test" / "rgb" / "bad.npy", np.zeros((0, RGB_DIM)))
    np.save(src / "test" / "flow" / "bad.npy", np.zeros((0, FLOW_DIM)))


BAD_KINDS = {
    "missing_flow": (_missing_flow, "bad.npy: the matching flow file", "is missing"),
    "lengths_differ": (_lengths_differ, "rgb/bad.npy: rgb has 3 snippets but", "flow/bad.npy has 2"),
    "wrong_dim": (_wrong_dim, "rgb/bad.npy: feature width 9, expected 8", ""),
    "non_finite": (_non_finite, "rgb/bad.npy: 1 non-finite values", ""),
    "too_large_for_float32": (_too_large_for_float32, "rgb/bad.npy: 1 non-finite values", "too large for float32"),
    "unreadable": (_unreadable, "rgb/bad.npy: unreadable .npy file", ""),
    "zero_snippets": (_zero_snippets, "rgb/bad.npy: has zero snippets", ""),
}


def _tree_with_bad(tmp_path: Path, rng: np.random.Generator, kind: str) -> Path:
    src = tmp_path / "feats"
    _basnet_tree(src, rng, {"good1": ("train", 3), "good2": ("test", 2), "bad": ("test", 3)})
    BAD_KINDS[kind][0](src)
    return src


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_bad_video_stops_before_writing(tmp_path, rng, capsys, kind):
    src = _tree_with_bad(tmp_path, rng, kind)
    out = tmp_path / "s.h5"
    code, stdout, err = _run(capsys, "--layout", "basnet", str(src), "--out", str(out))
    line = _error_line(err)
    _, fragment, fragment2 = BAD_KINDS[kind]
    assert code == 2 and stdout == ""
    assert fragment in line and fragment2 in line and "nothing was written" in line and "--skip-bad" in line
    assert not out.exists() and not Path(str(out) + ".parts").exists()


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_skip_bad_records_and_lists_failures(tmp_path, rng, capsys, kind):
    src = _tree_with_bad(tmp_path, rng, kind)
    out = tmp_path / "s.h5"
    code, stdout, err = _run(capsys, "--layout", "basnet", str(src), "--out", str(out), "--skip-bad")
    assert code == 0
    assert stdout.strip() == f"{out}: 2 imported, 0 skipped (already present), 1 bad"
    listed = [ln for ln in err.splitlines() if ln.startswith("wsal import-features: skipped bad video:")]
    assert len(listed) == 1 and BAD_KINDS[kind][1] in listed[0]
    with FeatureStore(out) as store:
        assert store.video_ids == ["good1", "good2"]
        failures = store.failures()
        assert list(failures) == ["bad"] and BAD_KINDS[kind][1] in failures["bad"]


def test_wtalc_bad_entry_is_skipped(tmp_path, rng):
    good = rng.standard_normal((3, 4)).astype(np.float32)
    np.save(tmp_path / "videoname.npy", np.array([b"good", b"flat"]))
    np.save(tmp_path / "joint.npy", _object_array([good, np.zeros(4)]), allow_pickle=True)
    out = tmp_path / "s.h5"
    summary = import_features(tmp_path / "joint.npy", out, ImportOptions("wtalc", skip_bad=True), progress=False)
    reason = f"{tmp_path}/joint.npy[1] (video 'flat'): expected a 2-D (T, D) array, got shape (4,)"
    assert summary.imported == ["good"] and summary.bad == {"flat": reason}
    with FeatureStore(out) as store:
        np.testing.assert_array_equal(store.read("good").features, good)
        assert store.failures() == {"flat": reason}


def test_width_is_the_most_common_one(tmp_path, rng):
    src = tmp_path / "feats"
    (src / "train").mkdir(parents=True)
    for vid, width in (("a", 10), ("b", 10), ("c", 12)):
        np.save(src / "train" / f"{vid}.npy", rng.standard_normal((2, width)))
    summary = import_features(src, tmp_path / "s.h5", ImportOptions("acmnet", skip_bad=True), progress=False)
    assert summary.imported == ["a", "b"]
    assert summary.bad == {"c": f"{src}/train/c.npy: feature width 12, expected 10 (the source's most common width)"}


def _structure_error(tmp_path: Path, rng: np.random.Generator, case: str) -> tuple[list[str], str]:
    """Build a SOURCE that is wrong as a whole; return the CLI arguments and the expected message part."""
    src = tmp_path / "feats"
    if case == "missing_source":
        return ["--layout", "basnet", str(src)], f"{src}: not a folder"
    src.mkdir()
    if case == "empty_source":
        return ["--layout", "acmnet", str(src)], f"{src}: no train/ or test/ folder"
    if case == "split_without_streams":
        (src / "train").mkdir()
        return ["--layout", "basnet", str(src)], f"{src}/train: has no rgb/ or flow/ folder"
    if case == "no_npy_files":
        (src / "train" / "rgb").mkdir(parents=True)
        return ["--layout", "basnet", str(src)], f"{src}: no .npy files in SOURCE/{{train,test}}/{{rgb,flow}}/<video>.npy"
    if case == "basnet_tree_as_acmnet":
        _basnet_tree(src, rng, {"a": ("train", 2)})
        return ["--layout", "acmnet", str(src)], "is it --layout basnet?"
    if case == "video_in_two_splits":
        _basnet_tree(src, rng, {"a": ("train", 2)})
        (src / "test" / "rgb").mkdir(parents=True)
        np.save(src / "test" / "rgb" / "a.npy", np.zeros((2, RGB_DIM)))
        return ["--layout", "basnet", str(src)], f"{src}/test/rgb/a.npy: video 'a' is also in {src}/train"
    if case == "odd_joint_width":
        (src / "test").mkdir()
        np.save(src / "test" / "a.npy", np.zeros((2, 7)))
        return ["--layout", "acmnet", str(src)], "joint feature width 7 is odd"
    npy = src / "joint.npy"
    np.save(npy, _object_array([np.zeros((2, 4)), np.zeros((3, 4))]), allow_pickle=True)
    if case == "wtalc_no_names":
        return ["--layout", "wtalc", str(npy)], f"{src}/videoname.npy: video names file not found"
    if case == "wtalc_count_mismatch":
        np.save(src / "videoname.npy", np.array([b"a", b"b", b"c"]))
        return ["--layout", "wtalc", str(npy)], f"{npy}: 2 feature arrays but {src}/videoname.npy lists 3 videos"
    if case == "wtalc_duplicate_names":
        np.save(src / "videoname.npy", np.array([b"a", b"a"]))
        return ["--layout", "wtalc", str(npy)], "video id a appears twice"
    if case == "annotations_dir_for_basnet":
        return ["--layout", "basnet", str(src), "--annotations-dir", str(src)], "--annotations-dir applies only to --layout wtalc"
    if case == "zero_fps":
        _basnet_tree(src, rng, {"a": ("train", 2)})
        return ["--layout", "basnet", str(src), "--fps", "0"], "fps must be positive"
    raise AssertionError(case)


STRUCTURE_CASES = [
    "missing_source",
    "empty_source",
    "split_without_streams",
    "no_npy_files",
    "basnet_tree_as_acmnet",
    "video_in_two_splits",
    "odd_joint_width",
    "wtalc_no_names",
    "wtalc_count_mismatch",
    "wtalc_duplicate_names",
    "annotations_dir_for_basnet",
    "zero_fps",
]


@pytest.mark.parametrize("case", STRUCTURE_CASES)
def test_wrong_source_is_a_one_line_error(tmp_path, rng, capsys, case):
    args, fragment = _structure_error(tmp_path, rng, case)
    out = tmp_path / "s.h5"
    code, stdout, err = _run(capsys, *args, "--out", str(out))
    assert code == 2 and stdout == ""
    assert fragment in _error_line(err)
    assert not out.exists() and not Path(str(out) + ".parts").exists()


def test_existing_store_with_other_settings_is_an_error(tmp_path, rng, capsys):
    src = tmp_path / "feats"
    _basnet_tree(src, rng, {"a": ("train", 2)})
    out = tmp_path / "s.h5"
    assert _run(capsys, "--layout", "basnet", str(src), "--out", str(out))[0] == 0
    code, _, err = _run(capsys, "--layout", "basnet", str(src), "--out", str(out), "--fps", "30")
    assert code == 2 and "store settings differ" in _error_line(err)


def test_progress_bars_go_to_stderr_in_a_non_tty(tmp_path, rng, capsys):
    src = tmp_path / "feats"
    _basnet_tree(src, rng, {"a": ("train", 2), "b": ("test", 2)})
    code, stdout, err = _run(capsys, "--layout", "basnet", str(src), "--out", str(tmp_path / "s.h5"))
    assert code == 0
    assert stdout.count("\n") == 1  # only the summary line on stdout
    assert "importing" in err and "2/2" in err and "Traceback" not in err
