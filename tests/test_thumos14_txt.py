"""The THUMOS-14 kit's detection txt: class lists, reading, writing, `localize --format thumos14`
and `evaluate` on a txt (wsal.eval.io; the kit's example files when ../shared/data is present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_localize_cli import localize, tiny_run  # noqa: F401 (tiny_run is a fixture)
from wsal.cli import main
from wsal.errors import WsalError
from wsal.eval.io import (
    OFFICIAL_CLASS_LIST,
    load_class_list,
    load_predictions,
    predictions_form,
    write_predictions,
)
from wsal.annotations import load_ground_truth

KIT = "thumos14/official_evalkit_example_detections"


def _class_list(tmp_path: Path, text: str, name: str = "classes.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _assert_one_line_error(load, path: Path, message: str) -> str:
    """``load(path)`` raises a WsalError matching ``message``, one line naming ``path``; its text."""
    with pytest.raises(WsalError, match=message) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    return str(info.value)


def _rows(path: Path) -> list[list[str]]:
    """The whitespace-separated columns of every non-blank line of ``path``."""
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


# Class lists


def test_the_shipped_class_list_is_the_kits_ucf101_numbering():
    classes = load_class_list()
    assert classes.path == str(OFFICIAL_CLASS_LIST)
    assert len(classes.ids) == 20 and len(set(classes.ids.values())) == 20
    assert (classes.ids["BaseballPitch"], classes.ids["CricketShot"], classes.ids["VolleyballSpiking"]) == (7, 24, 97)
    assert classes.official_mismatch() is None


def test_the_shipped_class_list_equals_the_one_in_the_official_annotation_readme(shared_data):
    readme = (shared_data / "thumos14/official_annotations/annotations_test/readme.txt").read_text()
    listed = {}
    for line in readme.splitlines():
        tokens = line.split()
        if len(tokens) == 2 and tokens[0].isdigit():
            listed[tokens[1]] = int(tokens[0])
    assert len(listed) == 20 and load_class_list().ids == listed
    gt = load_ground_truth(shared_data / "thumos14/derived/thumos14_official_gt.json")
    assert set(gt.classes) == set(listed)


def test_a_list_numbering_the_kit_classes_otherwise_is_named(tmp_path):
    ours = load_class_list(_class_list(tmp_path, "1 BaseballPitch\r\n\r\n2 BasketballDunk\r\n3 Other\r\n"))
    assert ours.ids == {"BaseballPitch": 1, "BasketballDunk": 2, "Other": 3}
    assert ours.names_by_id() == {1: "BaseballPitch", 2: "BasketballDunk", 3: "Other"}
    note = ours.official_mismatch()
    assert "numbers 2 classes unlike the THUMOS-14 kit's list (e.g. BaseballPitch 1, the kit 7)" in note
    with pytest.raises(WsalError, match=r"model: 1 classes have no id in the class list .* \(e.g. 'Diving'\)"):
        ours.check_classes(["BaseballPitch", "Diving"], "model")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the class list is empty"),
        ("7 BaseballPitch\n9\n", "line 2: expected 2 columns \\(ID NAME\\), got 1"),
        ("7 Baseball Pitch\n", "line 1: expected 2 columns \\(ID NAME\\), got 3"),
        ("seven BaseballPitch\n", "line 1: class id: expected an integer, got 'seven'"),
        ("7 A\n7 B\n", "line 2: id 7 is listed twice \\('A' and 'B'\\)"),
        ("7 A\n8 A\n", "line 2: class 'A' is listed twice"),
    ],
)
def test_bad_class_lists_are_one_line_errors(tmp_path, text, message):
    _assert_one_line_error(load_class_list, _class_list(tmp_path, text), message)


# Reading and writing


def test_form_by_content_then_name(tmp_path):
    for name, text, form in [("p", '  {"results": {}}', "json"), ("p.txt", '\n{"results": {}}', "json"),
                             ("p.json", "", "json"), ("p.JSON", "v 1 2 7 0.5", "json"),
                             ("p.txt", "v 1 2 7 0.5", "thumos14"), ("p", "v 1 2 7 0.5", "thumos14"), ("p.txt", "", "thumos14")]:
        (tmp_path / name).write_text(text)
        assert predictions_form(tmp_path / name) == form, (name, text)
    (tmp_path / "run").write_text("v 1 2 7 0.5\n")
    assert load_predictions(tmp_path / "run").labels.tolist() == ["BaseballPitch"]
    with pytest.raises(WsalError, match="predictions file is empty"):
        load_predictions(tmp_path / "p.json")


def test_round_trip_keeps_every_value_and_the_order(tmp_path):
    classes = load_class_list(_class_list(tmp_path, "3 A\n11 B\n"))
    results = {
        "v2": [{"segment": [0.1 + 0.2, np.float32(1.5)], "label": "B", "score": np.float64(1 / 3)}],
        "v1": [
            {"segment": [0, 1], "label": "A", "score": 0.9},
            {"segment": [3, 3], "label": "B", "score": 1e-7},  # zero length is allowed
        ],
        "v3": [],
    }
    path = tmp_path / "run.txt"
    write_predictions(results, path, classes)
    assert path.read_text().splitlines() == [
        "v2 0.30000000000000004 1.5 11 0.3333333333333333",
        "v1 0.0 1.0 3 0.9",
        "v1 3.0 3.0 11 1e-07",
    ]
    preds = load_predictions(path, classes)
    assert preds.video_ids.tolist() == ["v2", "v1", "v1"] and preds.labels.tolist() == ["B", "A", "B"]
    assert preds.start_s.tolist() == [0.1 + 0.2, 0.0, 3.0] and preds.end_s.tolist() == [1.5, 1.0, 3.0]
    assert preds.scores.tolist() == [1 / 3, 0.9, 1e-7] and preds.num_reordered == 0
    # the same detections through JSON give the same columns
    write_predictions(results, tmp_path / "run.json")
    json_preds = load_predictions(tmp_path / "run.json")
    for name in ("video_ids", "labels", "start_s", "end_s", "scores"):
        assert getattr(json_preds, name).tolist() == getattr(preds, name).tolist()


def test_reading_follows_the_kit(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("video_test_1.mpeg\t9.5\t2.0\t7\t0.5\r\n\r\nvideo_test_2 -1.0 2 9 1\n")
    preds = load_predictions(path)
    assert preds.video_ids.tolist() == ["video_test_1", "video_test_2"]  # .mpeg dropped, as the kit does
    assert preds.labels.tolist() == ["BaseballPitch", "BasketballDunk"]
    assert preds.start_s.tolist() == [2.0, -1.0] and preds.end_s.tolist() == [9.5, 2.0]  # reversed: put in order
    assert preds.num_reordered == 1
    (tmp_path / "empty.txt").write_text("\n")
    assert len(load_predictions(tmp_path / "empty.txt")) == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("v 1 2 7 0.5\nv 1 2 7\n", "line 2: expected 5 columns \\(video_name start_s end_s class_id score\\), got 4"),
        ("v 1 2 7 0.5 extra\n", "line 1: expected 5 columns .*, got 6"),
        ("v one 2 7 0.5\n", "line 1: start_s: expected a number, got 'one'"),
        ("v 1 2 7 nan\n", "line 1: score: value 'nan' is not finite"),
        ("v 1 inf 7 0.5\n", "line 1: end_s: value 'inf' is not finite"),
        ("v 1 2 7.0 0.5\n", "line 1: class_id: expected an integer, got '7.0'"),
        ("\nv 1 2 8 0.5\n", "line 2: class id 8 is not in the class list .* \\(ids 7, 9, 12, .*, 97\\)"),
    ],
)
def test_bad_lines_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "run.txt"
    path.write_text(text)
    assert _assert_one_line_error(load_predictions, path, message).startswith(f"{path}: line ")


def test_writer_refuses_what_the_txt_cannot_hold(tmp_path):
    path = tmp_path / "run.txt"
    with pytest.raises(WsalError, match=r"video 'v': detection 1: label 'Unknown' has no id in the class list"):
        write_predictions({"v": [{"segment": [0, 1], "label": "Diving", "score": 1},
                                 {"segment": [0, 1], "label": "Unknown", "score": 1}]}, path, load_class_list())
    with pytest.raises(WsalError, match=r"video 'my video': the kit's txt cannot hold a video name"):
        write_predictions({"my video": []}, path, load_class_list())
    with pytest.raises(WsalError, match=r"detection 0: segment \[2, 1\] is reversed"):
        write_predictions({"v": [{"segment": [2, 1], "label": "Diving", "score": 1}]}, path, load_class_list())
    assert not path.exists()


# The kit's own example files (../shared/data)


def test_kit_example_run2_reads_with_the_kits_ids(shared_data, tmp_path):
    path = shared_data / KIT / "Run-2-det.txt"
    rows = _rows(path)
    preds = load_predictions(path)
    assert len(preds) == len(rows) == 3007
    assert preds.num_reordered == sum(float(r[2]) < float(r[1]) for r in rows) > 0
    names = load_class_list().names_by_id()
    assert preds.labels.tolist() == [names[int(r[3])] for r in rows]
    assert set(preds.labels.tolist()) == set(names.values())
    first = rows[0]  # video_validation_0000266 74.1 65.3 7 0.552219: reversed in the file
    assert (preds.video_ids[0], preds.labels[0]) == (first[0], "BaseballPitch")
    assert (preds.start_s[0], preds.end_s[0], preds.scores[0]) == (float(first[2]), float(first[1]), float(first[4]))
    assert preds.start_s.tolist()[1:3] == [float(rows[1][1]), float(rows[2][1])]
    # With the kit's ids every detection names a class that its validation video shows: the mapping is right
    gt = load_ground_truth(shared_data / "thumos14/derived/thumos14_official_gt.json").subset("validation")
    assert all(label in gt.videos[vid].labels for vid, label in zip(preds.video_ids.tolist(), preds.labels.tolist()))
    # The 1-20 numbering of the detclasslist.txt copy beside the annotations cannot read it
    numbered = load_class_list(shared_data / "thumos14/official_annotations/detclasslist.txt")
    assert numbered.ids["BaseballPitch"] == 1 and "BaseballPitch 1, the kit 7" in numbered.official_mismatch()
    first_unknown = next(i for i, r in enumerate(rows) if int(r[3]) > 20) + 1
    with pytest.raises(WsalError, match=f"line {first_unknown}: class id {rows[first_unknown - 1][3]} is not in"):
        load_predictions(path, numbered)


def test_kit_example_run1_tabs_and_mpeg_names(shared_data):
    path = shared_data / KIT / "Run-1-det.txt"
    rows = _rows(path)
    assert "\t" in path.read_text().splitlines()[0] and rows[0][0].endswith(".mpeg")
    preds = load_predictions(path)
    assert len(preds) == len(rows) == 1636 and preds.num_reordered == 0
    assert preds.video_ids.tolist() == [r[0].removesuffix(".mpeg") for r in rows]
    assert preds.scores.tolist() == [float(r[4]) for r in rows]
    assert preds.start_s.tolist() == [float(r[1]) for r in rows] and preds.end_s.tolist() == [float(r[2]) for r in rows]


def test_evaluate_run2_txt_equals_its_json_form(shared_data, tmp_path, capsys):
    txt = shared_data / KIT / "Run-2-det.txt"
    as_json = tmp_path / "Run-2-det.json"
    preds = load_predictions(txt)
    results: dict[str, list[dict]] = {}
    for vid, label, s, e, score in zip(preds.video_ids.tolist(), preds.labels.tolist(), preds.start_s.tolist(),
                                       preds.end_s.tolist(), preds.scores.tolist()):
        results.setdefault(vid, []).append({"segment": [s, e], "label": label, "score": score})
    write_predictions(results, as_json)
    gt = str(shared_data / "thumos14/derived/thumos14_official_gt.json")
    for protocol in ("thumos14-kit", "activitynet"):
        summaries = []
        for pred in (txt, as_json):
            out = tmp_path / f"{protocol}-{pred.suffix}.json"
            assert main(["evaluate", "--ground-truth", gt, "--predictions", str(pred), "--subset", "validation",
                         "--protocol", protocol, "--json", str(out)]) == 0
            summaries.append(json.loads(out.read_text()))
        err = capsys.readouterr().err
        assert f"{txt}: {preds.num_reordered} segments given as end < start were put in order" in err
        assert summaries[0]["mAP"] == summaries[1]["mAP"] and summaries[0]["num_predictions"] == 3007
        assert summaries[0]["per_class_AP"] == summaries[1]["per_class_AP"]
        assert 0 < summaries[0]["average_mAP"] < 1


# Through the command line


def _txt_class_list(tmp_path: Path) -> Path:
    return _class_list(tmp_path, "7 Action00\n9 Action01\n", "tiny_classes.txt")


def test_localize_writes_the_kit_txt_and_evaluate_scores_it_like_the_json(tiny_run, tmp_path, capsys):
    _, store, gt, ckpt = tiny_run
    classes = _txt_class_list(tmp_path)
    as_json, as_txt, raw = tmp_path / "pred.json", tmp_path / "pred.txt", tmp_path / "raw.h5"
    assert localize(ckpt, store, gt, as_json, "--save-raw", str(raw)) == 0
    assert localize(ckpt, store, gt, as_txt, "--format", "thumos14", "--class-list", str(classes)) == 0
    assert "warning" not in capsys.readouterr().err
    results = json.loads(as_json.read_text())["results"]
    expected = [[vid, *map(repr, d["segment"]), {"Action00": "7", "Action01": "9"}[d["label"]], repr(d["score"])]
                for vid, dets in results.items() for d in dets]
    assert len(expected) > 0 and _rows(as_txt) == expected
    # post-processing saved outputs writes the same txt
    again = tmp_path / "again.txt"
    assert main(["localize", "--from-raw", str(raw), "--out", str(again), "--format", "thumos14",
                 "--class-list", str(classes)]) == 0
    assert again.read_text() == as_txt.read_text()
    for protocol in ("activitynet", "thumos14-kit"):
        summaries = []
        for pred in (as_json, as_txt):
            out = tmp_path / f"{protocol}-{pred.suffix}.json"
            extra = ["--class-list", str(classes)] if pred == as_txt else []
            assert main(["evaluate", "--ground-truth", str(gt), "--predictions", str(pred), "--subset", "test",
                         "--protocol", protocol, "--json", str(out), *extra]) == 0
            summaries.append(json.loads(out.read_text()))
        assert summaries[0]["mAP"] == summaries[1]["mAP"] and summaries[0]["per_class_AP"] == summaries[1]["per_class_AP"]
        assert summaries[0]["num_predictions"] == summaries[1]["num_predictions"] == len(expected)


def _error(argv: list[str], capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_localize_refuses_before_running_the_network(tiny_run, tmp_path, capsys):
    _, store, gt, ckpt = tiny_run
    out = tmp_path / "pred.txt"
    base = ["localize", "--checkpoint", str(ckpt), "--features", str(store), "--annotations", str(gt),
            "--subset", "test", "--device", "cpu"]
    err = _error([*base, "--out", str(out), "--format", "thumos14"], capsys)  # the kit's list has no Action00
    assert err.startswith("wsal localize: error: ") and "2 classes have no id in the class list" in err
    assert str(OFFICIAL_CLASS_LIST) in err and "(e.g. 'Action00')" in err and not out.exists()
    err = _error([*base, "--out", str(tmp_path / "pred.json"), "--format", "thumos14"], capsys)
    assert "pred.json: --format thumos14 writes the kit's txt; name it *.txt (a *.json file is read as JSON)" in err
    err = _error([*base, "--out", str(tmp_path / "p.json"), "--class-list", str(_txt_class_list(tmp_path))], capsys)
    assert "--class-list gives the kit's class ids of --format thumos14" in err
    err = _error([*base, "--out", str(out), "--format", "thumos14", "--class-list", str(tmp_path / "none.txt")], capsys)
    assert "none.txt: class list file not found" in err and not out.exists()


def test_evaluate_bad_txt_is_one_line_and_class_list_needs_a_txt(tiny_run, tmp_path, capsys):
    _, _, gt, _ = tiny_run
    bad = tmp_path / "bad.txt"
    bad.write_text("video_test_0000 1.0 2.0 7 0.5\nvideo_test_0000 1.0 2.0 7\n")
    err = _error(["evaluate", "--ground-truth", str(gt), "--predictions", str(bad), "--subset", "test"], capsys)
    assert err == f"wsal evaluate: error: {bad}: line 2: expected 5 columns (video_name start_s end_s class_id score), got 4"
    bad.write_text("video_test_0000 1.0 2.0 7 0.5\n")
    err = _error(["evaluate", "--ground-truth", str(gt), "--predictions", str(bad), "--subset", "test",
                  "--class-list", str(_class_list(tmp_path, "1 Action00\n"))], capsys)
    assert err.endswith("line 1: class id 7 is not in the class list " + str(tmp_path / "classes.txt") + " (ids 1)")
    good = tmp_path / "good.json"
    good.write_text('{"results": {}}')
    err = _error(["evaluate", "--ground-truth", str(gt), "--predictions", str(good), "--subset", "test",
                  "--class-list", str(_txt_class_list(tmp_path))], capsys)
    assert "--class-list gives the class ids of THUMOS-14 kit txt predictions; no --predictions file is one" in err
