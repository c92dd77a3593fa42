"""`wsal evaluate` through wsal.cli.main: outputs, presets, and one-line errors for every bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wsal.cli import main

DATABASE = {
    "v1": {"subset": "test", "annotations": [{"segment": [0, 10], "label": "A"}, {"segment": [20, 30], "label": "A"}],
           "ambiguous": [[35, 36]]},
    "v2": {"subset": "test", "annotations": [{"segment": [0, 5], "label": "B"}]},
    "v3": {"subset": "validation", "annotations": [{"segment": [0, 5], "label": "C"}]},
}
PERFECT = {"v1": [{"segment": [0, 10], "label": "A", "score": 0.9}, {"segment": [20, 30], "label": "A", "score": 0.8}],
           "v2": [{"segment": [0, 5], "label": "B", "score": 0.7}]}


def _json(path: Path, obj) -> str:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


@pytest.fixture
def files(tmp_path):
    gt = _json(tmp_path / "gt.json", {"database": DATABASE})
    perfect = _json(tmp_path / "perfect.json", {"results": PERFECT})
    half = _json(tmp_path / "half.json", {"results": {
        "v1": [{"segment": [0, 20], "label": "A", "score": 0.9}, {"segment": [35, 36], "label": "A", "score": 0.95}],
        "v2": [{"segment": [0, 5], "label": "B", "score": 0.7}, {"segment": [0, 5], "label": "Q", "score": 0.1}],
        "v7": [{"segment": [0, 5], "label": "B", "score": 0.7}],
    }})
    return tmp_path, gt, perfect, half


def test_single_file_json_and_report(files, capsys):
    tmp, gt, perfect, _ = files
    out = tmp / "o" / "res.json"
    code = main(["evaluate", "--ground-truth", gt, "--predictions", perfect, "--subset", "test",
                 "--json", str(out), "--report", str(tmp / "rep")])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    assert "preset thumos; default: the ground truth has 3 classes, <= 50" in captured.out
    assert "THUMOS Ambiguous regions: not used" in captured.out
    js = json.loads(out.read_text())
    assert js["subset"] == "test" and js["tiou"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert js["mAP"] == [1.0] * 7 and js["average_mAP"] == 1.0
    assert set(js["per_class_AP"]) == {"A", "B"}  # C has ground truth only in validation
    assert js["num_ground_truth"] == 3 and js["num_predictions"] == 3
    assert js["averages"] == {"0.1:0.7": 1.0, "0.1:0.5": 1.0, "0.3:0.7": 1.0}
    assert {p.name for p in (tmp / "rep").iterdir()} == {
        "report.md", "per_class.csv", "per_class_ap.png", "map_vs_tiou.png", "pr_curves.png", "per_video.csv", "timelines",
    }  # fmt: skip


def test_several_files_side_by_side_with_warnings(files, capsys):
    tmp, gt, perfect, half = files
    out = tmp / "res.json"
    code = main(["evaluate", "--ground-truth", gt, "--predictions", perfect, half, "--subset", "test",
                 "--tiou", "0.5", "0.7", "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    rows = [line.split() for line in captured.out.splitlines() if line.startswith(("perfect ", "half "))]
    # half at 0.5: A: [35,36] FP (score .95), then [0,20] TP (tIoU .5) of 2 GT -> AP .25; B perfect -> .625
    assert rows == [["perfect", "100.00", "100.00", "100.00"], ["half", "62.50", "50.00", "56.25"]]
    # v7's B prediction (.7) is a false positive of B, ranked after the equal-score TP in v2 (file order)
    assert "1 predictions for 1 videos not in the ground truth count as false positives" in captured.err
    assert "(v7)" in captured.err and "half: 4 of 5 predictions evaluated, 1 on videos outside the ground truth" in captured.out
    assert "labels that have no ground truth in the evaluated videos were dropped ('Q' x1)" in captured.err
    js = json.loads(out.read_text())
    assert [r["predictions"] for r in js["runs"]] == [perfect, half]
    assert js["runs"][1]["mAP"] == [0.625, 0.5] and js["runs"][1]["preset"] is None


def test_ignore_ambiguous_is_named_and_applied(files, capsys):
    tmp, gt, _, half = files
    code = main(["evaluate", "--ground-truth", gt, "--predictions", half, "--subset", "test", "--tiou", "0.5",
                 "--ignore-ambiguous", "--json", str(tmp / "r.json"), "--report", str(tmp / "rep")])
    captured = capsys.readouterr()
    assert code == 0
    assert "unmatched predictions on them are removed (the THUMOS-14 kit's rule)" in captured.out
    assert "mAP (%) at tIoU (activitynet, Ambiguous ignored)" in captured.out
    js = json.loads((tmp / "r.json").read_text())
    # the FP at [35, 36] lies in v1's Ambiguous region: A is then 1 TP of 2 GT -> .5, B 1 -> .75
    assert js["mAP"] == [0.75] and js["protocol"]["ignore_ambiguous"] is True
    assert js["protocol"]["num_ambiguous_removed"] == 1
    assert "unmatched predictions on them are removed" in (tmp / "rep" / "report.md").read_text()


def test_drop_unknown_videos_is_labelled_everywhere(files, capsys):
    tmp, gt, _, _ = files
    pred = _json(tmp / "p.json", {"results": {
        "v1": [{"segment": [0, 10], "label": "A", "score": 0.5}, {"segment": [20, 30], "label": "A", "score": 0.4}],
        "v3": [{"segment": [0, 5], "label": "A", "score": 0.9}],  # a validation video, evaluating test
    }})
    assert main(["evaluate", "--ground-truth", gt, "--predictions", pred, "--subset", "test", "--tiou", "0.5",
                 "--json", str(tmp / "official.json")]) == 0
    official = capsys.readouterr()
    assert main(["evaluate", "--ground-truth", gt, "--predictions", pred, "--subset", "test", "--tiou", "0.5",
                 "--drop-unknown-videos", "--json", str(tmp / "dropped.json")]) == 0
    dropped = capsys.readouterr()
    # officially A: FP (v3), TP, TP -> envelope 2/3 over recall 0..1 -> 2/3; B without predictions 0
    assert json.loads((tmp / "official.json").read_text())["mAP"] == [pytest.approx(1 / 3)]
    js = json.loads((tmp / "dropped.json").read_text())
    assert js["mAP"] == [0.5] and js["protocol"]["drop_unknown_videos"] is True
    assert js["protocol"]["num_unknown_video"] == 1 and "not the official protocol" in js["protocol"]["description"]
    assert "mAP (%) at tIoU (activitynet, unknown videos dropped)" in dropped.out
    assert "mAP (%) at tIoU (activitynet)" in official.out
    assert "count as false positives" in official.err and "were dropped" in dropped.err


def test_thumos14_kit_protocol(files, capsys):
    tmp, gt, perfect, half = files
    assert main(["evaluate", "--ground-truth", gt, "--predictions", perfect, half, "--subset", "test", "--tiou", "0.5",
                 "--protocol", "thumos14-kit", "--json", str(tmp / "kit.json")]) == 0
    out = capsys.readouterr().out
    assert "protocol: THUMOS-14 evaluation kit" in out and "mAP (%) at tIoU (thumos14-kit)" in out
    js = json.loads((tmp / "kit.json").read_text())["runs"]
    assert js[0]["mAP"] == [1.0] and js[0]["protocol"]["name"] == "thumos14-kit"
    # half, A: [0,20] has overlap exactly 0.5 with [0,10], not above 0.5 -> FP; [35,36] lies on the
    # Ambiguous region -> removed; no TP -> 0. B: TP (.7), v7's B FP (.7) ranks after it -> 1. mAP .5
    assert js[1]["mAP"] == [0.5]
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", perfect, "--subset", "test",
                  "--protocol", "thumos14-kit", "--ignore-ambiguous"], capsys)
    assert "belong to the activitynet protocol" in err


def test_activitynet_preset_by_name(files, capsys):
    _, gt, perfect, _ = files
    assert main(["evaluate", "--ground-truth", gt, "--predictions", perfect, "--subset", "test", "--tiou", "activitynet"]) == 0
    assert "0.5 0.55 0.6 0.65 0.7 0.75 0.8 0.85 0.9 0.95 (preset activitynet; --tiou)" in capsys.readouterr().out


def _error(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "predictions file is empty"),
        ("{oops", "not a JSON predictions file"),
        ({"database": {}}, "not a predictions file"),
        ('{"results": {"v1": [{"segment": [0, 1], "label": "A", "score": NaN}]}}', "video 'v1': detection 0: score: value nan is not finite"),
        ({"results": {"v1": [{"segment": [9, 1], "label": "A", "score": 1}]}}, r"video 'v1': detection 0: segment \[9, 1\] is reversed"),
        ({"results": {"v1": [{"segment": ["a", 1], "label": "A", "score": 1}]}}, "expected a number, got 'a'"),
    ],
)
def test_bad_prediction_files(files, capsys, content, message):
    tmp, gt, _, _ = files
    bad = _json(tmp / "bad.json", content)
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", bad, "--subset", "test"], capsys)
    assert err.startswith("wsal evaluate: error: ") and bad in err
    assert re.search(message, err)


def test_bad_ground_truth_and_options(files, capsys):
    tmp, gt, perfect, _ = files
    err = _error(["evaluate", "--ground-truth", _json(tmp / "g.json", {"results": {}}), "--predictions", perfect], capsys)
    assert "not a ground-truth file" in err
    err = _error(["evaluate", "--ground-truth", str(tmp / "missing.json"), "--predictions", perfect], capsys)
    assert "ground-truth file not found" in err
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", perfect, "--subset", "testing"], capsys)
    assert "no subset 'testing'; available subsets: test, validation" in err
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", perfect], capsys)
    assert "has subsets test, validation: choose one with --subset" in err
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", perfect, "--subset", "test", "--tiou", "thumos", "0.5"], capsys)
    assert "--tiou expects" in err
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", perfect, "--subset", "test", "--tiou", "1.5"], capsys)
    assert "must lie in (0, 1]" in err
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", str(tmp / "nope.json"), "--subset", "test"], capsys)
    assert "predictions file not found" in err


def test_subset_all_and_unknown_videos_only(files, capsys):
    tmp, gt, perfect, _ = files
    assert main(["evaluate", "--ground-truth", gt, "--predictions", perfect, "--subset", "all", "--tiou", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "subset all: 3 videos, 3 classes" in out
    assert [line.split() for line in out.splitlines() if line.startswith("perfect ")] == [["perfect", "66.67", "66.67"]]
    other = _json(tmp / "other.json", {"results": {"x": [{"segment": [0, 1], "label": "A", "score": 1}]}})
    assert main(["evaluate", "--ground-truth", gt, "--predictions", other, "--subset", "test"]) == 0
    err = capsys.readouterr().err
    assert "1 predictions for 1 videos not in the ground truth count as false positives" in err and "(x)" in err
    assert main(["evaluate", "--ground-truth", gt, "--predictions", other, "--subset", "test", "--drop-unknown-videos"]) == 0
    assert "no predictions left to evaluate: mAP is 0" in capsys.readouterr().err


def test_real_activitynet_sample_via_cli(shared_data, capsys, tmp_path):
    out = tmp_path / "anet.json"
    code = main(["evaluate",
                 "--ground-truth", str(shared_data / "activitynet/derived/anet1.3_val_gt_from_official_sample.json"),
                 "--predictions", str(shared_data / "activitynet/official_samples/sample_detection_prediction.json"),
                 "--json", str(out)])
    assert code == 0
    assert "preset activitynet; default: the ground truth has 200 classes, > 50" in capsys.readouterr().out
    js = json.loads(out.read_text())
    assert js["mAP"] == [1.0] * 10 and js["subset"] == "validation" and len(js["per_class_AP"]) == 200


def test_help_lists_presets(capsys):
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "thumos = 0.1 0.2 0.3 0.4 0.5 0.6 0.7 (also averages over 0.1:0.5 and 0.3:0.7)" in text
    assert "activitynet = 0.5 0.55 0.6 0.65 0.7 0.75 0.8 0.85 0.9 0.95." in text and "--ignore-ambiguous" in text
    assert "--protocol {activitynet,thumos14-kit}" in text and "--drop-unknown-videos" in text


def test_coverage_is_told_and_the_ground_truth_can_be_restricted(files, capsys):
    tmp, gt, _, _ = files
    # predictions for v1 only: v2's ground truth (class B) has no prediction at all
    only_v1 = _json(tmp / "v1.json", {"results": {"v1": PERFECT["v1"]}})
    assert main(["evaluate", "--ground-truth", gt, "--predictions", only_v1, "--subset", "test", "--tiou", "0.5",
                 "--json", str(tmp / "all.json")]) == 0
    captured = capsys.readouterr()
    assert "1 of 2 ground-truth videos (50%) have no prediction at all (1 of 3 segments; e.g. v2)" in captured.err
    js = json.loads((tmp / "all.json").read_text())
    assert js["mAP"] == [0.5] and js["restricted_to"] is None
    assert js["coverage"] == {"num_gt_videos": 2, "videos_without_predictions": 1, "instances_without_predictions": 1, "examples": ["v2"]}
    listed = tmp / "videos.txt"
    listed.write_text("# the videos I ran\nv1\n\nv9\n")
    assert main(["evaluate", "--ground-truth", gt, "--predictions", only_v1, "--subset", "test", "--tiou", "0.5",
                 "--videos", str(listed), "--json", str(tmp / "some.json")]) == 0
    captured = capsys.readouterr()
    assert f"ground truth restricted to 1 videos listed in {listed}" in captured.out and captured.err == ""
    js = json.loads((tmp / "some.json").read_text())
    assert js["mAP"] == [1.0] and js["restricted_to"] == f"1 videos listed in {listed}" and js["per_class_AP"] == {"A": [1.0]}
    nothing = tmp / "none.txt"
    nothing.write_text("v9\n")
    err = _error(["evaluate", "--ground-truth", gt, "--predictions", only_v1, "--subset", "test", "--videos", str(nothing)], capsys)
    assert "none of its 1 videos is in the ground truth" in err


def test_restrict_to_the_videos_of_a_store(files, capsys):
    import numpy as np

    from wsal.features.store import StoreMeta, StoreWriter

    tmp, gt, _, _ = files
    store = tmp / "s.h5"
    with StoreWriter(store, StoreMeta(25.0, 16, 16, ("rgb",), (4,), "test")) as writer:
        writer.add("v2", np.ones((3, 4), np.float32), num_frames=48, duration_s=1.92, source="x")
    only_v2 = _json(tmp / "v2.json", {"results": {"v2": PERFECT["v2"]}})
    assert main(["evaluate", "--ground-truth", gt, "--predictions", only_v2, "--subset", "test", "--tiou", "0.5",
                 "--features", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"restricted to 1 videos of {store}" in out
    assert [line.split() for line in out.splitlines() if line.startswith("v2 ")] == [["v2", "100.00", "100.00"]]
