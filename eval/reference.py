"""A plain, slow, obviously-correct detection AP: one Python loop per prediction and threshold.

It exists only to cross-check :func:`wsal.eval.detection.detection_map` (tests and
``bench/eval_speed.py``), so it deliberately shares no code with it: its own tIoU, its own
sorting, its own AP loop written after ActivityNet's ``interpolated_prec_rec``. Not for real use:
it is ~100x slower. Two loops:

* :func:`reference_per_class_ap`: wsal's protocol (``wsal.eval.detection``'s module docstring),
  every rule of it, ties and zero-length segments included.
* :func:`official_activitynet_ap`: the ActivityNet evaluator's ``compute_average_precision_detection``
  as its published definition reads, written here from that definition: score order by numpy's
  reversed (unstable) argsort, tIoU as intersection / (sum of lengths - intersection) with no
  zero-union rule, candidates by reversed argsort of tIoU, a prediction on a video without
  ground truth of its class is a false positive, a label without ground truth is an error.
  It agrees with wsal's default wherever the official definition is unambiguous (no score ties,
  no equal tIoU to two segments, no zero-length or reversed segments).
"""

from __future__ import annotations

from wsal.annotations import GroundTruth
from wsal.eval.io import Predictions


def _segment_tiou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    if union > 0:
        return inter / union
    return 1.0 if a[0] == b[0] else 0.0  # two zero-length segments


def _interpolated_ap(precision: list[float], recall: list[float]) -> float:
    mprec = [0.0] + precision + [0.0]
    mrec = [0.0] + recall + [1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mprec[i]
    return ap


def reference_per_class_ap(
    gt: GroundTruth,
    preds: Predictions,
    tiou_thresholds: list[float],
    ignore_ambiguous: bool = False,
    drop_unknown_videos: bool = False,
) -> dict[str, list[float]]:
    """label -> [AP at each threshold] for every label with ground truth in ``gt`` (wsal's protocol)."""
    gt_by_class: dict[str, dict[str, list[tuple[int, tuple[float, float]]]]] = {}
    for video_id in sorted(gt.videos):
        video = gt.videos[video_id]
        for j, label in enumerate(video.labels):
            segment = (float(video.segments_s[j, 0]), float(video.segments_s[j, 1]))
            gt_by_class.setdefault(label, {}).setdefault(video_id, []).append((j, segment))
    rows = []
    for i in range(len(preds)):
        video_id, label = str(preds.video_ids[i]), str(preds.labels[i])
        segment = (float(preds.start_s[i]), float(preds.end_s[i]))
        if label not in gt_by_class or (drop_unknown_videos and video_id not in gt.videos):
            continue
        on_ambiguous = ignore_ambiguous and video_id in gt.videos and any(
            min(segment[1], float(e)) - max(segment[0], float(s)) > 0 for s, e in gt.videos[video_id].ambiguous_s
        )
        rows.append((video_id, label, segment, float(preds.scores[i]), on_ambiguous))
    result = {}
    for label in sorted(gt_by_class):
        videos = gt_by_class[label]
        num_positive = sum(len(v) for v in videos.values())
        ranked = sorted([r for r in rows if r[1] == label], key=lambda r: -r[3])  # stable
        aps = []
        for threshold in tiou_thresholds:
            claimed: set[tuple[str, int]] = set()
            true_positives = counted = 0
            precision, recall = [], []
            for video_id, _, segment, _, on_ambiguous in ranked:
                candidates = sorted(
                    ((_segment_tiou(segment, g), j) for j, g in videos.get(video_id, [])),
                    key=lambda c: (-c[0], c[1]),
                )
                matched = False
                for overlap, j in candidates:
                    if overlap < threshold:
                        break
                    if (video_id, j) in claimed:
                        continue
                    claimed.add((video_id, j))
                    matched = True
                    break
                if on_ambiguous and not matched:
                    continue  # an unmatched prediction on an Ambiguous region leaves the ranking
                true_positives += matched
                counted += 1
                precision.append(true_positives / counted)
                recall.append(true_positives / num_positive)
            aps.append(_interpolated_ap(precision, recall))
        result[label] = aps
    return result


def official_activitynet_ap(gt: GroundTruth, preds: Predictions, tiou_thresholds: list[float]) -> dict[str, list[float]]:
    """label -> [AP at each threshold], the ActivityNet evaluator's matching (module docstring).

    Raises ``KeyError`` for a prediction label without ground truth, as the official code does.
    """
    import numpy as np

    ground_truth: dict[str, list[tuple[str, float, float]]] = {}
    for video_id, video in gt.videos.items():
        for j, label in enumerate(video.labels):
            ground_truth.setdefault(label, []).append((video_id, float(video.segments_s[j, 0]), float(video.segments_s[j, 1])))
    by_label: dict[str, list[tuple[str, float, float, float]]] = {label: [] for label in ground_truth}
    for i in range(len(preds)):
        row = (str(preds.video_ids[i]), float(preds.start_s[i]), float(preds.end_s[i]), float(preds.scores[i]))
        by_label[str(preds.labels[i])].append(row)  # KeyError: label without ground truth
    result = {}
    for label in sorted(ground_truth):
        gts = ground_truth[label]
        gt_of_video: dict[str, list[int]] = {}
        for j, g in enumerate(gts):
            gt_of_video.setdefault(g[0], []).append(j)
        rows = by_label[label]
        if not rows:
            result[label] = [0.0] * len(tiou_thresholds)
            continue
        order = np.asarray([r[3] for r in rows]).argsort()[::-1]
        ranked = [rows[i] for i in order]
        lock = [[-1] * len(gts) for _ in tiou_thresholds]
        tp = [[0.0] * len(ranked) for _ in tiou_thresholds]
        fp = [[0.0] * len(ranked) for _ in tiou_thresholds]
        for idx, (video_id, start, end, _) in enumerate(ranked):
            candidates = gt_of_video.get(video_id, [])
            if not candidates:
                for t in range(len(tiou_thresholds)):
                    fp[t][idx] = 1.0
                continue
            overlaps = []
            for j in candidates:
                _, g_start, g_end = gts[j]
                inter = max(0.0, min(end, g_end) - max(start, g_start))
                with np.errstate(invalid="ignore"):  # two zero-length segments: 0/0 = NaN, as in numpy there
                    overlaps.append(np.float64(inter) / np.float64((end - start) + (g_end - g_start) - inter))
            by_overlap = np.asarray(overlaps).argsort()[::-1]
            for t, threshold in enumerate(tiou_thresholds):
                for k in by_overlap:
                    if overlaps[k] < threshold:
                        fp[t][idx] = 1.0
                        break
                    if lock[t][candidates[k]] >= 0:
                        continue
                    tp[t][idx] = 1.0
                    lock[t][candidates[k]] = idx
                    break
                if tp[t][idx] == 0.0 and fp[t][idx] == 0.0:
                    fp[t][idx] = 1.0
        aps = []
        for t in range(len(tiou_thresholds)):
            tp_sum, fp_sum, precision, recall = 0.0, 0.0, [], []
            for a, b in zip(tp[t], fp[t]):
                tp_sum, fp_sum = tp_sum + a, fp_sum + b
                precision.append(tp_sum / (tp_sum + fp_sum))
                recall.append(tp_sum / len(gts))
            aps.append(_interpolated_ap(precision, recall))
        result[label] = aps
    return result
