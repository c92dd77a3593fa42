"""Timelines for any run: `wsal localize --timelines DIR` and `wsal evaluate --report DIR` (worst
videos first, per-video AP), and the per-video AP they rank by."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from wsal.annotations import GroundTruth, VideoGT, load_ground_truth
from wsal.cli import main
from wsal.eval.detection import detection_map, per_video_ap
from wsal.eval.io import Predictions, load_predictions
from wsal.figures import timeline_file_name
from wsal.synthetic import make_synthetic_dataset

TINY = dict(num_train_videos=6, num_test_videos=4, num_classes=2, feature_dim=12, snippets=(30, 60))
TRAIN = ["--set", "train.max_steps=2", "--set", "train.batch_size=2", "--set", "mil.embed_dim=8",
         "--set", "data.num_snippets=64", "--device", "cpu"]  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def localized(tmp_path_factory):
    """A tiny trained run localized on its 4 test videos, with raw outputs."""
    root = tmp_path_factory.mktemp("timelines")
    store, gt = make_synthetic_dataset(root / "data", seed=3, **TINY)
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(root / "run"), *TRAIN]) == 0
    pred, raw = root / "pred.json", root / "raw.h5"
    assert main(["localize", "--checkpoint", str(root / "run" / "model.pt"), "--features", str(store),
                 "--annotations", str(gt), "--subset", "test", "--out", str(pred), "--device", "cpu",
                 "--save-raw", str(raw), "--timelines", str(root / "direct")]) == 0  # fmt: skip
    return root, store, gt, pred, raw


def test_localize_draws_one_timeline_per_video_on_both_paths(localized, tmp_path, capsys):
    root, _, gt, pred, raw = localized
    test_ids = sorted(json.loads(pred.read_text())["results"])
    assert len(test_ids) == 4
    direct = root / "direct"
    assert sorted(p.name for p in direct.iterdir()) == sorted(timeline_file_name(v) for v in test_ids)
    # post-processing saved outputs draws the same figures (same detections, same ground truth)
    assert main(["localize", "--from-raw", str(raw), "--out", str(tmp_path / "p.json"), "--annotations", str(gt),
                 "--timelines", str(tmp_path / "again")]) == 0  # fmt: skip
    assert "timelines in" in capsys.readouterr().out
    for vid in test_ids:
        first = (direct / timeline_file_name(vid)).read_bytes()
        assert first[:8] == PNG and first == (tmp_path / "again" / timeline_file_name(vid)).read_bytes()
    # without ground truth: no GT rows, so other figures
    assert main(["localize", "--from-raw", str(raw), "--out", str(tmp_path / "q.json"), "--timelines", str(tmp_path / "bare")]) == 0
    vid = test_ids[0]
    assert (tmp_path / "bare" / timeline_file_name(vid)).read_bytes() != (direct / timeline_file_name(vid)).read_bytes()


def test_localize_from_raw_refuses_annotations_without_timelines(localized, tmp_path, capsys):
    _, _, gt, _, raw = localized
    code = main(["localize", "--from-raw", str(raw), "--out", str(tmp_path / "p.json"), "--annotations", str(gt)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "drop --annotations" in err[0]


def _report_rows(report: Path) -> list[dict]:
    with (report / "per_video.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_evaluate_report_lists_videos_worst_first_with_their_timelines(localized, tmp_path):
    _, _, gt, pred, raw = localized
    report = tmp_path / "report"
    assert main(["evaluate", "--ground-truth", str(gt), "--predictions", str(pred), "--subset", "test",
                 "--report", str(report), "--report-videos", "2", "--raw", str(raw)]) == 0  # fmt: skip
    rows = _report_rows(report)
    truth = load_ground_truth(gt).subset("test")
    expected = per_video_ap(truth, load_predictions(pred), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert [r["video"] for r in rows] == sorted(expected, key=lambda v: (expected[v], v))
    assert [float(r["AP_average"]) for r in rows] == pytest.approx([expected[r["video"]] for r in rows], abs=1e-6)
    results = json.loads(pred.read_text())["results"]
    assert [int(r["num_predictions"]) for r in rows] == [len(results.get(r["video"], [])) for r in rows]
    drawn = [r["timeline"] for r in rows if r["timeline"]]
    assert drawn == [f"timelines/{timeline_file_name(r['video'])}" for r in rows[:2]]
    assert sorted(p.name for p in (report / "timelines").iterdir()) == sorted(Path(d).name for d in drawn)
    # report.md links exactly those, worst first, and every link resolves
    text = (report / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"\[png\]\(([^)]+)\)", text)
    assert links == drawn and all((report / link).read_bytes()[:8] == PNG for link in links)

    # without the raw outputs: the segments panel only (a smaller figure), same ranking
    plain = tmp_path / "plain"
    assert main(["evaluate", "--ground-truth", str(gt), "--predictions", str(pred), "--subset", "test",
                 "--report", str(plain), "--report-videos", "2"]) == 0  # fmt: skip
    assert [r["video"] for r in _report_rows(plain)] == [r["video"] for r in rows]
    for link in drawn:
        assert (plain / link).stat().st_size < (report / link).stat().st_size


@pytest.mark.parametrize(
    "extra, message",
    [(["--raw", "r.h5"], "give --report"), (["--report", "R", "--report-videos", "-1"], ">= 0"),
     (["--report", "R", "--raw", "missing.h5"], "raw-output file not found")],
)  # fmt: skip
def test_evaluate_report_options_are_checked(localized, tmp_path, capsys, monkeypatch, extra, message):
    _, _, gt, pred, _ = localized
    monkeypatch.chdir(tmp_path)
    code = main(["evaluate", "--ground-truth", str(gt), "--predictions", str(pred), "--subset", "test", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def _gt(videos: dict[str, list[tuple[float, float, str]]]) -> GroundTruth:
    out = {}
    for vid, segs in videos.items():
        arr = np.array([(a, b) for a, b, _ in segs], dtype=float).reshape(-1, 2)
        out[vid] = VideoGT(vid, "test", 30.0, None, arr, tuple(lab for *_, lab in segs), np.zeros((0, 2)))
    return GroundTruth(out, ("A", "B"), "gt.json")


def test_per_video_ap_is_each_video_scored_alone():
    gt = _gt({"v1": [(1, 3, "A"), (10, 12, "B")], "v2": [(5, 9, "A")], "empty": []})
    rows = [("v1", "A", 1, 3, 0.9), ("v1", "B", 20, 22, 0.8), ("v1", "B", 10, 12, 0.3),
            ("v2", "A", 5, 9, 0.2), ("v2", "B", 0, 1, 0.99), ("elsewhere", "A", 5, 9, 0.95)]  # fmt: skip
    preds = Predictions.from_columns(*map(list, zip(*rows)), "p.json")
    ap = per_video_ap(gt, preds, [0.3, 0.7])
    assert sorted(ap) == ["v1", "v2"]  # a video without segments has no AP
    # v1: A found at rank 1 (AP 1); B's hit ranks after a miss (AP 0.5)
    assert ap["v1"] == pytest.approx(0.75)
    # v2: its class B prediction (no B in v2) and the other video's prediction do not count against it
    assert ap["v2"] == pytest.approx(1.0)
    one = GroundTruth({"v1": gt.videos["v1"]}, gt.classes, gt.path)
    mine = Predictions.from_columns(*map(list, zip(*rows[:3])), "p.json")
    assert ap["v1"] == pytest.approx(detection_map(one, mine, [0.3, 0.7]).average_mAP)


def test_report_videos_follow_the_first_predictions_file_even_when_it_is_empty(localized, tmp_path):
    _, _, gt, pred, _ = localized
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"results": {}}))
    report = tmp_path / "report"
    assert main(["evaluate", "--ground-truth", str(gt), "--predictions", str(empty), str(pred), "--subset", "test",
                 "--report", str(report), "--report-videos", "0"]) == 0  # fmt: skip
    rows = _report_rows(report)
    assert rows and all(r["num_predictions"] == "0" and float(r["AP_average"]) == 0.0 and not r["timeline"] for r in rows)
    assert "No timelines drawn" in (report / "report.md").read_text(encoding="utf-8")
