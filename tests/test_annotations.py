"""`wsal annotations` and wsal.annotations: hand-made files for each format, then the real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wsal.annotations import FORMATS, load_ground_truth, read_thumos14, read_wtalc, write_ground_truth, wtalc_video_ids
from wsal.cli import main
from wsal.errors import WsalError


def _convert(capsys, fmt: str, source: Path, out: Path, *options: object) -> tuple[int, str, str]:
    """Runs ``wsal annotations --format FMT SOURCE --out OUT [options]``; returns (exit code, stdout, stderr)."""
    code = main(["annotations", "--format", fmt, str(source), "--out", str(out), *map(str, options)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _database(path: Path) -> dict:
    return json.loads(path.read_text())["database"]


def _instances(database: dict) -> set[tuple[str, str, float, float]]:
    return {(vid, a["label"], *a["segment"]) for vid, v in database.items() for a in v["annotations"]}


def _write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline=newline) as handle:
        handle.write(text)
    return path


def _video(subset: str, annotations: list, ambiguous: list | None = None, duration=None, fps=None) -> dict:
    """An expected output entry; ``annotations`` as (start, end, label) triples."""
    entry = {
        "subset": subset,
        "duration": duration,
        "fps": fps,
        "annotations": [{"segment": [start, end], "label": label} for start, end, label in annotations],
    }
    if ambiguous:
        entry["ambiguous"] = ambiguous
    return entry


# ---------------------------------------------------------------------------------------------
# THUMOS-14 txt


@pytest.fixture
def thumos_dir(tmp_path: Path) -> Path:
    """Official layout: messy whitespace, CRLF, readme files, Ambiguous files, an ambiguous-only video."""
    root = tmp_path / "th14"
    val, test = root / "annotations_val", root / "annotations_test"
    _write(val / "Diving_val.txt", "video_validation_0000002  1.5 4.0 \nvideo_validation_0000001\t0.2  1.1\n\n")
    _write(val / "HighJump_val.txt", "video_validation_0000001 10.0 12.5\n", newline="\r\n")
    _write(val / "Ambiguous_val.txt", "video_validation_0000001 5.0 6.0\n")
    _write(val / "readme.txt", "THUMOS CHALLENGE 2014\n7 BaseballPitch\n")
    _write(test / "Diving_test.txt", "video_test_0000004 18.6 20.8   \n")
    _write(test / "Ambiguous_test.txt", "video_test_0000004 1 2\nvideo_test_0001292  78.4 113.2\n")
    _write(test / "readme.txt", "not an annotation line at all\n")
    return root


THUMOS_EXPECTED = {
    "video_test_0000004": _video("test", [(18.6, 20.8, "Diving")], [[1.0, 2.0]]),
    "video_test_0001292": _video("test", [], [[78.4, 113.2]]),
    "video_validation_0000001": _video("validation", [(0.2, 1.1, "Diving"), (10.0, 12.5, "HighJump")], [[5.0, 6.0]]),
    "video_validation_0000002": _video("validation", [(1.5, 4.0, "Diving")]),
}


def test_thumos14_messy_files_convert_exactly(thumos_dir, tmp_path, capsys):
    out = tmp_path / "gt.json"
    code, stdout, stderr = _convert(capsys, "thumos14", thumos_dir, out)
    assert code == 0, stderr
    assert _database(out) == THUMOS_EXPECTED
    assert "4 videos" in stdout and "test 2 videos / 1 instances / 2 ambiguous" in stdout
    assert stderr == ""
    gt = load_ground_truth(out)
    assert gt.classes == ("Diving", "HighJump")
    assert gt.subset("test").num_instances() == 1
    assert gt.videos["video_test_0001292"].ambiguous_s.tolist() == [[78.4, 113.2]]


def test_thumos14_source_can_be_one_split_folder(thumos_dir, tmp_path, capsys):
    out = tmp_path / "gt.json"
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir / "annotations_test", out)
    assert code == 0, stderr
    assert _database(out) == {k: v for k, v in THUMOS_EXPECTED.items() if v["subset"] == "test"}


def test_thumos14_video_info_fills_duration_and_fps(thumos_dir, tmp_path, capsys):
    info = {
        "video_test_0000004": {"fps": 30.0, "duration": 33.73, "num_frame": 1012},
        "video_validation_0000001": {"fps": 25.0, "duration": 60.0},
        "video_validation_0000002": {"fps": 29.97},
        "video_not_annotated": {"fps": 1.0, "duration": 1.0},
    }
    info_path = _write(tmp_path / "info.json", json.dumps(info))
    out = tmp_path / "gt.json"
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, out, "--video-info", info_path)
    assert code == 0
    db = _database(out)
    assert [(db[vid]["fps"], db[vid]["duration"]) for vid in sorted(db)] == [
        (30.0, 33.73),  # video_test_0000004
        (None, None),  # video_test_0001292: not in the info file
        (25.0, 60.0),  # video_validation_0000001
        (29.97, None),  # video_validation_0000002: fps only
    ]
    assert "no entry for 1 of 4 videos (e.g. video_test_0001292)" in stderr
    assert "video_not_annotated" not in db


def test_thumos14_malformed_line_names_file_and_line(thumos_dir, tmp_path, capsys):
    lines = "video_test_0000004 1.0 2.0\nvideo_test_0000005 3.0\n"
    bad = _write(thumos_dir / "annotations_test" / "Billiards_test.txt", lines)
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json")
    assert code == 2
    assert stderr.count("\n") == 1
    assert stderr.startswith(f"wsal annotations: error: {bad}:2: expected 'video_name start end'")
    assert not (tmp_path / "gt.json").exists()


def test_thumos14_non_numeric_time_names_file_and_line(thumos_dir, tmp_path, capsys):
    bad = _write(thumos_dir / "annotations_val" / "Diving_val.txt", "\n\nvideo_validation_0000001 0.2 1,1\n")
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json")
    assert code == 2
    assert f"{bad}:3: expected a number, got '1,1'" in stderr


def test_thumos14_degenerate_segments_are_dropped_and_counted(thumos_dir, tmp_path, capsys):
    lines = ["video_validation_0000001 3.0 3.0", "video_validation_0000001 5.0 4.0", "video_validation_0000001 0.2 1.1"]
    path = _write(thumos_dir / "annotations_val" / "Diving_val.txt", "\n".join(lines) + "\n")
    result = read_thumos14(thumos_dir)
    assert [(d.video, d.label, d.start_s, d.end_s, d.where) for d in result.dropped] == [
        ("video_validation_0000001", "Diving", 3.0, 3.0, f"{path}:1"),
        ("video_validation_0000001", "Diving", 5.0, 4.0, f"{path}:2"),
    ]
    out = tmp_path / "gt.json"
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, out)
    assert code == 0
    assert stderr.count("warning") == 1
    assert "dropped 2 zero-length or reversed segment(s)" in stderr and "[3.0, 3.0]" in stderr
    annotations = _database(out)["video_validation_0000001"]["annotations"]
    assert [a["segment"] for a in annotations if a["label"] == "Diving"] == [[0.2, 1.1]]


def test_thumos14_video_in_two_subsets_is_an_error(thumos_dir, tmp_path, capsys):
    _write(thumos_dir / "annotations_test" / "HighJump_test.txt", "video_validation_0000001 1.0 2.0\n")
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json")
    assert code == 2
    assert "video video_validation_0000001 is in subset 'test' here but 'validation' elsewhere" in stderr


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such folder"),
        ("file", "not a folder"),
        ("no_class_files", "no <Class>_val.txt or <Class>_test.txt files"),
    ],
)
def test_thumos14_bad_source_is_one_line_error(case, message, tmp_path, capsys):
    source = tmp_path / "src"
    if case == "file":
        _write(source, "x")
    elif case == "no_class_files":
        _write(source / "readme.txt", "x")
    code, _, stderr = _convert(capsys, "thumos14", source, tmp_path / "gt.json")
    assert code == 2
    assert stderr.count("\n") == 1 and f"error: {source}: {message}" in stderr


def test_thumos14_unreadable_class_file(thumos_dir, tmp_path, capsys):
    bad = thumos_dir / "annotations_val" / "Diving_val.txt"
    bad.write_bytes(b"video_validation_0000001 \xff\xfe 1.1\n")
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json")
    assert code == 2 and f"{bad}: annotation file is not UTF-8 text" in stderr


# ---------------------------------------------------------------------------------------------
# ActivityNet JSON


ANET = {
    "version": "VERSION 1.3",
    "taxonomy": [],
    "database": {
        "vidA": {
            "subset": "training",
            "duration": "120.5",
            "url": "https://www.youtube.com/watch?v=vidA",
            "resolution": "640x360",
            "annotations": [
                {"segment": ["1.5", "10"], "label": "Long jump"},
                {"segment": [30, 20], "label": "Long jump"},
                {"segment": [7.25, 9.0], "label": "Archery"},
            ],
        },
        "vidB": {"subset": "validation", "duration": 60, "annotations": [{"segment": [4.0, 4.0], "label": "Archery"}]},
        "vidC": {"subset": "testing", "duration": 10.0, "annotations": []},
    },
}


def test_activitynet_strings_degenerate_and_subsets(tmp_path, capsys):
    source = _write(tmp_path / "anet.json", json.dumps(ANET))
    out = tmp_path / "gt.json"
    code, stdout, stderr = _convert(capsys, "activitynet", source, out)
    assert code == 0
    assert _database(out) == {
        "vidA": _video("training", [(1.5, 10.0, "Long jump"), (7.25, 9.0, "Archery")], duration=120.5),
        "vidB": _video("validation", [], duration=60.0),
        "vidC": _video("testing", [], duration=10.0),
    }
    warnings = [line for line in stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "dropped 2 zero-length or reversed segment(s)" in warnings[0]
    assert "e.g. video vidA 'Long jump' [30.0, 20.0]" in warnings[0]
    assert "training 1 videos / 2 instances" in stdout
    assert load_ground_truth(out).subsets() == ["testing", "training", "validation"]


def test_activitynet_class_named_ambiguous_stays_a_class(tmp_path, capsys):
    data = {"database": {"v": {"subset": "training", "annotations": [{"segment": [1, 2], "label": "Ambiguous"}]}}}
    source = _write(tmp_path / "anet.json", json.dumps(data))
    out = tmp_path / "gt.json"
    assert _convert(capsys, "activitynet", source, out)[0] == 0
    assert _database(out) == {"v": _video("training", [(1.0, 2.0, "Ambiguous")])}


def test_activitynet_output_reads_back_unchanged(thumos_dir, tmp_path, capsys):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert _convert(capsys, "thumos14", thumos_dir, first)[0] == 0
    assert _convert(capsys, "activitynet", first, second)[0] == 0
    assert _database(second) == _database(first) == THUMOS_EXPECTED


def test_activitynet_results_form_needs_subset(tmp_path, capsys):
    detection = {"segment": [1.0, 2.0], "label": "Archery", "score": 0.3}
    results = {"version": "VERSION 1.3", "results": {"vidA": [detection]}, "external_data": {}}
    source = _write(tmp_path / "res.json", json.dumps(results))
    out = tmp_path / "gt.json"
    code, _, stderr = _convert(capsys, "activitynet", source, out)
    assert code == 2 and "pass --subset NAME" in stderr and not out.exists()
    code, _, stderr = _convert(capsys, "activitynet", source, out, "--subset", "validation")
    assert code == 0
    assert _database(out) == {"vidA": _video("validation", [(1.0, 2.0, "Archery")])}


def test_activitynet_subset_fills_only_missing_ones(tmp_path, capsys):
    data = {"database": {"a": {"annotations": []}, "b": {"subset": "training", "annotations": []}}}
    source = _write(tmp_path / "anet.json", json.dumps(data))
    out = tmp_path / "gt.json"
    code, _, stderr = _convert(capsys, "activitynet", source, out)
    assert code == 2 and "video 'a' has no 'subset' (pass --subset NAME" in stderr
    assert _convert(capsys, "activitynet", source, out, "--subset", "validation")[0] == 0
    assert {vid: v["subset"] for vid, v in _database(out).items()} == {"a": "validation", "b": "training"}


def _one_video(**entry) -> str:
    return json.dumps({"database": {"v": {"subset": "training", **entry}}})


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file not found"),
        ("{not json", "not a JSON annotation file (Expecting property name enclosed in double quotes at line 1, column 2)"),
        ('{"taxonomy": []}', "expected an ActivityNet JSON object with a 'database'"),
        ('{"database": {}}', "no videos found"),
        (_one_video(annotations=[{"segment": [1, "x"], "label": "A"}]), "video 'v': annotation 0: expected a number, got 'x'"),
        (_one_video(annotations=[{"segment": [1, 2, 3], "label": "A"}]), "annotation 0: segment must be [start, end], got [1, 2, 3]"),
        (_one_video(annotations=[{"segment": [1, 2]}]), "annotation 0: expected {'segment': [start, end], 'label': L}"),
        (_one_video(annotations=[{"segment": [1, 2], "label": 7}]), "annotation 0: label must be a non-empty string, got 7"),
        (_one_video(), "video 'v': missing 'annotations'"),
        (_one_video(duration="long", annotations=[]), "video 'v': duration: expected a number, got 'long'"),
        ('{"database": {"v": {"subset": "training", "annotations": []}, "v": {"subset": "training", "annotations": []}}}',
         "refused annotation file: key 'v' appears twice in one object"),
    ],
)
def test_activitynet_bad_files_are_one_line_errors(content, message, tmp_path, capsys):
    source = tmp_path / "anet.json"
    if content is not None:
        _write(source, content)
    code, _, stderr = _convert(capsys, "activitynet", source, tmp_path / "gt.json")
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith(f"wsal annotations: error: {source}")
    assert message in stderr


# ---------------------------------------------------------------------------------------------
# W-TALC npy


def _object_array(rows: list) -> np.ndarray:
    array = np.empty(len(rows), dtype=object)
    array[:] = rows
    return array


@pytest.fixture
def wtalc_dir(tmp_path: Path) -> Path:
    """A THUMOS-like W-TALC folder: byte strings, (N, 1) durations, original_fps, Ambiguous_test.txt."""
    root = tmp_path / "wtalc"
    root.mkdir()
    np.save(root / "videoname.npy", np.array([b"video_validation_0000001", b"video_test_0000004"]))
    np.save(root / "subset.npy", np.array([b"validation", b"test"]))
    np.save(root / "classlist.npy", np.array([b"Diving", b"HighJump"]))
    np.save(root / "segments.npy", _object_array([[[0.2, 1.1], [10.0, 12.5]], [[18.6, 20.8], [5.0, 5.0]]]))
    np.save(root / "labels.npy", _object_array([["Diving", "HighJump"], ["Diving", "Diving"]]))
    np.save(root / "duration.npy", np.array([[61.0], [33.73]]))
    np.save(root / "original_fps.npy", np.array([25.0, 30.0]))
    _write(root / "Ambiguous_test.txt", "video_test_0000004  1.0 2.0\nvideo_test_0001292 78.4 113.2\n")
    return root


def test_wtalc_thumos_like_folder(wtalc_dir, tmp_path, capsys):
    out = tmp_path / "gt.json"
    code, _, stderr = _convert(capsys, "wtalc", wtalc_dir, out)
    assert code == 0
    assert _database(out) == {
        "video_test_0000004": _video("test", [(18.6, 20.8, "Diving")], [[1.0, 2.0]], duration=33.73, fps=30.0),
        "video_validation_0000001": _video(
            "validation", [(0.2, 1.1, "Diving"), (10.0, 12.5, "HighJump")], duration=61.0, fps=25.0
        ),
    }
    assert "dropped 1 zero-length or reversed segment(s)" in stderr
    assert "video video_test_0000004 'Diving' [5.0, 5.0]" in stderr
    assert "1 ambiguous regions of 1 video(s) not in the annotation set were skipped" in stderr
    assert "(e.g. video_test_0001292)" in stderr


def test_wtalc_ids_from_url_and_misc_fps(wtalc_dir):
    np.save(wtalc_dir / "videoname.npy", np.array([b"video_4", b"video_5"]))
    urls = [b"https://www.youtube.com/watch?v=--0edUL8zmA", b"https://www.youtube.com/watch?v=c_NlYvL96y0"]
    np.save(wtalc_dir / "url.npy", np.array(urls))
    (wtalc_dir / "original_fps.npy").unlink()
    _write(wtalc_dir / "misc_fps.txt", "video_5 29.97\n")
    assert wtalc_video_ids(wtalc_dir) == ["--0edUL8zmA", "c_NlYvL96y0"]
    result = read_wtalc(wtalc_dir)
    assert list(result.videos) == ["--0edUL8zmA", "c_NlYvL96y0"]
    assert [v.fps for v in result.videos.values()] == [None, 29.97]
    assert result.videos["c_NlYvL96y0"].ambiguous_s.shape == (0, 2)  # Ambiguous_test.txt names THUMOS ids, none match


def test_wtalc_str_arrays_and_no_optional_files(tmp_path):
    root = tmp_path / "w"
    root.mkdir()
    np.save(root / "videoname.npy", np.array(["3HHAEmr0Q34"]))
    np.save(root / "subset.npy", np.array(["training"]))
    np.save(root / "segments.npy", _object_array([[np.array([0.5, 2.0])]]))
    np.save(root / "labels.npy", _object_array([["Tennis serve with ball bouncing"]]))
    assert read_wtalc(root).to_database() == {
        "3HHAEmr0Q34": _video("training", [(0.5, 2.0, "Tennis serve with ball bouncing")]),
    }


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "segments.npy").unlink(), "segments.npy: missing"),
        (lambda d: (d / "labels.npy").write_bytes(b"garbage, not npy"), "labels.npy: cannot read as a .npy array"),
        (
            lambda d: np.save(d / "subset.npy", np.array([b"test"])),
            "subset.npy: expected 2 entries (one per video), got shape (1,)",
        ),
        (
            lambda d: np.save(d / "labels.npy", _object_array([["Diving"], ["Diving", "Diving"]])),
            "video video_validation_0000001 (row 0): 1 labels in labels.npy for 2 segments in segments.npy",
        ),
        (
            lambda d: np.save(d / "labels.npy", _object_array([["Diving", "Golf"], ["Diving", "Diving"]])),
            "label 'Golf' (segment 1) is not in classlist.npy",
        ),
        (lambda d: np.save(d / "videoname.npy", np.array([b"v", b"v"])), "video id v appears twice"),
        (
            lambda d: np.save(d / "url.npy", np.array([b"https://www.youtube.com/watch?v=a", b"not a url"])),
            "url.npy: row 1: 'not a url' is not a YouTube watch URL",
        ),
    ],
)
def test_wtalc_bad_folders_are_one_line_errors(damage, message, wtalc_dir, tmp_path, capsys):
    damage(wtalc_dir)
    code, _, stderr = _convert(capsys, "wtalc", wtalc_dir, tmp_path / "gt.json")
    assert code == 2
    assert stderr.count("\n") == 1 and str(wtalc_dir) in stderr
    assert message in stderr


def test_wtalc_missing_folder(tmp_path, capsys):
    code, _, stderr = _convert(capsys, "wtalc", tmp_path / "nope", tmp_path / "gt.json")
    assert code == 2 and "nope: no such folder" in stderr


# ---------------------------------------------------------------------------------------------
# Options and writing


def test_format_choices_are_the_readers(capsys):
    assert main(["annotations", "--help"]) == 0
    assert "--format {" + ",".join(FORMATS) + "}" in capsys.readouterr().out


def test_subset_option_only_for_activitynet(thumos_dir, tmp_path, capsys):
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json", "--subset", "test")
    assert code == 2 and "--subset only applies to --format activitynet" in stderr


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file not found"),
        ("[1, 2]", "expected an object"),
        ('{"video_test_0000004": {"fps": "fast"}}', "video video_test_0000004, fps: expected a number, got 'fast'"),
    ],
)
def test_bad_video_info(content, message, thumos_dir, tmp_path, capsys):
    info = tmp_path / "info.json"
    if content is not None:
        _write(info, content)
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json", "--video-info", info)
    assert code == 2 and f"{info}: " in stderr and message in stderr


def test_output_replaces_existing_file_and_leaves_no_temporary(thumos_dir, tmp_path, capsys):
    out = _write(tmp_path / "out" / "gt.json", "old content")
    assert _convert(capsys, "thumos14", thumos_dir, out)[0] == 0
    assert _database(out) == THUMOS_EXPECTED
    assert sorted(p.name for p in out.parent.iterdir()) == ["gt.json"]


def test_unwritable_output_is_one_line_error(thumos_dir, tmp_path, capsys):
    code, _, stderr = _convert(capsys, "thumos14", thumos_dir, tmp_path)
    assert code == 2 and stderr.count("\n") == 1 and f"{tmp_path}: cannot write" in stderr


# ---------------------------------------------------------------------------------------------
# Real data (skipped without ../shared/data)


def _subset_counts(database: dict) -> dict[str, tuple[int, int, int]]:
    """``{subset: (videos, instances, ambiguous regions)}``."""
    counts: dict[str, list[int]] = {}
    for video in database.values():
        row = counts.setdefault(video["subset"], [0, 0, 0])
        row[0] += 1
        row[1] += len(video["annotations"])
        row[2] += len(video.get("ambiguous", []))
    return {name: tuple(row) for name, row in counts.items()}


@pytest.fixture
def thumos_official(shared_data, tmp_path, capsys) -> dict:
    out = tmp_path / "th14.json"
    source = shared_data / "thumos14" / "official_annotations"
    info = shared_data / "thumos14" / "video_info" / "TH14_video_info.json"
    code, _, _ = _convert(capsys, "thumos14", source, out, "--video-info", info)
    assert code == 0
    gt = load_ground_truth(out)
    assert gt.subset("validation").num_instances() == 3007 and len(gt.classes) == 20
    return _database(out)


def test_real_thumos14_official_counts(thumos_official):
    assert _subset_counts(thumos_official) == {"validation": (200, 3007, 89), "test": (213, 3358, 99)}
    assert thumos_official["video_test_0001292"]["annotations"] == []
    assert len(thumos_official["video_test_0001292"]["ambiguous"]) == 3


def test_real_thumos14_matches_derived_official_gt(thumos_official, shared_data):
    derived = _database(shared_data / "thumos14" / "derived" / "thumos14_official_gt.json")
    assert set(thumos_official) == set(derived)
    assert _instances(thumos_official) == _instances(derived)
    for vid, video in thumos_official.items():
        other = derived[vid]
        assert video["subset"] == other["subset"], vid
        assert sorted(video.get("ambiguous", [])) == sorted(other["ambiguous"]), vid
        if vid != "video_test_0001292":  # the derived file took this duration from test_set_meta.mat
            assert (video["duration"], video["fps"]) == (other["duration"], other["fps"]), vid
    assert thumos_official["video_test_0001292"]["duration"] is None


def test_real_wtalc_thumos_matches_official(thumos_official, shared_data, tmp_path, capsys):
    out = tmp_path / "wtalc.json"
    code, _, stderr = _convert(capsys, "wtalc", shared_data / "thumos14" / "Thumos14reduced-Annotations", out)
    assert code == 0
    wtalc = _database(out)
    assert _subset_counts(wtalc) == {"validation": (200, 3007, 0), "test": (212, 3358, 96)}
    assert _instances(wtalc) == _instances(thumos_official)
    assert set(thumos_official) - set(wtalc) == {"video_test_0001292"}
    assert "3 ambiguous regions of 1 video(s) not in the annotation set were skipped" in stderr
    assert "(e.g. video_test_0001292)" in stderr
    assert "warning" not in stderr
    # the folder only has Ambiguous_test.txt: test videos carry the official test regions, validation ones none
    for vid, video in wtalc.items():
        expected = thumos_official[vid].get("ambiguous", []) if video["subset"] == "test" else []
        assert sorted(video.get("ambiguous", [])) == sorted(expected), vid


def test_real_activitynet13_validation(shared_data, tmp_path, capsys):
    out = tmp_path / "anet.json"
    source = shared_data / "activitynet" / "derived" / "anet1.3_val_gt_from_official_sample.json"
    code, _, stderr = _convert(capsys, "activitynet", source, out)
    assert code == 0
    database = _database(out)
    # 7654 official instances less 3 zero-length ones (QhiKgeJV3k0, e6J_ygZ779A, 6kgJx6ahgq0)
    assert _subset_counts(database) == {"validation": (4926, 7651, 0)}
    assert "dropped 3 zero-length or reversed segment(s)" in stderr
    assert "e.g. video QhiKgeJV3k0 'Playing guitarra'" in stderr
    assert database["6kgJx6ahgq0"]["annotations"] == []
    assert sum(v["duration"] is not None for v in database.values()) == 4728
    assert load_ground_truth(out).subset("validation").num_instances() == 7651

    sample = tmp_path / "sample.json"
    results = shared_data / "activitynet" / "official_samples" / "sample_detection_prediction.json"
    code, _, stderr = _convert(capsys, "activitynet", results, sample, "--subset", "validation")
    assert code == 0 and "dropped 3 zero-length" in stderr
    assert _instances(_database(sample)) == _instances(database)


def test_real_wtalc_activitynet12_uses_youtube_ids(shared_data, tmp_path, capsys):
    out = tmp_path / "anet12.json"
    code, _, stderr = _convert(capsys, "wtalc", shared_data / "activitynet" / "ActivityNet1.2-Annotations", out)
    assert code == 0
    database = _database(out)
    assert _subset_counts(database) == {"training": (4819, 7144, 0), "validation": (2383, 3579, 0)}
    assert "dropped 10 zero-length or reversed segment(s)" in stderr
    derived = _database(shared_data / "activitynet" / "derived" / "anet1.2_trainval_gt_from_wtalc_npy.json")
    assert set(database) == set(derived)
    assert _instances(database) == {i for i in _instances(derived) if i[3] > i[2]}
    assert all(database[vid]["duration"] == derived[vid]["duration"] for vid in database)


def test_real_wtalc_activitynet13_reduced(shared_data, tmp_path, capsys):
    out = tmp_path / "anet13.json"
    code, _, stderr = _convert(capsys, "wtalc", shared_data / "activitynet" / "ActivityNet1.3-Annotations", out)
    assert code == 0
    database = _database(out)
    assert _subset_counts(database) == {"training": (9337, 14369, 0), "validation": (4575, 7054, 0)}
    assert "dropped 11 zero-length or reversed segment(s)" in stderr
    assert all(v["fps"] is not None for v in database.values())


def test_impossible_times_are_refused_and_late_segments_reported(thumos_dir, tmp_path, capsys):
    _write(thumos_dir / "annotations_val" / "Diving_val.txt", "video_validation_0000002 -1.5 4.0\n")
    code, _, err = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json")
    assert code == 2 and "Diving_val.txt:1: segment [-1.5, 4] starts before the video (negative time)" in err
    _write(thumos_dir / "annotations_val" / "Diving_val.txt", "")  # an empty class file
    info = _write(tmp_path / "info.json", json.dumps({"video_test_0000004": {"fps": 30, "duration": 10.0}}))
    code, _, err = _convert(capsys, "thumos14", thumos_dir, tmp_path / "gt.json", "--video-info", info)
    assert code == 0
    assert "Diving_val.txt: empty: class Diving has no segments in validation from this file" in err
    # video_test_0000004's Diving [18.6, 20.8] starts after its 10 s: kept, and said
    assert "1 segments in 1 videos start after their video ends (e.g. video_test_0000004 at 18.6 s of 10 s)" in err
    assert _database(tmp_path / "gt.json")["video_test_0000004"]["annotations"][0]["segment"] == [18.6, 20.8]
    bad = _write(tmp_path / "anet.json", json.dumps({"database": {"v": {"subset": "training", "duration": -4, "annotations": []}}}))
    code, _, err = _convert(capsys, "activitynet", bad, tmp_path / "gt2.json")
    assert code == 2 and "video 'v': duration: must be > 0, got -4" in err


# --------------------------------------------------------------------------- the ground-truth JSON form

DATABASE = {
    "v1": {
        "subset": "test",
        "duration": 33.7,
        "fps": 30.0,
        "annotations": [
            {"segment": [0.2, 1.1], "label": "B"},
            {"segment": ["11.4", "12.2"], "label": "A"},
        ],
        "ambiguous": [[12.0, 13.5]],
    },
    "v2": {"subset": "validation", "annotations": [{"segment": [3, 4], "label": "C"}], "extra": "ignored"},
    "v3": {"subset": "test", "annotations": []},
}


def _json_file(tmp_path: Path, obj, name="f.json") -> Path:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_ground_truth_roundtrip_and_fields(tmp_path):
    path = tmp_path / "sub" / "gt.json"
    write_ground_truth(DATABASE, path)
    gt = load_ground_truth(path)
    assert gt.classes == ("A", "B", "C")
    assert gt.video_ids() == ["v1", "v2", "v3"]
    v1 = gt.videos["v1"]
    assert v1.subset == "test" and v1.duration_s == 33.7 and v1.fps == 30.0
    np.testing.assert_array_equal(v1.segments_s, [[0.2, 1.1], [11.4, 12.2]])  # string values accepted
    assert v1.labels == ("B", "A")
    np.testing.assert_array_equal(v1.ambiguous_s, [[12.0, 13.5]])
    v2 = gt.videos["v2"]
    assert v2.duration_s is None and v2.fps is None and v2.ambiguous_s.shape == (0, 2)
    assert gt.videos["v3"].segments_s.shape == (0, 2)
    assert not list(path.parent.glob("*.tmp"))


def test_subset_keeps_classes_and_names_available(tmp_path):
    gt = load_ground_truth(_json_file(tmp_path, {"database": DATABASE}))
    test = gt.subset("test")
    assert test.video_ids() == ["v1", "v3"] and test.classes == ("A", "B", "C")
    assert gt.subset(None) is gt
    with pytest.raises(WsalError, match=r"no subset 'training'; available subsets: test, validation"):
        gt.subset("training")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "ground-truth file is empty"),
        ("{not json", "not a JSON ground-truth file"),
        ({"results": {}}, "not a ground-truth file"),
        ([1, 2], "not a ground-truth file"),
        ({"database": {"v": {"annotations": []}}}, r"video 'v': missing or non-string 'subset'"),
        ({"database": {"v": {"subset": "t", "annotations": [{"segment": [5, 2], "label": "A"}]}}}, r"video 'v': annotation 0: segment \[5, 2\] is reversed"),
        ({"database": {"v": {"subset": "t", "annotations": [{"segment": ["x", 2], "label": "A"}]}}}, "expected a number, got 'x'"),
        ({"database": {"v": {"subset": "t", "annotations": [{"segment": [1, 2, 3], "label": "A"}]}}}, r"segment must be \[start, end\]"),
        ({"database": {"v": {"subset": "t", "annotations": [{"segment": [1, 2]}]}}}, "annotation 0: expected"),
        ({"database": {"v": {"subset": "t", "annotations": [{"segment": [1, 2], "label": ""}]}}}, "label must be a non-empty string"),
        ({"database": {"v": {"subset": "t", "annotations": [], "ambiguous": [[3, 1]]}}}, "ambiguous 0: segment"),
        ({"database": {"v": {"subset": "t"}}}, r"video 'v': missing 'annotations' \(a video without instances has"),
        ({"database": {"v": {"subset": "t", "duration": -3, "annotations": []}}}, "duration: must be > 0, got -3"),
        ({"database": {"v": {"subset": "t", "annotations": [{"segment": [-2, 1], "label": "A"}]}}}, "segment starts before the video, at -2 s"),
        ('{"database": {"v": {"subset": "t", "annotations": []}, "v": {"subset": "t", "annotations": []}}}',
         "refused ground-truth file: key 'v' appears twice in one object"),
        ('{"database": ' + "[" * 50000 + "]" * 50000 + "}", "refused ground-truth file: nested too deeply"),
        ('{"database": {"v": {"subset": "t", "annotations": [{"segment": [NaN, 2], "label": "A"}]}}}', "not finite"),
    ],
)
def test_ground_truth_bad_input_is_one_line_error(tmp_path, content, message):
    path = _json_file(tmp_path, content)
    with pytest.raises(WsalError, match=message) as info:
        load_ground_truth(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_write_ground_truth_validates_and_leaves_target_untouched(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text("old")
    with pytest.raises(WsalError, match="reversed"):
        write_ground_truth({"v": {"subset": "t", "annotations": [{"segment": [2, 1], "label": "A"}]}}, path)
    assert path.read_text() == "old"
