"""Video-level classification mAP from per-video class scores (weak-label sanity metric).

AP is the standard *non-interpolated* average precision, the definition of scikit-learn's
``average_precision_score``: videos are ranked by score, and AP = sum over the distinct score
thresholds of (recall increase) x (precision at that threshold). Videos with equal scores form one
threshold (they enter the ranking together), so the result does not depend on their order. A
class without positive videos has no AP (NaN) and is left out of the mean.

What this module does not do: temporal detection (``wsal.eval.detection``) or file reading.
"""

from __future__ import annotations

import numpy as np

from wsal.annotations import GroundTruth
from wsal.errors import WsalError


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Non-interpolated AP of one class: labels (V,) in {0, 1}, scores (V,). NaN without positives.

    >>> average_precision(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))  # (1 + 2/3) / 2
    0.8333333333333333
    >>> average_precision(np.array([1, 0]), np.array([0.5, 0.5]))  # a tie is one threshold
    0.5
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    num_pos = int(labels.sum())
    if num_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each score group
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall_step = np.diff(np.r_[0, tp]) / num_pos
    return float(np.sum(recall_step * precision))


def classification_map(labels_multi_hot: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """(mAP, per-class AP (C,)) for labels (V, C) in {0, 1} and scores (V, C).

    Per-class AP is NaN for classes without positive videos; mAP is the mean over the others.

    >>> classification_map(np.array([[1, 0], [0, 1], [0, 0]]), np.array([[0.9, 0.2], [0.1, 0.3], [0.5, 0.4]]))
    (0.75, array([1. , 0.5]))
    """
    labels = np.asarray(labels_multi_hot)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise WsalError(f"labels {labels.shape} and scores {scores.shape} must both be (videos, classes)")
    if not np.isin(labels, (0, 1)).all():
        raise WsalError("labels must be 0 or 1")
    if not np.isfinite(scores).all():
        raise WsalError(f"scores contain {int((~np.isfinite(scores)).sum())} non-finite values")
    per_class = np.array([average_precision(labels[:, c], scores[:, c]) for c in range(labels.shape[1])])
    if np.isnan(per_class).all():
        raise WsalError("no class has a positive video: classification mAP is undefined")
    return float(np.nanmean(per_class)), per_class


def multi_hot_labels(gt: GroundTruth, video_ids: list[str] | None = None) -> np.ndarray:
    """(V, C) video-level labels over ``gt.classes`` for ``video_ids`` (default: ``gt.video_ids()``).

    >>> from wsal.annotations import VideoGT
    >>> v = VideoGT("v", "test", None, None, np.zeros((2, 2)), ("B", "B"), np.zeros((0, 2)))
    >>> multi_hot_labels(GroundTruth({"v": v}, ("A", "B"), "gt.json"))
    array([[0, 1]])
    """
    ids = gt.video_ids() if video_ids is None else video_ids
    index = {c: i for i, c in enumerate(gt.classes)}
    out = np.zeros((len(ids), len(gt.classes)), dtype=np.int64)
    for row, vid in enumerate(ids):
        if vid not in gt.videos:
            raise WsalError(f"{gt.path}: no video {vid!r}")
        for label in gt.videos[vid].labels:
            out[row, index[label]] = 1
    return out
