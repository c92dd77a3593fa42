"""Temporal action detection metrics: tIoU, interpolated AP, and mAP at several tIoU thresholds.

Protocol (the ActivityNet detection protocol; :func:`detection_map`):

1. Predictions whose label has no ground-truth segment in the evaluated videos are dropped
   (counted per label; the official code stops with a KeyError there). The classes evaluated are
   the labels with at least one ground-truth segment. Predictions for videos that are not in the
   ground truth being evaluated (unknown videos, or videos of another subset) are false positives
   of their class, as in the official code, and counted; ``drop_unknown_videos=True`` drops them
   instead (not the official protocol: results say so).
2. Optional, off by default (the THUMOS-14 kit's Ambiguous rule, ``ignore_ambiguous=True``): a
   prediction that stays unmatched at a threshold (step 4) and whose segment intersects an
   Ambiguous region of its video with positive length (intersection > 0 seconds) is removed from
   the ranking at that threshold: neither a true nor a false positive. Matched predictions always
   count, and zero-length predictions are never removed.
3. Per class, predictions are ranked by score, highest first; equal scores keep their order in the
   predictions file (stable sort).
4. Per threshold, in rank order, each prediction claims the ground-truth segment of its class and
   video with the highest tIoU >= threshold that no higher-ranked prediction has claimed (equal
   tIoU: the segment listed first in the ground-truth file; the official code's reversed argsort
   effectively takes the last). If the best one is taken, the next best unclaimed one above the
   threshold is claimed. A prediction that claims nothing is a false positive, as is every
   prediction in a video without ground truth of its class.
5. AP is the area under the interpolated precision envelope (precision at rank i replaced by the
   maximum precision at any rank >= i), summed over the recall steps: ActivityNet's
   ``interpolated_prec_rec``. Recall is relative to all ground-truth segments of the class.
6. mAP is the mean AP over the evaluated classes; a class without predictions scores 0.

tIoU is :func:`wsal.segments.tiou_pairs` (intersection / union; two zero-length segments score
1 at the same instant and 0 otherwise, where ActivityNet's code divides 0 by 0).

How it is fast: predictions are sorted once (class, then score); tIoU is computed only against
ground truth of the same (class, video) in one vectorized pass; predictions with no candidate
above the lowest threshold are false positives at once. The remaining greedy matching is
sequential only within one (class, video) group, so it runs in "waves": wave w holds the w-th
candidate-bearing prediction of every group, and all waves' predictions are matched together for
all thresholds with numpy. ``wsal.eval.reference`` holds a plain per-prediction loop that tests and
``bench/eval_speed.py`` compare against.

What this module does not do: read files (``wsal.eval.io``), classification metrics
(``wsal.eval.classification``), or print and plot (``wsal.eval.report``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from wsal.annotations import GroundTruth
from wsal.errors import WsalError
from wsal.eval.io import Predictions
from wsal.segments import tiou_pairs


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Area under the interpolated precision envelope; works on the last axis of (..., N).

    Same value as ActivityNet's ``interpolated_prec_rec``: recall is padded with 0 in front and 1
    at the end, precision with 0 on both sides; precision is replaced by its running maximum from
    the right; the sum of (recall step) x (envelope) is the AP (steps of zero width add nothing).

    >>> interpolated_ap(np.array([1.0, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0]))  # TP, FP, TP of 2 GT
    0.8333333333333333
    >>> interpolated_ap(np.array([]), np.array([]))
    0.0
    """
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    lead = precision.shape[:-1]
    mprec = np.concatenate([np.zeros(lead + (1,)), precision, np.zeros(lead + (1,))], axis=-1)
    mrec = np.concatenate([np.zeros(lead + (1,)), recall, np.ones(lead + (1,))], axis=-1)
    envelope = np.maximum.accumulate(mprec[..., ::-1], axis=-1)[..., ::-1]
    ap = np.sum(np.diff(mrec, axis=-1) * envelope[..., 1:], axis=-1)
    return ap if lead else float(ap)


# Warn when more than this share of the ground-truth videos has no prediction at all.
COVERAGE_WARN_SHARE = 0.1


def coverage(gt: GroundTruth, predicted_videos: Sequence[str]) -> tuple[int, tuple[str, ...], int]:
    """(videos with ground truth, those without any prediction (sorted), their segments)."""
    named = set(predicted_videos)
    with_gt = [vid for vid, v in gt.videos.items() if len(v.labels)]
    missing = tuple(sorted(vid for vid in with_gt if vid not in named))
    return len(with_gt), missing, sum(len(gt.videos[vid].labels) for vid in missing)


@dataclass(frozen=True)
class DetectionResult:
    """mAP at each tIoU threshold plus what reports need (counts, warnings, PR curves)."""

    tiou: np.ndarray  # (K,) thresholds in the order asked
    mAP: np.ndarray  # (K,)
    average_mAP: float  # mean of mAP over the K thresholds
    per_class_AP: dict[str, np.ndarray]  # label -> (K,), for every evaluated class
    classes: tuple[str, ...]  # evaluated classes (>= 1 ground-truth segment), sorted
    num_ground_truth: int  # ground-truth segments of the evaluated videos
    num_ground_truth_per_class: dict[str, int]
    num_predictions: int  # predictions that were ranked and matched
    num_predictions_in_file: int
    num_unknown_video: int  # predictions (known label) whose video is not in the ground truth
    unknown_video_ids: tuple[str, ...]  # those videos, sorted
    drop_unknown_videos: bool  # False: those predictions are false positives (official); True: dropped
    unknown_labels: dict[str, int]  # label without ground truth -> predictions dropped
    ignore_ambiguous: bool
    num_ambiguous_regions: int  # Ambiguous regions in the evaluated videos
    num_ambiguous_removed: int  # predictions on an Ambiguous region: removed where unmatched (ignore_ambiguous)
    pr_tiou: float | None  # threshold of the stored PR curves: 0.5 if asked, else the closest
    pr_curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)  # label -> (precision, recall)
    protocol: str = "activitynet"  # "activitynet" (this module) or "thumos14-kit" (wsal.eval.thumos14_kit)
    num_gt_videos: int = 0  # evaluated videos with at least one ground-truth segment
    videos_without_predictions: tuple[str, ...] = ()  # of those, the ones no prediction names, sorted
    instances_without_predictions: int = 0  # ground-truth segments in those videos

    def coverage_warning(self) -> str | None:
        """A line when more than :data:`COVERAGE_WARN_SHARE` of the ground-truth videos have no prediction at all."""
        missing = len(self.videos_without_predictions)
        if not self.num_gt_videos or missing <= COVERAGE_WARN_SHARE * self.num_gt_videos:
            return None
        shown = ", ".join(self.videos_without_predictions[:3]) + (", ..." if missing > 3 else "")
        return (
            f"{missing} of {self.num_gt_videos} ground-truth videos ({100 * missing / self.num_gt_videos:.0f}%) have no "
            f"prediction at all ({self.instances_without_predictions} of {self.num_ground_truth} segments; e.g. {shown}): "
            "they count as misses; to score only the videos you ran, pass --videos or --features"
        )

    def average_between(self, low: float, high: float) -> float:
        """Mean mAP over the thresholds in [low, high] (1e-9 tolerance); NaN if there are none."""
        keep = (self.tiou >= low - 1e-9) & (self.tiou <= high + 1e-9)
        return float(np.mean(self.mAP[keep])) if keep.any() else float("nan")

    def warnings(self) -> list[str]:
        """Human-readable lines for every counted problem (empty when there is none)."""
        lines = []
        if self.num_unknown_video:
            shown = ", ".join(self.unknown_video_ids[:3]) + (", ..." if len(self.unknown_video_ids) > 3 else "")
            what = (
                "were dropped (drop-unknown-videos: not the official protocol)"
                if self.drop_unknown_videos
                else "count as false positives (official protocol; a wrong subset or file?)"
            )
            lines.append(
                f"{self.num_unknown_video} predictions for {len(self.unknown_video_ids)} videos not in the "
                f"ground truth {what} ({shown})"
            )
        if self.unknown_labels:
            total = sum(self.unknown_labels.values())
            names = sorted(self.unknown_labels, key=lambda k: (-self.unknown_labels[k], k))
            shown = ", ".join(f"{k!r} x{self.unknown_labels[k]}" for k in names[:3]) + (", ..." if len(names) > 3 else "")
            lines.append(
                f"{total} predictions with {len(names)} labels that have no ground truth in the evaluated "
                f"videos were dropped ({shown})"
            )
        if self.ignore_ambiguous and self.num_ambiguous_regions == 0:
            lines.append("ignore-ambiguous is on but the evaluated videos have no Ambiguous regions")
        if self.num_predictions == 0:
            lines.append("no predictions left to evaluate: mAP is 0")
        coverage = self.coverage_warning()
        if coverage:
            lines.append(coverage)
        return lines


def check_thresholds(tiou_thresholds: Sequence[float]) -> np.ndarray:
    """The thresholds as a (K,) float64 array; :class:`WsalError` unless there are some, all in (0, 1]."""
    thresholds = np.asarray(list(tiou_thresholds), dtype=np.float64).reshape(-1)
    if thresholds.size == 0:
        raise WsalError("no tIoU thresholds given")
    if not np.all(np.isfinite(thresholds)) or np.any(thresholds <= 0) or np.any(thresholds > 1):
        raise WsalError(f"tIoU thresholds must lie in (0, 1], got {thresholds.tolist()}")
    return thresholds


def _lookup(values: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Map strings to integer ids via ``index``; -1 for strings not in it. (N,) -> (N,) int64.

    Looks up each run of equal consecutive values once (prediction files list a video's
    detections together), which is much faster than sorting the strings.

    >>> _lookup(np.array(["b", "b", "x", "a"]), {"a": 0, "b": 1})
    array([ 1,  1, -1,  0])
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    run_ids = np.fromiter((index.get(v, -1) for v in values[starts].tolist()), dtype=np.int64, count=len(starts))
    return np.repeat(run_ids, np.diff(np.r_[starts, len(values)]))


def _group_pairs(group_sorted: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (query i, item j) with group_sorted[j] == query[i]; ``group_sorted`` ascending.

    Returns (query index (P,), item index (P,)), query-major, items in ascending order.
    """
    lo = np.searchsorted(group_sorted, query, side="left")
    hi = np.searchsorted(group_sorted, query, side="right")
    counts = hi - lo
    query_idx = np.repeat(np.arange(len(query)), counts)
    first = np.cumsum(counts) - counts
    item_idx = lo[query_idx] + (np.arange(len(query_idx)) - first[query_idx])
    return query_idx, item_idx


def _ambiguous_mask(gt: GroundTruth, video_ids: list[str], vid: np.ndarray, start_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    """(N,) bool: prediction overlaps an Ambiguous region of its video with positive length."""
    amb_vid = np.concatenate([np.full(len(gt.videos[v].ambiguous_s), i) for i, v in enumerate(video_ids)] + [np.zeros(0, int)])
    amb = np.concatenate([gt.videos[v].ambiguous_s for v in video_ids] + [np.zeros((0, 2))])  # (A, 2)
    pred_idx, amb_idx = _group_pairs(amb_vid, vid)
    inter = np.minimum(end_s[pred_idx], amb[amb_idx, 1]) - np.maximum(start_s[pred_idx], amb[amb_idx, 0])
    mask = np.zeros(len(vid), dtype=bool)
    mask[pred_idx[inter > 0]] = True
    return mask


def _greedy_match(
    pair_rank: np.ndarray, pair_gt: np.ndarray, pair_tiou: np.ndarray, pair_group: np.ndarray,
    thresholds: np.ndarray, num_ranked: int, num_gt: int,
) -> np.ndarray:
    """(K, num_ranked) bool true positives from candidate pairs (prediction rank, GT, tIoU, group).

    Only pairs with tIoU >= min(thresholds) are passed. Within a group (class, video), predictions
    are matched in rank order; different groups never share ground truth, so the w-th prediction
    of every group is matched in the same vectorized step ("wave" w).
    """
    num_k = len(thresholds)
    tp = np.zeros((num_k, num_ranked), dtype=bool)
    if len(pair_rank) == 0:
        return tp
    active = pair_rank[np.r_[True, pair_rank[1:] != pair_rank[:-1]]]  # ranks with a candidate (sorted input)
    # group of each active prediction, from its first pair (pairs arrive sorted by rank)
    first_pair = np.searchsorted(pair_rank, active, side="left")
    active_group = pair_group[first_pair]
    by_group = np.argsort(active_group, kind="stable")  # groups contiguous, rank order inside
    sorted_group = active_group[by_group]
    run_start = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
    run_id = np.repeat(np.arange(len(run_start)), np.diff(np.r_[run_start, len(sorted_group)]))
    wave = np.empty(len(active), dtype=np.int64)
    wave[by_group] = np.arange(len(active)) - run_start[run_id]
    pair_wave = wave[np.searchsorted(active, pair_rank)]
    # pairs ordered by wave, then rank, then best tIoU first, then GT file order (the input is
    # already in rank order with GT file order inside a rank, and both sorts are stable)
    by_tiou = np.argsort(-pair_tiou, kind="stable")
    order = by_tiou[np.argsort((pair_wave * num_ranked + pair_rank)[by_tiou], kind="stable")]
    p_rank, p_gt, p_tiou, p_wave = pair_rank[order], pair_gt[order], pair_tiou[order], pair_wave[order]
    wave_bounds = np.searchsorted(p_wave, np.arange(wave.max() + 2))
    taken = np.zeros((num_k, num_gt), dtype=bool)
    big = np.iinfo(np.int64).max
    for w in range(len(wave_bounds) - 1):
        a, b = wave_bounds[w], wave_bounds[w + 1]
        ranks, gts, tious = p_rank[a:b], p_gt[a:b], p_tiou[a:b]
        seg_start = np.r_[0, np.flatnonzero(np.diff(ranks)) + 1]  # one segment per prediction
        valid = (tious[None, :] >= thresholds[:, None]) & ~taken[:, gts]  # (K, Pw)
        pos = np.where(valid, np.arange(b - a)[None, :], big)
        first = np.minimum.reduceat(pos, seg_start, axis=1)  # (K, preds in wave)
        k_idx, p_idx = np.nonzero(first != big)
        chosen = first[k_idx, p_idx]
        taken[k_idx, gts[chosen]] = True
        tp[k_idx, ranks[seg_start[p_idx]]] = True
    return tp


def detection_map(
    gt: GroundTruth,
    preds: Predictions,
    tiou_thresholds: Sequence[float],
    ignore_ambiguous: bool = False,
    drop_unknown_videos: bool = False,
) -> DetectionResult:
    """Detection mAP of ``preds`` against every video of ``gt`` (pass ``gt.subset(...)`` first).

    The protocol is the module docstring's. Raises :class:`WsalError` when the thresholds are
    not in (0, 1] or the ground truth has no annotated segment.
    """
    thresholds = check_thresholds(tiou_thresholds)
    num_k = len(thresholds)
    video_ids = gt.video_ids()
    video_index = {v: i for i, v in enumerate(video_ids)}
    gt_vid = np.concatenate([np.full(len(gt.videos[v].labels), i) for i, v in enumerate(video_ids)] + [np.zeros(0, int)])
    gt_seg = np.concatenate([gt.videos[v].segments_s for v in video_ids] + [np.zeros((0, 2))])  # (G, 2)
    gt_label = np.asarray([lab for v in video_ids for lab in gt.videos[v].labels], dtype=str)
    classes = tuple(sorted(set(gt_label.tolist())))
    if not classes:
        raise WsalError(f"{gt.path}: the evaluated videos have no annotated segments")
    class_index = {c: i for i, c in enumerate(classes)}
    gt_cls = _lookup(gt_label, class_index)
    npos = np.bincount(gt_cls, minlength=len(classes))  # (C,)

    # 1. drop predictions with unknown labels (counted); unknown videos: false positives or dropped
    vid = _lookup(preds.video_ids, video_index)
    cls = _lookup(preds.labels, class_index)
    bad_label = cls < 0
    unknown_video = (vid < 0) & ~bad_label
    unknown_video_ids = tuple(sorted(set(preds.video_ids[unknown_video].tolist())))
    labels_bad, counts_bad = np.unique(preds.labels[bad_label], return_counts=True)
    keep = ~bad_label & ~unknown_video if drop_unknown_videos else ~bad_label
    # every unknown video shares one extra video id without ground truth: its predictions find no candidate
    vid = np.where(vid < 0, len(video_ids), vid)
    num_amb_regions = sum(len(gt.videos[v].ambiguous_s) for v in video_ids)
    idx = np.flatnonzero(keep)  # file order
    # 3. rank: by class, then score descending; stable sorts, so ties keep file order
    by_score = idx[np.argsort(-preds.scores[idx], kind="stable")]
    order = by_score[np.argsort(cls[by_score], kind="stable")]
    r_vid, r_cls = vid[order], cls[order]
    r_seg = np.stack([preds.start_s[order], preds.end_s[order]], axis=1)  # (M, 2)
    num_ranked = len(order)
    # candidates: GT of the same (class, video), tIoU >= lowest threshold
    num_videos = len(video_ids) + 1  # + the shared id of unknown videos
    gt_key = gt_cls * num_videos + gt_vid
    gt_by_key = np.argsort(gt_key, kind="stable")  # file order inside a group
    r_key = r_cls * num_videos + r_vid
    pair_rank, pair_item = _group_pairs(gt_key[gt_by_key], r_key)
    pair_gt = gt_by_key[pair_item]
    pair_tiou = tiou_pairs(r_seg[pair_rank], gt_seg[pair_gt])
    near = pair_tiou >= thresholds.min()
    tp = _greedy_match(pair_rank[near], pair_gt[near], pair_tiou[near], r_key[pair_rank[near]], thresholds, num_ranked, len(gt_seg))
    # 2. optional: unmatched predictions on an Ambiguous region leave the ranking
    counted = np.ones((num_k, num_ranked), dtype=bool)
    num_amb_removed = 0
    if ignore_ambiguous and num_amb_regions:
        amb = _ambiguous_mask(gt, video_ids, r_vid, r_seg[:, 0], r_seg[:, 1])  # (M,)
        counted = ~(amb[None, :] & ~tp)  # (K, M)
        num_amb_removed = int(amb.sum())
    # 5./6. per-class AP
    bounds = np.searchsorted(r_cls, np.arange(len(classes) + 1))
    pr_k = int(np.argmin(np.abs(thresholds - 0.5)))
    per_class: dict[str, np.ndarray] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c, label in enumerate(classes):
        tp_c = tp[:, bounds[c] : bounds[c + 1]]  # (K, n_c)
        counted_c = counted[:, bounds[c] : bounds[c + 1]]  # (K, n_c)
        tp_cum = np.cumsum(tp_c, axis=1, dtype=np.float64)
        # a removed prediction repeats the previous (precision, recall) point: it adds no area
        precision = tp_cum / np.maximum(np.cumsum(counted_c, axis=1), 1)
        recall = tp_cum / npos[c]
        per_class[label] = interpolated_ap(precision, recall).reshape(num_k)
        curves[label] = (precision[pr_k][counted_c[pr_k]], recall[pr_k][counted_c[pr_k]])
    mAP = np.mean(np.stack([per_class[c] for c in classes]), axis=0)
    return DetectionResult(
        tiou=thresholds,
        mAP=mAP,
        average_mAP=float(np.mean(mAP)),
        per_class_AP=per_class,
        classes=classes,
        num_ground_truth=int(len(gt_seg)),
        num_ground_truth_per_class={c: int(npos[i]) for i, c in enumerate(classes)},
        num_predictions=int(num_ranked),
        num_predictions_in_file=len(preds),
        num_unknown_video=int(unknown_video.sum()),
        unknown_video_ids=unknown_video_ids,
        drop_unknown_videos=drop_unknown_videos,
        unknown_labels={str(k): int(n) for k, n in zip(labels_bad, counts_bad)},
        ignore_ambiguous=ignore_ambiguous,
        num_ambiguous_regions=int(num_amb_regions),
        num_ambiguous_removed=num_amb_removed,
        pr_tiou=float(thresholds[pr_k]),
        pr_curves=curves,
        **coverage_fields(gt, preds, classes),
    )


def coverage_fields(gt: GroundTruth, preds: Predictions, classes: Sequence[str]) -> dict:
    """The coverage fields of :class:`DetectionResult`; a prediction counts when its label is one of
    the evaluated ``classes``."""
    num, missing, instances = coverage(gt, preds.video_ids[np.isin(preds.labels, np.asarray(classes))].tolist())
    return {"num_gt_videos": num, "videos_without_predictions": missing, "instances_without_predictions": instances}


def per_video_ap(
    gt: GroundTruth, preds: Predictions, tiou_thresholds: Sequence[float], ignore_ambiguous: bool = False
) -> dict[str, float]:
    """Per ground-truth video with annotated segments: :func:`detection_map` of that video alone
    (its ground truth, its predictions), averaged over the thresholds; in ground-truth order.

    A ranking aid for reports (which videos go worst), not a term of mAP: a video's AP ignores how
    its predictions rank against other videos', and predictions of classes the video does not
    contain are dropped as unknown labels (they lower mAP, not this number).

    >>> from wsal.annotations import VideoGT
    >>> seg = lambda *pairs: np.array(pairs, dtype=float).reshape(-1, 2)
    >>> videos = {v: VideoGT(v, "test", 10.0, None, seg((1, 3)), ("A",), seg()) for v in ("good", "bad")}
    >>> gt = GroundTruth(videos, ("A",), "gt.json")
    >>> preds = Predictions.from_columns(["good", "bad"], ["A", "A"], [1.0, 6.0], [3.0, 8.0], [0.9, 0.8], "p.json")
    >>> per_video_ap(gt, preds, [0.5])
    {'bad': 0.0, 'good': 1.0}
    """
    order = np.argsort(preds.video_ids, kind="stable")  # file order inside a video
    sorted_ids = preds.video_ids[order]
    out: dict[str, float] = {}
    for vid in gt.video_ids():
        if not len(gt.videos[vid].labels):
            continue
        rows = order[np.searchsorted(sorted_ids, vid, "left") : np.searchsorted(sorted_ids, vid, "right")]
        one = GroundTruth({vid: gt.videos[vid]}, gt.classes, gt.path)
        out[vid] = detection_map(one, preds.take(rows), tiou_thresholds, ignore_ambiguous=ignore_ambiguous).average_mAP
    return out
