"""A plain, slow, obviously-correct detection AP: one Python loop per prediction and threshold.

It exists only to cross-check :func:`wsal.eval.detection.detection_map` (tests and
``bench/eval_speed.py``), so it deliberately shares no code with it: its own tIoU, its own
sorting, its own AP loop written after ActivityNet's ``interpolated_prec_rec``. Same protocol as
``wsal.eval.detection`` (see its module docstring). Not for real use: it is ~100x slower.
"""

from __future__ import annotations

from wsal.eval.io import GroundTruth, Predictions


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
    gt: GroundTruth, preds: Predictions, tiou_thresholds: list[float], ignore_ambiguous: bool = False
) -> dict[str, list[float]]:
    """label -> [AP at each threshold] for every label with ground truth in ``gt``."""
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
        if video_id not in gt.videos or label not in gt_by_class:
            continue
        if ignore_ambiguous and any(
            min(segment[1], float(e)) - max(segment[0], float(s)) > 0 for s, e in gt.videos[video_id].ambiguous_s
        ):
            continue
        rows.append((video_id, label, segment, float(preds.scores[i])))
    result = {}
    for label in sorted(gt_by_class):
        videos = gt_by_class[label]
        num_positive = sum(len(v) for v in videos.values())
        ranked = sorted([r for r in rows if r[1] == label], key=lambda r: -r[3])  # stable
        aps = []
        for threshold in tiou_thresholds:
            claimed: set[tuple[str, int]] = set()
            true_positives = 0
            precision, recall = [], []
            for n, (video_id, _, segment, _) in enumerate(ranked, start=1):
                candidates = sorted(
                    ((_segment_tiou(segment, g), j) for j, g in videos.get(video_id, [])),
                    key=lambda c: (-c[0], c[1]),
                )
                for overlap, j in candidates:
                    if overlap < threshold:
                        break
                    if (video_id, j) in claimed:
                        continue
                    claimed.add((video_id, j))
                    true_positives += 1
                    break
                precision.append(true_positives / n)
                recall.append(true_positives / num_positive)
            aps.append(_interpolated_ap(precision, recall))
        result[label] = aps
    return result
