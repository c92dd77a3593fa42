"""wsal.eval.detection: tIoU, interpolated AP, and the ActivityNet mAP protocol.

Hand-checked cases first, then many random cases against the plain loop in wsal.eval.reference,
then the real ActivityNet sample (its predictions are the ground truth with score 1: mAP 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from wsal.annotations import GroundTruth, VideoGT, load_ground_truth
from wsal.errors import WsalError
from wsal.eval.detection import detection_map, interpolated_ap
from wsal.eval.io import Predictions, load_predictions
from wsal.eval.reference import official_activitynet_ap, reference_per_class_ap
from wsal.segments import tiou


def make_gt(videos: dict[str, list[tuple[float, float, str]]], ambiguous: dict[str, list] | None = None) -> GroundTruth:
    ambiguous = ambiguous or {}
    out = {}
    for vid, rows in videos.items():
        segs = np.asarray([(s, e) for s, e, _ in rows], dtype=np.float64).reshape(-1, 2)
        amb = np.asarray(ambiguous.get(vid, []), dtype=np.float64).reshape(-1, 2)
        out[vid] = VideoGT(vid, "test", None, None, segs, tuple(lab for _, _, lab in rows), amb)
    return GroundTruth(out, tuple(sorted({lab for rows in videos.values() for _, _, lab in rows})), "gt.json")


def make_preds(rows: list[tuple[str, str, float, float, float]]) -> Predictions:
    return Predictions(
        video_ids=np.asarray([r[0] for r in rows], dtype=str),
        labels=np.asarray([r[1] for r in rows], dtype=str),
        start_s=np.asarray([r[2] for r in rows], dtype=np.float64),
        end_s=np.asarray([r[3] for r in rows], dtype=np.float64),
        scores=np.asarray([r[4] for r in rows], dtype=np.float64),
        path="pred.json",
    )


# --- interpolated AP --------------------------------------------------------------------------

def test_interpolated_ap_hand_values():
    # ranks TP FP TP FP, 3 GT: precision 1, .5, 2/3, .5; recall 1/3, 1/3, 2/3, 2/3
    # envelope at the recall steps: 1 (step 1/3), 2/3 (step 1/3) -> (1 + 2/3) / 3
    ap = interpolated_ap(np.array([1, 0.5, 2 / 3, 0.5]), np.array([1 / 3, 1 / 3, 2 / 3, 2 / 3]))
    assert ap == pytest.approx(5 / 9)
    # FP first: precision 0, 1/2; recall 0, 1 (1 GT) -> envelope 1/2 over the whole step
    assert interpolated_ap(np.array([0.0, 0.5]), np.array([0.0, 1.0])) == pytest.approx(0.5)
    batched = interpolated_ap(np.array([[1.0, 1.0], [0.0, 0.5]]), np.array([[0.5, 1.0], [0.0, 1.0]]))
    np.testing.assert_allclose(batched, [1.0, 0.5])


# --- the protocol, hand-checked ---------------------------------------------------------------

GT2 = {"v1": [(0, 10, "A"), (20, 30, "A")], "v2": [(0, 5, "B")]}


def test_perfect_detections_give_one():
    preds = make_preds([("v1", "A", 0, 10, 0.9), ("v1", "A", 20, 30, 0.8), ("v2", "B", 0, 5, 0.1)])
    r = detection_map(make_gt(GT2), preds, [0.5, 0.95])
    np.testing.assert_array_equal(r.mAP, [1.0, 1.0])
    assert r.average_mAP == 1.0 and r.classes == ("A", "B") and r.num_ground_truth == 3
    assert r.num_predictions == 3 and r.warnings() == []


def test_no_predictions_score_zero():
    r = detection_map(make_gt(GT2), make_preds([]), [0.5])
    np.testing.assert_array_equal(r.mAP, [0.0])
    assert r.per_class_AP["A"][0] == 0 and "no predictions left" in r.warnings()[0]


def test_class_without_predictions_counts_as_zero():
    preds = make_preds([("v1", "A", 0, 10, 0.9), ("v1", "A", 20, 30, 0.8)])
    r = detection_map(make_gt(GT2), preds, [0.5])
    assert r.per_class_AP == {"A": pytest.approx([1.0]), "B": pytest.approx([0.0])}
    assert r.mAP[0] == pytest.approx(0.5)


def test_duplicate_detection_is_false_positive():
    # A: TP (score .9), duplicate of the same GT -> FP (.8), then TP (.7): prec 1, .5, 2/3; 2 GT
    preds = make_preds([("v1", "A", 0, 10, 0.9), ("v1", "A", 0, 10, 0.8), ("v1", "A", 20, 30, 0.7)])
    r = detection_map(make_gt({"v1": GT2["v1"]}), preds, [0.5])
    assert r.per_class_AP["A"][0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_wrong_and_unknown_videos_are_false_positives_as_in_the_official_code():
    # right segment, but in v2 (which has no A) -> FP; v9 is not in the GT -> FP too (counted)
    preds = make_preds([("v2", "A", 0, 10, 0.9), ("v1", "A", 0, 10, 0.5), ("v9", "A", 0, 10, 1.0)])
    r = detection_map(make_gt(GT2), preds, [0.5])
    # ranks: FP (v9), FP (v2), TP of 2 GT -> precision 1/3 at recall .5 -> AP 1/6
    assert r.per_class_AP["A"][0] == pytest.approx(1 / 6)
    assert official_activitynet_ap(make_gt(GT2), preds, [0.5])["A"][0] == pytest.approx(1 / 6)
    assert r.num_unknown_video == 1 and r.unknown_video_ids == ("v9",) and r.num_predictions == 3
    assert not r.drop_unknown_videos
    assert "1 predictions for 1 videos not in the ground truth count as false positives" in r.warnings()[0]


def test_drop_unknown_videos_keeps_the_older_behaviour_and_says_so():
    preds = make_preds([("v2", "A", 0, 10, 0.9), ("v1", "A", 0, 10, 0.5), ("v9", "A", 0, 10, 1.0)])
    r = detection_map(make_gt(GT2), preds, [0.5], drop_unknown_videos=True)
    # ranks: FP (v2), TP of 2 GT -> precision .5 at recall .5 -> AP .25
    assert r.per_class_AP["A"][0] == pytest.approx(0.25)
    assert r.drop_unknown_videos and r.num_unknown_video == 1 and r.num_predictions == 2
    assert "were dropped (drop-unknown-videos: not the official protocol) (v9)" in r.warnings()[0]


def test_one_confident_prediction_on_an_unknown_video():
    # 4 GT of one class, 4 exact hits (.9 .. .6) and one prediction (.95) on a video of another subset:
    # officially precision 0, 1/2, 2/3, 3/4, 4/5 at recall 0, 1/4 .. 1; the interpolated envelope is
    # 4/5 everywhere -> AP 0.8 (dropping the unknown video: 1.0)
    gt = make_gt({"v1": [(0, 10, "A"), (20, 30, "A")], "v2": [(0, 10, "A"), (20, 30, "A")]})
    hits = [("v1", "A", 0, 10, 0.9), ("v1", "A", 20, 30, 0.8), ("v2", "A", 0, 10, 0.7), ("v2", "A", 20, 30, 0.6)]
    preds = make_preds([("other", "A", 0, 10, 0.95), *hits])
    official = 0.8
    assert detection_map(gt, preds, [0.5]).mAP[0] == pytest.approx(official)
    assert official_activitynet_ap(gt, preds, [0.5])["A"][0] == pytest.approx(official)
    assert detection_map(gt, preds, [0.5], drop_unknown_videos=True).mAP[0] == 1.0


def test_activitynet_preset_is_the_official_linspace():
    from wsal.eval.report import TIOU_PRESETS

    official = np.linspace(0.5, 0.95, 10)
    assert TIOU_PRESETS["activitynet"] == tuple(official.tolist())
    assert TIOU_PRESETS["activitynet"][8] == 0.8999999999999999
    # GT [0, 7.3], prediction [0, 6.57]: tIoU computes to 0.8999999999999999, a hit at the official 0.9
    gt = make_gt({"v": [(0, 7.3, "A")]})
    preds = make_preds([("v", "A", 0, 6.57, 1.0)])
    assert tiou([0, 6.57], np.array([[0, 7.3]]))[0] == 0.8999999999999999
    assert detection_map(gt, preds, TIOU_PRESETS["activitynet"]).mAP[8] == 1.0
    assert official_activitynet_ap(gt, preds, official.tolist())["A"][8] == 1.0
    assert detection_map(gt, preds, [0.9]).mAP[0] == 0.0  # the decimal 0.9 is one double higher


def test_all_false_positives():
    preds = make_preds([("v1", "A", 11, 19, 0.9), ("v1", "A", 40, 50, 0.5), ("v2", "B", 6, 9, 0.3)])
    r = detection_map(make_gt(GT2), preds, [0.1, 0.5])
    np.testing.assert_array_equal(r.mAP, [0.0, 0.0])


def test_unknown_label_is_dropped_and_counted():
    preds = make_preds([("v1", "Z", 0, 10, 0.9), ("v1", "Z", 0, 10, 0.8), ("v1", "A", 0, 10, 0.5)])
    r = detection_map(make_gt(GT2), preds, [0.5])
    assert r.unknown_labels == {"Z": 2} and r.num_predictions == 1
    assert r.per_class_AP["A"][0] == pytest.approx(0.5)  # 1 of 2 GT at precision 1
    assert "'Z' x2" in r.warnings()[0]


def test_threshold_decides_match_and_exact_half_matches():
    # pred [0, 20] vs GT [0, 10]: tIoU exactly 0.5 -> TP at 0.5, FP at 0.6
    preds = make_preds([("v1", "A", 0, 20, 0.9)])
    r = detection_map(make_gt({"v1": [(0, 10, "A")]}), preds, [0.5, 0.6])
    np.testing.assert_array_equal(r.mAP, [1.0, 0.0])


def test_taken_best_gt_passes_to_next_best_unmatched():
    # GT g0 [0,10], g1 [4,14]; p1 [0,10] claims g0; p2 [1,11]: tIoU g0 .818 (taken), g1 .538 -> g1
    gt = make_gt({"v": [(0, 10, "A"), (4, 14, "A")]})
    preds = make_preds([("v", "A", 0, 10, 0.9), ("v", "A", 1, 11, 0.8)])
    r = detection_map(gt, preds, [0.5, 0.6])
    # at 0.5 both TP -> 1; at 0.6 p2 finds only g0 above threshold, taken -> FP: AP = 0.5
    np.testing.assert_allclose(r.per_class_AP["A"], [1.0, 0.5])


def test_higher_score_claims_first_regardless_of_file_order():
    gt = make_gt({"v": [(0, 10, "A")]})
    preds = make_preds([("v", "A", 2, 10, 0.2), ("v", "A", 0, 10, 0.9)])  # both match at .5
    r = detection_map(gt, preds, [0.5])
    assert r.per_class_AP["A"][0] == 1.0  # best-scored first: TP then FP
    worse = make_preds([("v", "A", 30, 40, 0.9), ("v", "A", 0, 10, 0.2)])
    assert detection_map(gt, worse, [0.5]).per_class_AP["A"][0] == pytest.approx(0.5)


def test_score_ties_keep_file_order():
    gt = make_gt({"v": [(0, 10, "A")]})
    fp_first = make_preds([("v", "A", 30, 40, 0.5), ("v", "A", 0, 10, 0.5)])
    tp_first = make_preds([("v", "A", 0, 10, 0.5), ("v", "A", 30, 40, 0.5)])
    assert detection_map(gt, fp_first, [0.5]).per_class_AP["A"][0] == pytest.approx(0.5)
    assert detection_map(gt, tp_first, [0.5]).per_class_AP["A"][0] == 1.0


def test_ignore_ambiguous_removes_unmatched_predictions_on_ambiguous_regions():
    gt = make_gt({"v": [(0, 10, "A")]}, ambiguous={"v": [(20, 25)]})
    preds = make_preds([("v", "A", 24, 30, 0.9), ("v", "A", 25, 30, 0.8), ("v", "A", 0, 10, 0.5)])
    off = detection_map(gt, preds, [0.5])
    on = detection_map(gt, preds, [0.5], ignore_ambiguous=True)
    assert off.per_class_AP["A"][0] == pytest.approx(1 / 3)  # FP, FP, TP
    # [24,30] overlaps [20,25] by 1 s -> removed; [25,30] only touches it -> kept (FP)
    assert on.num_ambiguous_removed == 1 and on.ignore_ambiguous and on.num_predictions == 3
    assert on.per_class_AP["A"][0] == pytest.approx(0.5)
    assert off.num_ambiguous_removed == 0 and not off.ignore_ambiguous
    precision, recall = on.pr_curves["A"]  # the removed prediction is no point of the curve
    np.testing.assert_allclose(precision, [0.0, 0.5])
    np.testing.assert_allclose(recall, [0.0, 1.0])


def test_ignore_ambiguous_never_removes_a_true_positive():
    # the THUMOS-14 kit's rule: GT A [0,10] runs into Ambiguous [9,20]; its exact hit stays a TP,
    # the unmatched [12,18] on the Ambiguous region is removed -> AP 1 (removing every prediction
    # on the region before matching, as older wsal did, gave 0)
    gt = make_gt({"v": [(0, 10, "A")]}, ambiguous={"v": [(9, 20)]})
    preds = make_preds([("v", "A", 0, 10, 0.9), ("v", "A", 12, 18, 0.8), ("v", "A", 40, 50, 0.7)])
    on = detection_map(gt, preds, [0.5], ignore_ambiguous=True)
    assert on.per_class_AP["A"][0] == 1.0 and on.num_ambiguous_removed == 2
    assert reference_per_class_ap(gt, preds, [0.5], ignore_ambiguous=True)["A"] == [1.0]


def test_ignore_ambiguous_without_regions_warns():
    r = detection_map(make_gt(GT2), make_preds([("v1", "A", 0, 10, 1.0)]), [0.5], ignore_ambiguous=True)
    assert any("no Ambiguous regions" in w for w in r.warnings())


def test_average_between_and_pr_curve():
    preds = make_preds([("v1", "A", 0, 20, 0.9), ("v2", "B", 0, 5, 0.8)])  # A: tIoU 0.5 with [0,10]
    r = detection_map(make_gt(GT2), preds, [0.3, 0.5, 0.7])
    # A: 1 of 2 GT found at precision 1 while tIoU 0.5 >= threshold -> 0.5; B perfect
    np.testing.assert_allclose(r.mAP, [0.75, 0.75, 0.5])
    assert r.average_between(0.3, 0.5) == pytest.approx(0.75)
    assert np.isnan(r.average_between(0.8, 0.9))
    assert r.pr_tiou == 0.5
    precision, recall = r.pr_curves["A"]
    np.testing.assert_allclose(precision, [1.0])
    np.testing.assert_allclose(recall, [0.5])


@pytest.mark.parametrize("bad", [[], [0.0], [1.5], [float("nan")]])
def test_bad_thresholds(bad):
    with pytest.raises(WsalError, match="tIoU thresholds|no tIoU"):
        detection_map(make_gt(GT2), make_preds([]), bad)


def test_ground_truth_without_segments_is_an_error():
    with pytest.raises(WsalError, match="no annotated segments"):
        detection_map(make_gt({"v": []}), make_preds([]), [0.5])


# --- random cross-check against the plain loop ------------------------------------------------

def _random_case(rng: np.random.Generator) -> tuple[GroundTruth, Predictions]:
    labels = ["a", "b", "c", "d"][: rng.integers(1, 5)]
    videos, ambiguous = {}, {}
    for v in range(rng.integers(1, 6)):
        n = int(rng.integers(0, 5))
        start = rng.integers(0, 20, n).astype(float)  # integer times: many exact tIoU ties
        end = start + rng.integers(0, 7, n)  # includes zero-length segments
        videos[f"v{v}"] = [(s, e, str(lab)) for s, e, lab in zip(start, end, rng.choice(labels, n))]
        a = rng.integers(0, 20, rng.integers(0, 3)).astype(float)
        ambiguous[f"v{v}"] = np.stack([a, a + 2], axis=1)
    m = int(rng.integers(0, 40))
    start = rng.integers(0, 20, m).astype(float)
    end = start + rng.integers(0, 7, m)
    rows = [
        (str(v), str(lab), s, e, sc)
        for v, lab, s, e, sc in zip(
            rng.choice([f"v{i}" for i in range(len(videos) + 1)], m),  # one unknown video
            rng.choice(labels + ["zz"], m),  # one unknown label
            start, end,
            np.round(rng.random(m), 1),  # coarse scores: many ties
        )
    ]
    if m and rng.random() < 0.3:
        rows = rows + rows[: m // 2]  # exact duplicates
    return make_gt(videos, ambiguous), make_preds(rows)


def test_matches_plain_loop_on_random_cases():
    rng = np.random.default_rng(7)
    thresholds = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.95]
    checked = 0
    for _ in range(400):
        gt, preds = _random_case(rng)
        if gt.num_instances() == 0:
            continue
        for ignore, drop in ((False, False), (True, False), (False, True), (True, True)):
            fast = detection_map(gt, preds, thresholds, ignore_ambiguous=ignore, drop_unknown_videos=drop)
            slow = reference_per_class_ap(gt, preds, thresholds, ignore_ambiguous=ignore, drop_unknown_videos=drop)
            assert set(slow) == set(fast.classes)
            for label, aps in slow.items():
                np.testing.assert_allclose(fast.per_class_AP[label], aps, rtol=0, atol=1e-9)
            np.testing.assert_allclose(fast.mAP, np.mean([slow[c] for c in fast.classes], axis=0), rtol=0, atol=1e-9)
            checked += 1
    assert checked > 1200


def _official_case(rng: np.random.Generator) -> tuple[GroundTruth, Predictions]:
    """Random case where the official definition is unambiguous: distinct continuous scores and
    times (no score ties, no equal tIoU to two segments), no zero-length or reversed segments,
    every label with ground truth; predictions on two videos outside the ground truth."""
    labels = ["a", "b", "c"]
    videos = {}
    for v in range(rng.integers(1, 6)):
        n = int(rng.integers(1, 6))
        start = rng.uniform(0, 60, n)
        videos[f"v{v}"] = [(s, s + d, str(lab)) for s, d, lab in zip(start, rng.uniform(0.5, 15, n), rng.choice(labels, n))]
    gt = make_gt(videos)
    known = sorted({lab for rows in videos.values() for _, _, lab in rows})
    m = int(rng.integers(0, 60))
    start = rng.uniform(0, 60, m)
    rows = [
        (str(v), str(lab), s, s + d, float(sc))
        for v, lab, s, d, sc in zip(
            rng.choice([*videos, "x1", "x2"], m), rng.choice(known, m), start, rng.uniform(0.2, 20, m),
            rng.permutation(rng.uniform(0, 1, m)),
        )
    ]
    return gt, make_preds(rows)


def test_default_equals_the_official_matching_where_it_is_defined():
    rng = np.random.default_rng(11)
    thresholds = np.linspace(0.1, 0.95, 18).tolist()
    unknown_seen = 0
    for _ in range(300):
        gt, preds = _official_case(rng)
        fast = detection_map(gt, preds, thresholds)
        official = official_activitynet_ap(gt, preds, thresholds)
        assert set(official) == set(fast.classes)
        for label, aps in official.items():
            np.testing.assert_allclose(fast.per_class_AP[label], aps, rtol=0, atol=1e-9)
        unknown_seen += fast.num_unknown_video
    assert unknown_seen > 100


def test_official_loop_raises_on_a_label_without_ground_truth():
    with pytest.raises(KeyError):
        official_activitynet_ap(make_gt(GT2), make_preds([("v1", "Z", 0, 1, 0.5)]), [0.5])


# --- real data --------------------------------------------------------------------------------

def test_official_activitynet_sample_is_perfect(shared_data):
    gt = load_ground_truth(shared_data / "activitynet/derived/anet1.3_val_gt_from_official_sample.json")
    preds = load_predictions(shared_data / "activitynet/official_samples/sample_detection_prediction.json")
    r = detection_map(gt.subset("validation"), preds, np.linspace(0.5, 0.95, 10))
    np.testing.assert_array_equal(r.mAP, np.ones(10))
    assert len(r.classes) == 200 and r.num_ground_truth == len(preds) and r.warnings() == []


def test_thumos_ground_truth_against_itself_with_ambiguous(shared_data):
    gt = load_ground_truth(shared_data / "thumos14/derived/thumos14_official_gt.json").subset("test")
    rows = [(v.video_id, lab, s, e, 1.0) for v in gt.videos.values() for (s, e), lab in zip(v.segments_s, v.labels)]
    preds = make_preds(rows)
    r = detection_map(gt, preds, [0.1, 0.5, 0.7])
    np.testing.assert_array_equal(r.mAP, [1.0, 1.0, 1.0])
    on = detection_map(gt, preds, [0.5], ignore_ambiguous=True)
    # a few GT segments overlap an Ambiguous region; as exact hits they stay true positives
    assert on.num_ambiguous_removed > 0 and on.mAP[0] == 1.0
    assert on.num_predictions == r.num_predictions


# --- named departures from the official code (docs/evaluation.md), each by hand -------------

def test_departure_score_ties_official_puts_the_later_prediction_first():
    gt = make_gt({"v": [(0, 10, "A")]})
    fp_first = make_preds([("v", "A", 30, 40, 0.5), ("v", "A", 0, 10, 0.5)])
    assert detection_map(gt, fp_first, [0.5]).mAP[0] == pytest.approx(0.5)  # file order: FP, TP
    assert official_activitynet_ap(gt, fp_first, [0.5])["A"] == [1.0]  # reversed argsort: TP, FP


def test_departure_equal_tiou_to_two_segments():
    # p [5,15] has tIoU 1/3 with g0 [0,10] and with g1 [10,20]; q [0,10] comes next (g0 exact).
    gt = make_gt({"v": [(0, 10, "A"), (10, 20, "A")]})
    preds = make_preds([("v", "A", 5, 15, 0.9), ("v", "A", 0, 10, 0.8)])
    # wsal: p takes g0 (listed first), q finds g0 taken and g1 at 0 -> TP, FP: AP 0.5
    assert detection_map(gt, preds, [0.3]).mAP[0] == pytest.approx(0.5)
    # official: p takes g1 (the last), q then takes g0 -> TP, TP: AP 1
    assert official_activitynet_ap(gt, preds, [0.3])["A"] == [1.0]


def test_departure_zero_length_segments_at_different_instants():
    gt = make_gt({"v": [(5, 5, "A")]})
    preds = make_preds([("v", "A", 8, 8, 0.9)])
    assert detection_map(gt, preds, [0.5]).mAP[0] == 0.0  # tIoU 0
    assert official_activitynet_ap(gt, preds, [0.5])["A"] == [1.0]  # 0/0 = NaN passes the threshold test


def test_departure_labels_without_ground_truth_are_dropped_not_an_error():
    preds = make_preds([("v1", "Z", 0, 10, 0.9), ("v1", "A", 0, 10, 0.5)])
    assert detection_map(make_gt(GT2), preds, [0.5]).unknown_labels == {"Z": 1}
    with pytest.raises(KeyError):
        official_activitynet_ap(make_gt(GT2), preds, [0.5])
