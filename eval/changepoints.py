"""Change-point metrics: boundary precision / recall / F1, change points per minute, coverage bound.

Pure numpy (scipy for the assignment). Units are snippet *positions*: change point ``t`` (an int)
sits between snippets ``t-1`` and ``t`` (snippet ``t`` starts a new piece), at position ``t``.
Ground truth comes as instances ``[start, end)`` in positions (fractional allowed); callers convert
seconds with ``wsal.timeline.SnippetGrid.seconds_to_position``.

Protocol:

* **Boundaries** of the ground truth are the starts and ends of its instances, exact duplicates
  merged, those at the video start (<= 0) or end (>= num_snippets) dropped: they are not change
  points (a detector never marks the video start or end).
* **Matching** is one-to-one within a margin (|pred - gt| <= margin): the assignment with the
  most matches, ties broken by the smallest total distance (Hungarian algorithm; optimal, not
  greedy). precision = matched / predicted, recall = matched / ground truth; an empty denominator
  counts as 1 (no prediction: nothing predicted wrongly; no ground truth: nothing missed);
  F1 = 2PR / (P + R), 0 when P + R = 0. Over many videos add :class:`BoundaryCounts` (micro-average).
* **Coverage bound** of a set of change points: the detected points plus the video start (0) and
  end (num_snippets) are candidate boundaries; an instance is covered at threshold ``th`` when
  some pair ``a < b`` of candidates (not necessarily adjacent) gives ``tIoU([a, b), instance) >=
  th``. It bounds what a localizer that cuts segments at change points can reach.

What this module does not do: detect change points, or read files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from wsal.segments import tiou

DEFAULT_MARGINS = (1, 2, 4)
DEFAULT_COVER_TIOU = (0.5, 0.7)


@dataclass(frozen=True)
class BoundaryCounts:
    """Counts of one matching; add them over videos for micro-averaged scores."""

    num_pred: int
    num_gt: int
    num_matched: int

    @property
    def precision(self) -> float:
        return self.num_matched / self.num_pred if self.num_pred else 1.0

    @property
    def recall(self) -> float:
        return self.num_matched / self.num_gt if self.num_gt else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def __add__(self, other: BoundaryCounts) -> BoundaryCounts:
        return BoundaryCounts(self.num_pred + other.num_pred, self.num_gt + other.num_gt, self.num_matched + other.num_matched)


def gt_boundaries(segments: ArrayLike, num_snippets: float) -> NDArray[np.float64]:
    """Sorted boundary positions of instances (N, 2) [start, end): starts and ends, deduplicated,
    without the video start and end.

    >>> gt_boundaries([[0.0, 10.0], [10.0, 14.5], [20.0, 30.0]], num_snippets=30).tolist()
    [10.0, 14.5, 20.0]
    """
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    points = np.unique(seg.ravel())
    return points[(points > 0) & (points < num_snippets)]


def match_boundaries(pred: ArrayLike, gt: ArrayLike, margin: float) -> NDArray[np.int64]:
    """One-to-one matches within ``margin``: (M, 2) index pairs (pred index, gt index).

    Maximum number of matches, then smallest total distance (see module docstring).

    >>> match_boundaries([10, 11], [10.5], margin=1).tolist()  # both within 1; one GT, one match
    [[0, 0]]
    >>> match_boundaries([4, 6], [5, 7], margin=1).tolist()  # greedy could take 6->5 and leave 4 unmatched
    [[0, 0], [1, 1]]
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    g = np.asarray(gt, dtype=np.float64).ravel()
    if p.size == 0 or g.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    dist = np.abs(p[:, None] - g[None, :])
    feasible = dist <= margin
    # A penalty above any sum of feasible distances: fewer infeasible pairs always wins.
    penalty = margin * min(p.size, g.size) + 1.0
    rows, cols = linear_sum_assignment(np.where(feasible, dist, penalty))
    keep = feasible[rows, cols]
    return np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)


def boundary_counts(pred: ArrayLike, gt: ArrayLike, margin: float) -> BoundaryCounts:
    """Counts for predicted change points against ground-truth boundary positions.

    >>> c = boundary_counts([3, 10, 20], [10.4, 19.0, 40.0], margin=1)
    >>> (c.num_matched, round(c.precision, 3), round(c.recall, 3))
    (2, 0.667, 0.667)
    """
    p = np.asarray(pred).ravel()
    g = np.asarray(gt).ravel()
    return BoundaryCounts(int(p.size), int(g.size), int(len(match_boundaries(p, g, margin))))


def boundary_counts_at(pred: ArrayLike, gt: ArrayLike, margins: Sequence[float] = DEFAULT_MARGINS) -> dict[float, BoundaryCounts]:
    """:func:`boundary_counts` at each margin."""
    return {m: boundary_counts(pred, gt, m) for m in margins}


def points_from_mask(change_points: ArrayLike) -> list[NDArray[np.int64]]:
    """(L, T) bool per level -> list of L sorted index arrays (a (T,) mask gives one level).

    >>> [a.tolist() for a in points_from_mask([[0, 1, 0, 1], [0, 0, 0, 1]])]
    [[1, 3], [3]]
    """
    cp = np.atleast_2d(np.asarray(change_points, dtype=bool))
    return [np.flatnonzero(row).astype(np.int64) for row in cp]


def changepoints_per_minute(change_points: ArrayLike, duration_s: float) -> NDArray[np.float64]:
    """Change points per minute for each level of a (L, T) bool mask (or one (T,) mask).

    >>> changepoints_per_minute([[1, 0, 1, 1], [0, 0, 1, 0]], duration_s=30.0).tolist()
    [6.0, 2.0]
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    cp = np.atleast_2d(np.asarray(change_points, dtype=bool))
    return cp.sum(axis=1) * 60.0 / duration_s


def best_cover_tiou(points: ArrayLike, num_snippets: float, segments: ArrayLike) -> NDArray[np.float64]:
    """For each instance (N, 2), the best tIoU of a segment [a, b) between two candidate boundaries.

    Candidates are the points plus 0 and num_snippets. Exact with four pairs per instance: moving
    ``a`` away from the instance start, on either side, never raises the tIoU (it either grows the
    union or shrinks the intersection), so the best ``a`` is a candidate nearest the start from
    below or above, and likewise for ``b`` at the end.

    >>> best_cover_tiou([10, 20], 40, [[10, 20], [12, 20], [0, 40]]).tolist()
    [1.0, 0.8, 1.0]
    """
    cand = np.unique(np.concatenate([[0.0, float(num_snippets)], np.asarray(points, dtype=np.float64).ravel()]))
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    best = np.zeros(len(seg))
    for i, (s, e) in enumerate(seg):
        a_opts = _neighbours(cand, s)
        b_opts = _neighbours(cand, e)
        a, b = np.meshgrid(a_opts, b_opts, indexing="ij")
        ok = a < b
        if ok.any():
            best[i] = float(tiou([s, e], np.stack([a[ok], b[ok]], axis=-1)).max())
    return best


def _neighbours(sorted_values: NDArray, x: float) -> NDArray:
    """The largest value <= x and the smallest value >= x (those that exist)."""
    i = np.searchsorted(sorted_values, x, side="right")
    j = np.searchsorted(sorted_values, x, side="left")
    picks = [sorted_values[i - 1]] if i > 0 else []
    if j < len(sorted_values):
        picks.append(sorted_values[j])
    return np.unique(np.asarray(picks, dtype=np.float64))


def coverage(best_tious: Iterable[float], thresholds: Sequence[float] = DEFAULT_COVER_TIOU) -> dict[float, float]:
    """Share of instances whose best cover tIoU reaches each threshold (pool instances of all videos).

    >>> coverage([1.0, 0.8, 0.6, 0.2], thresholds=(0.5, 0.7))
    {0.5: 0.75, 0.7: 0.5}
    """
    t = np.asarray(list(best_tious), dtype=np.float64)
    if t.size == 0:
        return {th: float("nan") for th in thresholds}
    return {th: float((t >= th).mean()) for th in thresholds}
