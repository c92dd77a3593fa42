"""How much ground-truth action a sampler's ``kept`` mask keeps: the metrics of `wsal sampler-report`.

Per video, given the kept mask (T,) on a :class:`~wsal.timeline.SnippetGrid` and the ground-truth
segments (N, 2) in seconds:

* **action time** kept: the length of the union of the ground-truth segments that lies inside
  the union of the kept snippets' intervals ``[start_s(i), end_s(i))``, over the union's length.
  Action time after the last snippet's end counts as not kept.
* **instances** kept: an instance counts as kept when at least ``instance_fraction`` (default 0.5)
  of its own length lies inside kept snippets (a zero-length instance: when its time does).
* **boundaries** kept: each start and end second ``t`` of an instance is covered when the snippet
  holding it (``grid.snippet_at(t)``) or one of its two neighbours is kept.
* **skipped**: snippets not kept.

:class:`SamplerTotals` adds these up over videos (pooled: total kept action seconds over total
action seconds, etc.), so long videos weigh more, like the fine pass's cost.

What this module does not do: read files or run the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from wsal.timeline import SnippetGrid

INSTANCE_FRACTION = 0.5  # share of an instance's length that must be kept for it to count as kept


@dataclass
class SamplerTotals:
    """Counts over one or more videos; the ratios are the report's figures."""

    action_s: float = 0.0  # ground-truth action time (union per video), seconds
    kept_action_s: float = 0.0
    instances: int = 0
    kept_instances: int = 0
    boundaries: int = 0  # 2 per instance
    kept_boundaries: int = 0
    snippets: int = 0
    kept_snippets: int = 0

    def __iadd__(self, other: "SamplerTotals") -> "SamplerTotals":
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def action_recall(self) -> float:
        return self.kept_action_s / self.action_s if self.action_s > 0 else float("nan")

    @property
    def instance_recall(self) -> float:
        return self.kept_instances / self.instances if self.instances else float("nan")

    @property
    def boundary_recall(self) -> float:
        return self.kept_boundaries / self.boundaries if self.boundaries else float("nan")

    @property
    def kept_share(self) -> float:
        return self.kept_snippets / self.snippets if self.snippets else float("nan")

    @property
    def skipped_share(self) -> float:
        return 1.0 - self.kept_share if self.snippets else float("nan")


def merge_intervals(intervals: NDArray[np.float64]) -> NDArray[np.float64]:
    """Union of intervals (N, 2) as sorted disjoint intervals (M, 2); touching ones are joined.

    >>> merge_intervals(np.array([[3.0, 4.0], [0.0, 1.0], [0.5, 2.0], [2.0, 2.5]])).tolist()
    [[0.0, 2.5], [3.0, 4.0]]
    """
    intervals = np.asarray(intervals, np.float64).reshape(-1, 2)
    if len(intervals) == 0:
        return intervals
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    merged = [list(intervals[0])]
    for start, end in intervals[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.asarray(merged, np.float64)


def overlap_s(segments: NDArray[np.float64], intervals: NDArray[np.float64]) -> NDArray[np.float64]:
    """Seconds of each segment (N, 2) inside the disjoint ``intervals`` (M, 2): (N,).

    >>> overlap_s(np.array([[0.0, 2.0], [5.0, 6.0]]), np.array([[1.0, 3.0], [5.5, 9.0]])).tolist()
    [1.0, 0.5]
    """
    seg = np.asarray(segments, np.float64).reshape(-1, 1, 2)  # (N, 1, 2)
    ivl = np.asarray(intervals, np.float64).reshape(1, -1, 2)  # (1, M, 2)
    inter = np.minimum(seg[..., 1], ivl[..., 1]) - np.maximum(seg[..., 0], ivl[..., 0])  # (N, M)
    return np.clip(inter, 0, None).sum(axis=1)


def kept_intervals(kept: NDArray[np.bool_], grid: SnippetGrid) -> NDArray[np.float64]:
    """Union of the kept snippets' intervals, (M, 2) seconds.

    >>> kept_intervals(np.array([1, 1, 0, 1], bool), SnippetGrid()).tolist()
    [[0.0, 1.28], [1.92, 2.56]]
    """
    idx = np.flatnonzero(np.asarray(kept, bool))
    return merge_intervals(np.stack([grid.start_s(idx), grid.end_s(idx)], axis=1))


def video_totals(
    kept: NDArray[np.bool_],
    segments_s: NDArray[np.float64],
    grid: SnippetGrid,
    instance_fraction: float = INSTANCE_FRACTION,
) -> SamplerTotals:
    """The counts of one video (module docstring)."""
    kept = np.asarray(kept, bool)
    segments = np.asarray(segments_s, np.float64).reshape(-1, 2)
    covered = kept_intervals(kept, grid)
    gt_union = merge_intervals(segments)
    totals = SamplerTotals(snippets=len(kept), kept_snippets=int(kept.sum()), instances=len(segments))
    totals.action_s = float((gt_union[:, 1] - gt_union[:, 0]).sum())
    totals.kept_action_s = float(overlap_s(gt_union, covered).sum())
    lengths = segments[:, 1] - segments[:, 0]
    inside = overlap_s(segments, covered)
    point_kept = _seconds_kept(segments[:, 0], covered)
    instance_kept = np.where(lengths > 0, inside >= instance_fraction * lengths - 1e-9, point_kept)
    totals.kept_instances = int(instance_kept.sum())
    totals.boundaries = 2 * len(segments)
    totals.kept_boundaries = int(boundary_kept(segments.ravel(), kept, grid).sum())
    return totals


def _seconds_kept(t_s: NDArray[np.float64], covered: NDArray[np.float64]) -> NDArray[np.bool_]:
    t = np.asarray(t_s, np.float64)[:, None]
    return ((covered[None, :, 0] <= t) & (t < covered[None, :, 1])).any(axis=1)


def boundary_kept(t_s: NDArray[np.float64], kept: NDArray[np.bool_], grid: SnippetGrid, tolerance: int = 1) -> NDArray[np.bool_]:
    """(N,) whether the snippet holding each second, or one within ``tolerance`` snippets, is kept.

    >>> boundary_kept(np.array([0.1, 1.0, 3.0, 9.0]), np.array([1, 0, 0, 0, 1], bool), SnippetGrid()).tolist()
    [True, True, True, False]
    """
    kept = np.asarray(kept, bool)
    idx = np.asarray(grid.snippet_at(np.asarray(t_s, np.float64)), np.int64).reshape(-1)  # (N,)
    out = np.zeros(len(idx), bool)
    for shift in range(-tolerance, tolerance + 1):
        j = idx + shift
        valid = (j >= 0) & (j < len(kept))
        out[valid] |= kept[j[valid]]
    return out
