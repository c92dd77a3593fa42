"""wsal.eval.io: predictions JSON and the THUMOS-14 kit txt, tolerant of real files, strict on bad values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wsal.annotations import load_ground_truth
from wsal.errors import WsalError
from wsal.eval.io import load_predictions, write_predictions

def _write(tmp_path: Path, obj, name="f.json") -> Path:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_missing_file(tmp_path):
    with pytest.raises(WsalError, match="predictions file not found"):
        load_predictions(tmp_path / "nope.json")


def test_predictions_roundtrip_keeps_file_order(tmp_path):
    results = {
        "v2": [{"segment": [np.float32(1.5), 2], "label": "A", "score": np.float64(0.25)}],
        "v1": [
            {"segment": [0, 1], "label": "B", "score": 0.9},
            {"segment": [3, 3], "label": "A", "score": 1},  # zero length is allowed
        ],
    }
    path = tmp_path / "p.json"
    write_predictions(results, path)
    raw = json.loads(path.read_text())
    assert raw["version"] == "wsal" and set(raw) == {"version", "results", "external_data"}
    preds = load_predictions(path)
    assert len(preds) == 3
    assert list(preds.video_ids) == ["v2", "v1", "v1"]
    assert list(preds.labels) == ["A", "B", "A"]
    np.testing.assert_array_equal(preds.start_s, [1.5, 0, 3])
    np.testing.assert_array_equal(preds.end_s, [2, 1, 3])
    np.testing.assert_array_equal(preds.scores, [0.25, 0.9, 1.0])
    assert preds.path == str(path)


def test_predictions_accept_activitynet_extras_and_strings(tmp_path):
    obj = {"version": "VERSION 1.3", "external_data": {"used": False}, "taxonomy": [],
           "results": {"v": [{"segment": ["18.6", "20"], "label": "A", "score": "0.5", "extra": 1}], "w": []}}
    preds = load_predictions(_write(tmp_path, obj))
    assert len(preds) == 1 and preds.start_s[0] == 18.6 and preds.scores[0] == 0.5


def test_empty_results_is_zero_predictions(tmp_path):
    preds = load_predictions(_write(tmp_path, {"results": {}}))
    assert len(preds) == 0 and preds.scores.dtype == np.float64


@pytest.mark.parametrize(
    "content, message",
    [
        ("   \n", "predictions file is empty"),
        ("[]", "not a predictions file"),
        ({"database": {}}, "not a predictions file"),
        ({"results": {"v": {"segment": [1, 2]}}}, "video 'v': expected a list of detections"),
        ({"results": {"v": [{"segment": [1, 2], "label": "A"}]}}, "detection 0: missing 'score'"),
        ({"results": {"v": [{"label": "A", "score": 1}]}}, "classification result file"),
        ({"results": {"v": [{"segment": [4, 2], "label": "A", "score": 1}]}}, "reversed"),
        ({"results": {"v": [{"segment": [1, 2], "label": "A", "score": True}]}}, "expected a number, got True"),
        ({"results": {"v": [{"segment": [1, 2], "label": "A", "score": None}]}}, "expected a number, got None"),
        ('{"results": {"v": [{"segment": [1, 2], "label": "A", "score": NaN}]}}', "score: value nan is not finite"),
        ('{"results": {"v": [{"segment": [1, Infinity], "label": "A", "score": 1}]}}', "not finite"),
    ],
)
def test_predictions_bad_input_is_one_line_error(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(WsalError, match=message) as info:
        load_predictions(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_write_predictions_rejects_nan(tmp_path):
    with pytest.raises(WsalError, match="not finite"):
        write_predictions({"v": [{"segment": [0, 1], "label": "A", "score": float("nan")}]}, tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_real_files(shared_data):
    anet = load_ground_truth(shared_data / "activitynet/derived/anet1.3_val_gt_from_official_sample.json")
    assert len(anet.videos) == 4926 and len(anet.classes) == 200 and anet.subsets() == ["validation"]
    thumos = load_ground_truth(shared_data / "thumos14/derived/thumos14_official_gt.json")
    assert len(thumos.classes) == 20 and thumos.subsets() == ["test", "validation"]
    # Numbers from thumos14/SOURCE.md: test 3358 instances, validation 3007 (Ambiguous kept apart).
    assert thumos.subset("test").num_instances() == 3358
    assert thumos.subset("validation").num_instances() == 3007
    assert thumos.videos["video_test_0001292"].segments_s.shape == (0, 2)
    assert len(thumos.videos["video_test_0001292"].ambiguous_s) > 0
    basnet = load_ground_truth(shared_data / "thumos14/gt_json/basnet_um/gt.json")  # string segments
    assert basnet.subset("test").num_instances() == 3311
    preds = load_predictions(shared_data / "activitynet/official_samples/sample_detection_prediction.json")
    assert len(preds) == anet.num_instances() and np.all(preds.scores == 1.0)
    with pytest.raises(WsalError, match="classification result file"):
        load_predictions(shared_data / "activitynet/official_samples/sample_classification_prediction.json")


def test_a_video_listed_twice_in_predictions_is_refused(tmp_path):
    path = tmp_path / "pred.json"
    path.write_text('{"results": {"v1": [{"segment": [0, 1], "label": "A", "score": 1}], "v1": []}}')
    with pytest.raises(WsalError, match="refused predictions file: key 'v1' appears twice in one object") as info:
        load_predictions(path)
    assert "\n" not in str(info.value)


def test_json_outputs_get_the_usual_file_mode(tmp_path):
    import os

    from wsal.outputs import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic({"a": 1}, tmp_path / "x.json")
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
