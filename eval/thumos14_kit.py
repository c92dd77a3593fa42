"""The THUMOS-14 evaluation kit's detection protocol (``--protocol thumos14-kit``).

Implemented from the published definition of the kit's ``TH14evalDet.m`` / ``TH14eventdetpr.m``
(the rules, not its code), per class and per overlap threshold:

1. Videos: every evaluated video, plus every video that has predictions (a prediction on a video
   without ground truth of its class is a false positive, as in the ActivityNet protocol).
2. Inside one video, the class's predictions are sorted by score, highest first (equal scores keep
   file order). Each ground-truth segment of the class, in ground-truth order, takes the still
   free prediction with the largest overlap (equal overlap: the higher-ranked one), and only when
   that overlap is *strictly above* the threshold. So ground truth picks predictions, not the
   other way round as in ActivityNet's score-ranked greedy matching.
3. Taken predictions are true positives. A free prediction is a false positive, unless it
   intersects an Ambiguous region of its video with positive length: then it is removed (neither
   true nor false positive). Ambiguous regions never remove a true positive.
4. Ranking over all videos: the true positives, then the false positives, sorted by score with a
   stable sort, so at equal score every true positive ranks before every false positive.
5. AP is the 11-point interpolated AP: the mean over the recall points ``0:0.1:1`` of the largest
   precision at recall >= the point (0 when no rank reaches it). The points are the values
   MATLAB's colon operator gives (it computes them from both ends: the fourth is 3 x 0.1 =
   0.30000000000000004, the others are the doubles nearest the decimals). A class with
   ground truth but no true positive scores 0; mAP is the mean over classes with ground truth.

Overlap: both intervals are put in order (start <= end) and the overlap is intersection / (latest
end - earliest start) when the intersection is positive, else 0 (so zero-length segments never
overlap anything). Labels without ground truth are dropped with a warning (the kit warns and
skips them too). Results are :class:`wsal.eval.detection.DetectionResult` with ``protocol
"thumos14-kit"``; their ``num_ambiguous_removed`` counts predictions that intersect an Ambiguous
region (the kit removes such a prediction at every threshold where it is a false positive).

What this module does not do: the ActivityNet protocol (``wsal.eval.detection``), reading files.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from wsal.annotations import GroundTruth
from wsal.errors import WsalError
from wsal.eval.detection import DetectionResult, coverage_fields, check_thresholds
from wsal.eval.io import Predictions

# MATLAB's 0:0.1:1 (see the module docstring)
RECALL_POINTS: tuple[float, ...] = tuple([k * 0.1 for k in range(6)] + [1 - k * 0.1 for k in range(4, -1, -1)])


def kit_overlap(gt_s: np.ndarray, pred_s: np.ndarray) -> np.ndarray:
    """Overlap of every row of ``gt_s`` (G, 2) with every row of ``pred_s`` (P, 2) -> (G, P).

    >>> kit_overlap(np.array([[0.0, 10.0]]), np.array([[5.0, 15.0], [10.0, 12.0], [12.0, 8.0], [3.0, 3.0]]))
    array([[0.33333333, 0.        , 0.16666667, 0.        ]])
    """
    g = np.sort(np.asarray(gt_s, dtype=np.float64).reshape(-1, 2), axis=1)[:, None, :]  # (G, 1, 2)
    p = np.sort(np.asarray(pred_s, dtype=np.float64).reshape(-1, 2), axis=1)[None, :, :]  # (1, P, 2)
    inter = np.minimum(g[..., 1], p[..., 1]) - np.maximum(g[..., 0], p[..., 0])
    hull = np.maximum(g[..., 1], p[..., 1]) - np.minimum(g[..., 0], p[..., 0])
    out = np.zeros(inter.shape)
    np.divide(inter, hull, out=out, where=inter > 0)
    return out


def eleven_point_ap(is_tp: np.ndarray, num_positive: int) -> float:
    """11-point interpolated AP of a ranked list of true (True) / false (False) positives.

    >>> eleven_point_ap(np.array([True, False, True]), 2)  # (6 x 1 + 5 x 2/3) / 11
    0.8484848484848484
    >>> eleven_point_ap(np.array([], dtype=bool), 3)
    0.0
    """
    tp = np.cumsum(is_tp, dtype=np.float64)
    precision = tp / np.arange(1, len(is_tp) + 1)
    recall = tp / num_positive
    total = 0.0
    for point in RECALL_POINTS:
        reached = recall >= point
        total += float(precision[reached].max()) if reached.any() else 0.0
    return total / len(RECALL_POINTS)


def _match_video(overlap: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(K, P) bool taken, from overlap (G, P) of ground truth (in order) with predictions (by rank)."""
    num_k, num_p = len(thresholds), overlap.shape[1]
    free = np.ones((num_k, num_p), dtype=bool)
    rows = np.arange(num_k)
    for g in range(overlap.shape[0]):
        values = np.where(free, overlap[g][None, :], -np.inf)  # (K, P)
        best = np.argmax(values, axis=1)  # first maximum: the higher-ranked prediction
        claim = values[rows, best] > thresholds
        free[rows[claim], best[claim]] = False
    return ~free


def thumos14_kit_map(gt: GroundTruth, preds: Predictions, tiou_thresholds: Sequence[float]) -> DetectionResult:
    """mAP of ``preds`` against every video of ``gt`` under the kit's rules (module docstring)."""
    thresholds = check_thresholds(tiou_thresholds)
    num_k = len(thresholds)
    classes = tuple(sorted({lab for v in gt.videos.values() for lab in v.labels}))
    if not classes:
        raise WsalError(f"{gt.path}: the evaluated videos have no annotated segments")
    class_set = set(classes)
    labels = preds.labels.tolist()
    videos = preds.video_ids.tolist()
    known = np.fromiter((lab in class_set for lab in labels), dtype=bool, count=len(labels))
    bad_labels, bad_counts = np.unique(preds.labels[~known], return_counts=True)
    unknown_video = known & ~np.fromiter((v in gt.videos for v in videos), dtype=bool, count=len(videos))
    # predictions of each (class, video), file order
    groups: dict[tuple[str, str], list[int]] = {}
    for i in np.flatnonzero(known).tolist():
        groups.setdefault((labels[i], videos[i]), []).append(i)
    touches_ambiguous = np.zeros(len(preds), dtype=bool)
    per_class: dict[str, np.ndarray] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    npos = {c: 0 for c in classes}
    for video in gt.videos.values():
        for lab in video.labels:
            npos[lab] += 1
    pr_k = int(np.argmin(np.abs(thresholds - 0.5)))
    ranked: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {c: [] for c in classes}
    for (label, video_id), members in groups.items():
        idx = np.asarray(members)
        idx = idx[np.argsort(-preds.scores[idx], kind="stable")]  # (P,) by score, ties in file order
        pred_s = np.stack([preds.start_s[idx], preds.end_s[idx]], axis=1)  # (P, 2)
        video = gt.videos.get(video_id)
        taken = np.zeros((num_k, len(idx)), dtype=bool)
        ambiguous = np.zeros(len(idx), dtype=bool)
        if video is not None:
            mine = [j for j, lab in enumerate(video.labels) if lab == label]
            if mine:
                taken = _match_video(kit_overlap(video.segments_s[mine], pred_s), thresholds)
            if len(video.ambiguous_s):
                ambiguous = (kit_overlap(video.ambiguous_s, pred_s) > 0).any(axis=0)
        touches_ambiguous[idx] = ambiguous
        ranked[label].append((preds.scores[idx], taken, ~taken & ~ambiguous[None, :]))
    for label in classes:
        aps = np.zeros(num_k)
        precision_k = recall_k = np.zeros(0)
        parts = ranked[label]
        if parts:
            scores = np.concatenate([s for s, _, _ in parts])  # (N,)
            tp = np.concatenate([t for _, t, _ in parts], axis=1)  # (K, N)
            fp = np.concatenate([f for _, _, f in parts], axis=1)  # (K, N)
            for k in range(num_k):
                # true positives first, then false positives; a stable sort by score keeps that order on ties
                conf = np.concatenate([scores[tp[k]], scores[fp[k]]])
                flag = np.concatenate([np.ones(int(tp[k].sum()), bool), np.zeros(int(fp[k].sum()), bool)])
                is_tp = flag[np.argsort(-conf, kind="stable")]
                aps[k] = eleven_point_ap(is_tp, npos[label])
                if k == pr_k:
                    cum = np.cumsum(is_tp, dtype=np.float64)
                    precision_k, recall_k = cum / np.arange(1, len(is_tp) + 1), cum / npos[label]
        per_class[label] = aps
        curves[label] = (precision_k, recall_k)
    mAP = np.mean(np.stack([per_class[c] for c in classes]), axis=0)
    return DetectionResult(
        tiou=thresholds,
        mAP=mAP,
        average_mAP=float(np.mean(mAP)),
        per_class_AP=per_class,
        classes=classes,
        num_ground_truth=sum(npos.values()),
        num_ground_truth_per_class=npos,
        num_predictions=int(known.sum()),
        num_predictions_in_file=len(preds),
        num_unknown_video=int(unknown_video.sum()),
        unknown_video_ids=tuple(sorted(set(preds.video_ids[unknown_video].tolist()))),
        drop_unknown_videos=False,
        unknown_labels={str(k): int(n) for k, n in zip(bad_labels, bad_counts)},
        ignore_ambiguous=False,
        num_ambiguous_regions=sum(len(v.ambiguous_s) for v in gt.videos.values()),
        num_ambiguous_removed=int(touches_ambiguous.sum()),
        pr_tiou=float(thresholds[pr_k]),
        pr_curves=curves,
        protocol="thumos14-kit",
        **coverage_fields(gt, preds, classes),
    )
