"""Temporal segments: tIoU and non-maximum suppression, the one implementation every stage uses.

A segment is ``[start, end]`` in any one unit (seconds in localization and evaluation, snippets in
the change-point metrics). tIoU is intersection length / union length. **Zero-length
convention**: when the union is empty (both segments have zero length) the tIoU is 1 if they
are the same instant and 0 otherwise. (ActivityNet's code divides 0 by 0 there and its NaN then
matches at every threshold, wherever the two instants are; real ground truth does contain
zero-length segments, e.g. 3 in ActivityNet-1.3 validation.) A zero-length segment inside a
longer one has tIoU 0 (empty intersection).

NMS (:func:`hard_nms`, :func:`soft_nms`) works on the segments of one class of one video.
Up to :data:`MATRIX_LIMIT` segments it computes the whole tIoU matrix at once; above it, one
vectorized row per picked segment (O(N) memory), with the same result.

Pure numpy; imports nothing of wsal. What this module does not do: match predictions to ground
truth (``wsal.eval.detection``) or make proposals (``wsal.localize``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import NDArray

# Up to this many segments NMS computes the whole tIoU matrix (8 * N^2 bytes: 128 MiB at 4096).
MATRIX_LIMIT = 4096


def tiou_pairs(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """Row-wise tIoU of two (..., 2) segment arrays of the same shape -> (...).

    >>> tiou_pairs(np.array([[0.0, 10.0], [3.0, 4.0]]), np.array([[5.0, 10.0], [4.0, 6.0]]))
    array([0.5, 0. ])
    >>> tiou_pairs(np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 2.0]]))
    array([1., 0., 0.])
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    out = (a[..., 0] == b[..., 0]).astype(np.float64)  # empty union: 1 at the same instant, else 0
    np.divide(inter, union, out=out, where=union > 0)
    return out


def tiou(segment: Sequence[float] | NDArray, segments: NDArray) -> NDArray[np.float64]:
    """tIoU of one segment ``[start, end]`` with each row of ``segments`` (M, 2) -> (M,).

    >>> tiou([0.0, 2.0], np.array([[0.0, 2.0], [1.0, 3.0], [2.0, 4.0], [0.5, 1.0], [5.0, 6.0]]))
    array([1.        , 0.33333333, 0.        , 0.25      , 0.        ])
    """
    seg = np.asarray(segment, dtype=np.float64)
    segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    return tiou_pairs(np.broadcast_to(seg, segs.shape), segs)


def tiou_matrix(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """tIoU of every row of ``a`` (N, 2) with every row of ``b`` (M, 2) -> (N, M).

    >>> tiou_matrix(np.array([[0.0, 1.0], [0.0, 4.0]]), np.array([[0.0, 2.0]]))
    array([[0.5],
           [0.5]])
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(1, -1, 2)
    return tiou_pairs(*np.broadcast_arrays(a, b))


class _TiouRows:
    """tIoU of one segment against others: rows of a precomputed matrix, or computed on demand."""

    def __init__(self, start: NDArray, end: NDArray, matrix_limit: int) -> None:
        self.segments = np.stack([np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)], axis=-1)  # (N, 2)
        n = self.segments.shape[0]
        self.matrix = tiou_matrix(self.segments, self.segments) if n <= matrix_limit else None

    def row(self, i: int, others: NDArray[np.int64]) -> NDArray[np.float64]:
        if self.matrix is not None:
            return self.matrix[i, others]
        return tiou(self.segments[i], self.segments[others])


def hard_nms(
    start: NDArray, end: NDArray, scores: NDArray, iou_threshold: float, matrix_limit: int = MATRIX_LIMIT
) -> NDArray[np.int64]:
    """Indices kept by greedy NMS, best first (equal scores: input order): a segment with
    tIoU > threshold to a kept one goes.

    >>> hard_nms(np.array([0.0, 0.1, 5.0]), np.array([2.0, 2.0, 6.0]), np.array([0.9, 0.8, 0.5]), 0.6)
    array([0, 2])
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    rows = _TiouRows(start, end, matrix_limit)
    alive = np.ones(order.shape[0], dtype=bool)
    keep: list[int] = []
    for rank, i in enumerate(order):
        if not alive[rank]:
            continue
        keep.append(int(i))
        alive[rank + 1 :] &= rows.row(int(i), order[rank + 1 :]) <= iou_threshold
    return np.asarray(keep, dtype=np.int64)


def soft_nms(
    start: NDArray, end: NDArray, scores: NDArray, sigma: float, matrix_limit: int = MATRIX_LIMIT
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Gaussian soft-NMS: (indices in pick order, their decayed scores); nothing is dropped.

    Each pick multiplies the others' height above the lowest input score by
    ``exp(-tIoU^2 / sigma)``, so scores stay at or above the lowest one (a plain multiplicative
    decay would push low-scored duplicates below unrelated segments of other classes).

    >>> idx, new = soft_nms(np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([1.0, 0.5]), 0.5)
    >>> idx.tolist(), new.round(3).tolist()
    ([0, 1], [1.0, 0.5])
    >>> idx, new = soft_nms(np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0]), np.array([1.0, 0.9, 0.0]), 0.5)
    >>> idx.tolist(), new.round(4).tolist()  # the duplicate decays by exp(-1/0.5)
    ([0, 1, 2], [1.0, 0.1218, 0.0])
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    rows = _TiouRows(start, end, matrix_limit)
    low = float(s.min())
    height = s - low  # (N,) >= 0
    remaining = np.ones(n, dtype=bool)
    picked = np.empty(n, dtype=np.int64)
    picked_height = np.empty(n, dtype=np.float64)
    for k in range(n):
        candidates = np.flatnonzero(remaining)
        i = int(candidates[np.argmax(height[candidates])])
        picked[k], picked_height[k] = i, height[i]
        remaining[i] = False
        others = np.flatnonzero(remaining)
        height[others] *= np.exp(-(rows.row(i, others) ** 2) / sigma)
    return picked, low + picked_height
