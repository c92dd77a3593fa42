"""wsal.eval.thumos14_kit: every rule of the THUMOS-14 evaluation kit, each on a hand-worked case,
next to what the ActivityNet protocol (wsal.eval.detection) gives on the same case."""

from __future__ import annotations

import numpy as np
import pytest

from test_detection import make_gt, make_preds
from wsal.annotations import load_ground_truth
from wsal.errors import WsalError
from wsal.eval.detection import detection_map
from wsal.eval.thumos14_kit import RECALL_POINTS, eleven_point_ap, kit_overlap, thumos14_kit_map


def test_recall_points_are_matlabs_colon_values():
    assert len(RECALL_POINTS) == 11 and RECALL_POINTS[0] == 0.0 and RECALL_POINTS[-1] == 1.0
    assert RECALL_POINTS[3] == 0.30000000000000004  # 3 x 0.1, computed from the left end
    assert [p for i, p in enumerate(RECALL_POINTS) if i != 3] == [i / 10 for i in range(11) if i != 3]


def test_overlap_is_intersection_over_hull_and_zero_without_intersection():
    ov = kit_overlap(np.array([[0.0, 10.0], [3.0, 3.0]]), np.array([[5.0, 15.0], [10.0, 20.0], [2.0, 4.0]]))
    np.testing.assert_allclose(ov, [[5 / 15, 0.0, 2 / 10], [0.0, 0.0, 0.0]])


def test_ground_truth_takes_its_best_free_prediction_in_ground_truth_order():
    # g1 [0,10], g2 [8,18]; p1 (.9) [5,15]: overlap g1 1/3, g2 7/13; p2 (.8) [8,18]: g1 1/9, g2 1.
    gt = make_gt({"v": [(0, 10, "A"), (8, 18, "A")]})
    preds = make_preds([("v", "A", 5, 15, 0.9), ("v", "A", 8, 18, 0.8)])
    # kit: g1's best (p1, 1/3) is not above .5 -> g1 takes nothing; g2 takes p2 (1.0); p1 is a false
    # positive. Ranked FP (.9), TP (.8): precision 0, 1/2 at recall 0, 1/2 -> points 0 .. 0.5 get 1/2: 6/11 x 1/2
    assert thumos14_kit_map(gt, preds, [0.5]).mAP[0] == pytest.approx(3 / 11)
    # ActivityNet: p1 claims g2 (7/13), p2's best g2 is taken and g1 (1/9) is below -> TP, FP: AP 1/2
    assert detection_map(gt, preds, [0.5]).mAP[0] == pytest.approx(0.5)


def test_overlap_must_be_strictly_above_the_threshold():
    gt = make_gt({"v": [(0, 10, "A")]})
    preds = make_preds([("v", "A", 0, 20, 0.9)])  # overlap exactly 0.5
    np.testing.assert_array_equal(thumos14_kit_map(gt, preds, [0.4, 0.5]).mAP, [1.0, 0.0])
    np.testing.assert_array_equal(detection_map(gt, preds, [0.4, 0.5]).mAP, [1.0, 1.0])  # ActivityNet: >=


def test_ambiguous_regions_remove_only_false_positives():
    # GT A [0,10] runs into Ambiguous [9,20]; (A, .9, [0,10]) is a hit, (A, .8, [12,18]) lies on the region
    gt = make_gt({"v": [(0, 10, "A")]}, ambiguous={"v": [(9, 20)]})
    preds = make_preds([("v", "A", 0, 10, 0.9), ("v", "A", 12, 18, 0.8), ("v", "A", 30, 40, 0.95)])
    kit = thumos14_kit_map(gt, preds, [0.5])
    # [12,18] is removed, the TP stays, [30,40] (.95) stays a FP: precision 0, 1/2 at recall 0, 1 -> 1/2
    assert kit.mAP[0] == pytest.approx(0.5)
    assert kit.num_ambiguous_removed == 2 and kit.num_ambiguous_regions == 1  # both hits touch [9,20]
    without_fp = make_preds([("v", "A", 0, 10, 0.9), ("v", "A", 12, 18, 0.8)])
    assert thumos14_kit_map(gt, without_fp, [0.5]).mAP[0] == 1.0


def test_at_equal_score_true_positives_rank_first():
    gt = make_gt({"v": [(0, 10, "A")]})
    fp_first_in_file = make_preds([("v", "A", 30, 40, 0.5), ("v", "A", 0, 10, 0.5)])
    assert thumos14_kit_map(gt, fp_first_in_file, [0.5]).mAP[0] == 1.0
    assert detection_map(gt, fp_first_in_file, [0.5]).mAP[0] == pytest.approx(0.5)  # file order


def test_eleven_point_ap_by_hand():
    # 3 GT; TP, FP, TP: precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3.
    # points 0, .1, .2, .3: 1; .4, .5, .6: 2/3; .7 .. 1: 0 -> (4 + 2) / 11
    assert eleven_point_ap(np.array([True, False, True]), 3) == pytest.approx(6 / 11)
    gt = make_gt({"v": [(0, 10, "A"), (20, 30, "A"), (40, 50, "A")]})
    preds = make_preds([("v", "A", 0, 10, 0.9), ("v", "A", 60, 70, 0.8), ("v", "A", 20, 30, 0.7)])
    assert thumos14_kit_map(gt, preds, [0.5]).mAP[0] == pytest.approx(6 / 11)


def test_recall_of_exactly_three_tenths_misses_matlabs_fourth_point():
    # 10 GT, 3 exact hits: recall 0.3 (the double nearest 3/10) is below MATLAB's 0.30000000000000004
    gt = make_gt({"v": [(10 * i, 10 * i + 5, "A") for i in range(10)]})
    preds = make_preds([("v", "A", 10 * i, 10 * i + 5, 1.0 - i / 10) for i in range(3)])
    assert thumos14_kit_map(gt, preds, [0.5]).mAP[0] == pytest.approx(3 / 11)


def test_unknown_videos_are_false_positives_and_unknown_labels_are_dropped():
    gt = make_gt({"v": [(0, 10, "A")], "w": [(0, 5, "B")]})
    preds = make_preds([("x", "A", 0, 10, 0.9), ("v", "A", 0, 10, 0.8), ("v", "Z", 0, 10, 0.7)])
    r = thumos14_kit_map(gt, preds, [0.5])
    # A: FP (.9, video x), TP: precision 0, 1/2 at recall 0, 1 -> every point 1/2; B has no prediction: 0
    assert r.per_class_AP["A"][0] == pytest.approx(0.5) and r.per_class_AP["B"][0] == 0.0
    assert r.num_unknown_video == 1 and r.unknown_video_ids == ("x",) and r.unknown_labels == {"Z": 1}
    assert r.protocol == "thumos14-kit" and r.num_predictions == 2


def test_each_threshold_matches_afresh():
    gt = make_gt({"v": [(0, 10, "A"), (20, 30, "A")]})
    preds = make_preds([("v", "A", 0, 12, 0.9), ("v", "A", 20, 30, 0.8)])  # overlaps 10/12 and 1
    # at 0.9 the first is a FP: precision 0, 1/2 at recall 0, 1/2 -> points 0 .. 0.5 get 1/2: 3/11
    np.testing.assert_allclose(thumos14_kit_map(gt, preds, [0.5, 0.9]).mAP, [1.0, 3 / 11])


def test_errors():
    with pytest.raises(WsalError, match="no annotated segments"):
        thumos14_kit_map(make_gt({"v": []}), make_preds([]), [0.5])
    with pytest.raises(WsalError, match="must lie in"):
        thumos14_kit_map(make_gt({"v": [(0, 1, "A")]}), make_preds([]), [1.5])


def test_thumos_ground_truth_against_itself(shared_data):
    gt = load_ground_truth(shared_data / "thumos14/derived/thumos14_official_gt.json").subset("test")
    rows = [(v.video_id, lab, s, e, 1.0) for v in gt.videos.values() for (s, e), lab in zip(v.segments_s, v.labels)]
    r = thumos14_kit_map(gt, make_preds(rows), [0.1, 0.5, 0.7])
    np.testing.assert_array_equal(r.mAP, [1.0, 1.0, 1.0])
    assert r.num_ambiguous_regions > 0 and len(r.classes) == 20
