"""wsal.eval.report: presets, averages, table, JSON summary and the report folder."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from wsal.annotations import GroundTruth, VideoGT
from wsal.eval.detection import detection_map
from wsal.eval.io import Predictions
from wsal.eval.report import (
    TIOU_PRESETS,
    Run,
    averages,
    default_preset,
    format_table,
    interpolated_precision_at,
    mean_pr_curve,
    summary_json,
    write_report,
)


@pytest.fixture
def runs() -> list[Run]:
    gt = GroundTruth(
        {
            "v1": VideoGT("v1", "test", 40.0, 25.0, np.array([[0.0, 10.0], [20.0, 30.0]]), ("A", "A"), np.array([[35.0, 36.0]])),
            "v2": VideoGT("v2", "test", 10.0, 25.0, np.array([[0.0, 5.0]]), ("B",), np.zeros((0, 2))),
        },
        ("A", "B"),
        "gt.json",
    )

    def preds(rows):
        return Predictions(*(np.asarray([r[i] for r in rows]) for i in range(5)), path="p.json")

    perfect = preds([("v1", "A", 0.0, 10.0, 0.9), ("v1", "A", 20.0, 30.0, 0.8), ("v2", "B", 0.0, 5.0, 0.7)])
    # A: [0, 20] has tIoU 0.5 with [0, 10]; a prediction for an unknown video is counted
    half = preds([("v1", "A", 0.0, 20.0, 0.9), ("v2", "B", 0.0, 5.0, 0.7), ("v9", "B", 0.0, 5.0, 0.7)])
    thresholds = TIOU_PRESETS["thumos"]
    return [
        Run("perfect", "perfect.json", detection_map(gt, perfect, thresholds)),
        Run("half", "half.json", detection_map(gt, half, thresholds)),
    ]


def test_presets():
    assert TIOU_PRESETS["thumos"] == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    # the official evaluator's np.linspace(0.5, 0.95, 10): its 0.9 is 0.8999999999999999
    assert TIOU_PRESETS["activitynet"] == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95)
    assert default_preset(50) == "thumos" and default_preset(51) == "activitynet"


def test_averages(runs):
    half = runs[1].result
    # mAP: (0.5 + 1) / 2 = 0.75 for tIoU <= 0.5, then (0 + 1) / 2 = 0.5 at 0.6 and 0.7
    np.testing.assert_allclose(half.mAP, [0.75] * 5 + [0.5] * 2)
    avg = averages(half, "thumos")
    assert list(avg) == ["0.1:0.7", "0.1:0.5", "0.3:0.7"]
    assert avg["0.1:0.7"] == pytest.approx((5 * 0.75 + 2 * 0.5) / 7)
    assert avg["0.1:0.5"] == pytest.approx(0.75)
    assert avg["0.3:0.7"] == pytest.approx((3 * 0.75 + 2 * 0.5) / 5)
    assert list(averages(half, None)) == ["0.1:0.7"]


def test_table_has_one_row_per_file(runs):
    text = format_table(runs, "thumos")
    lines = text.splitlines()
    assert lines[0] == "mAP (%) at tIoU (activitynet)"
    assert lines[1].split()[:3] == ["predictions", "0.1", "0.2"] and "0.3:0.7" in lines[1]
    assert lines[2].split()[0] == "perfect" and lines[2].split()[1] == "100.00"
    assert lines[3].split()[1:] == ["75.00"] * 5 + ["50.00"] * 2 + ["67.86", "75.00", "65.00"]


def test_summary_json_schema(runs):
    js = summary_json(runs[1], "test", "thumos")
    for key in ("subset", "tiou", "mAP", "average_mAP", "per_class_AP", "num_ground_truth", "num_predictions", "protocol"):
        assert key in js
    assert js["subset"] == "test" and js["num_ground_truth"] == 3 and js["num_predictions"] == 3
    assert js["num_predictions_in_file"] == 3 and js["protocol"]["ignore_ambiguous"] is False
    assert js["protocol"]["name"] == "activitynet-detection" and js["protocol"]["drop_unknown_videos"] is False
    assert js["protocol"]["num_unknown_video"] == 1
    assert js["per_class_AP"]["B"] == [1.0] * 7  # v9's false positive ties at .7 and ranks after the TP
    assert any("not in the ground truth" in w for w in js["warnings"])


def test_interpolated_precision_and_mean_curve(runs):
    got = interpolated_precision_at(np.array([0.0, 0.5]), np.array([0.0, 1.0]), np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(got, [0.5, 0.5, 0.5])
    assert np.all(interpolated_precision_at(np.array([]), np.array([]), np.array([0.0, 1.0])) == 0)
    grid = np.linspace(0, 1, 11)
    # half at 0.5: A reaches recall 0.5 at precision 1, nothing beyond; B perfect
    np.testing.assert_allclose(mean_pr_curve(runs[1].result, grid), [1.0] * 6 + [0.5] * 5)


def test_write_report(runs, tmp_path):
    written = write_report(tmp_path / "rep", runs, "gt.json", "test", "thumos")
    names = sorted(p.name for p in written)
    assert names == ["map_vs_tiou.png", "per_class.csv", "per_class_ap.png", "pr_curves.png", "report.md"]
    for p in written:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "THUMOS Ambiguous regions: not used" in md
    assert "| half | 75.00 | 75.00 | 75.00 | 75.00 | 75.00 | 50.00 | 50.00 | 67.86 | 75.00 | 65.00 |" in md
    assert "warning: 1 predictions for 1 videos not in the ground truth" in md
    with (tmp_path / "rep" / "per_class.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    half_a = next(r for r in rows if r["predictions"] == "half" and r["class"] == "A")
    assert half_a["num_ground_truth"] == "2" and float(half_a["AP@0.5"]) == 0.5 and float(half_a["AP@0.6"]) == 0.0
