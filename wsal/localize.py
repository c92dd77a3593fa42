"""Model outputs of one video -> scored segments in seconds (threshold or change-point mode), class-wise NMS.

Input, per video (numpy; no torch here):

* ``cas_probs`` (T, C): class activation probabilities per snippet over the C action classes,
* ``attention`` (T,): foreground attention in [0, 1],
* ``video_scores`` (C,): video-level class scores in [0, 1],
* ``base_probs`` (T, C), optional: the plain (unsuppressed) CAS of a model with background
  suppression, as probabilities with background in the softmax (WsalModel.base_probs),
* ``change_scores`` (L, T), only for the change-point mode: the detector's score per level and
  snippet, > 0.5 where level l has a change point (wsal.model.changepoint).

Steps of :func:`localize_video` (``LocalizeConfig`` names in brackets):

1. **Classes.** Keep the classes whose video score exceeds [class_threshold]. When none does, the
   single top-scoring class is kept: every test video of a localization benchmark holds at least
   one action, so an empty answer can only lose.
2. **Signal.** Per kept class, the sequence that is thresholded [signal]: ``"cas_x_attention"``
   (CAS times attention: attention removes background snippets the CAS alone confuses),
   ``"cas"`` (the CAS alone: keeps actions the attention under-scores), or ``"both"``: proposals
   from both signals, pooled before NMS. With [base_proposals] and ``base_probs`` given, the
   class's column of ``base_probs`` is one more row. Why: a model with background suppression
   reads its suppressed CAS where the attention let the features through; a short action the
   attention took for context (its class appearance is there, its motion weak) gets no signal
   there at all, while the plain CAS still scores the class and its background column still
   says "action-like" (on the hard benchmark's THUMOS-timed tuning subset, the instances wsal
   missed at tIoU 0.2 had a median maximum attention of 0.05 inside; experiments/notes/
   2026-12-07-base-proposals.md).
3. **Proposals**, by the boundary mode [boundaries]:

   * ``"threshold"``: for each threshold in [act_thresholds], each maximal run of consecutive
     snippets whose signal is > threshold is one proposal; a run found at several thresholds of
     the same signal is kept once.
   * ``"changepoint"``: per level l, the change points (snippets t with ``change_scores[l, t] >
     0.5``) cut the video into segments ``[0, c1), [c1, c2), ..., [ck, T)``. A segment is
     foreground when its mean attention is > a value of [cp_attention] (class-agnostic: the
     attention, not the class, decides what is action; with [cp_select] = ``"signal"`` instead,
     the mean of each class signal row is compared with each of [act_thresholds], and the runs
     are scored on that row only). Adjacent foreground segments merge unless the change
     score at the point between them is > [cp_merge] (a strong change point keeps two actions
     apart; a weak one inside an action is ignored; a list of values gives the runs of each).
     Each merged run is one proposal; the runs of all levels, thresholds and merge values are
     pooled (a run found twice is kept once) and, like threshold proposals, scored against each
     signal row; the NMS of step 6 merges the levels.

   With [extend_ratio] > 0, every proposal of either mode is then extended by
   ``round(extend_ratio * length)`` snippets on each side (cut at the video's ends; two runs
   that become one are kept once). Why: a weakly supervised model scores the most
   discriminative part of a long action highest, and a threshold cut around it misses the
   action's generic start and end (a run-up, the motion around the decisive moment); the
   extension moves every boundary outward in proportion to the run, so short runs barely
   change. It helps where actions are long and hurts where they are short: choose it on
   held-out videos (``wsal localize --from-raw``), as the hard benchmark does.
4. **Score** (outer-inner contrast). ``mean(signal inside) - mean(signal in the outer band) +
   w * video_score`` with w = ``video_score_weight`` (0.2 by default). The outer band is ``ceil(outer_ratio *
   length)`` snippets on each side of the run (at least one), cut at the video's ends; when both
   sides are cut away entirely (the run covers the whole video) the outer mean is 0. A run of
   the ``base_probs`` row has its contrast multiplied by :data:`BASE_PROPOSAL_WEIGHT` (0.5): it
   fills in where the other rows found nothing, and ranks below their runs where both found the
   action (its runs are longer and blurrier; at weight 1 they cost mAP at tIoU 0.5-0.7, and
   0.25-0.75 scored alike on tuning).
5. **Seconds.** Snippet runs become seconds only through :class:`wsal.timeline.SnippetGrid`. When
   the network saw a resampled sequence of N positions standing for ``num_original_snippets`` = T0
   real snippets (ActivityNet interpolation to a fixed length), positions are scaled back first.
   The resampler (``wsal.data.interpolate_sequence``) puts position p at original snippet
   ``p * r``, r = (T0 - 1) / (N - 1) (first and last snippets kept), so position p stands for
   the time span ``[p*r + 0.5 - r/2, p*r + 0.5 + r/2)`` in snippet units (snippet i = [i, i+1)),
   cut to ``[0, T0]``; a run spans from its first position's start to its last position's end.
   Segments are clipped to ``[0, duration_s]`` when the duration is known.
6. **NMS**, per class, on the tIoU matrix of all its proposals computed at once (one vectorized
   row per pick instead when there are more than :data:`wsal.segments.MATRIX_LIMIT`) [nms]:
   ``"hard"`` keeps the best proposal and drops those with tIoU > [nms_iou] to it, repeatedly;
   ``"soft"`` is Gaussian soft-NMS: after each pick the others' scores decay by
   ``exp(-tIoU^2 / sigma)``, sigma = :data:`SOFT_NMS_SIGMA` (0.3). Contrast scores can be negative, and multiplying a negative
   score by a factor < 1 would *raise* it, so the decay applies to the score's height above the
   lowest score of that class's proposals: ``s <- low + (s - low) * decay``.
7. **Cap.** The best [max_per_video] segments over all classes, highest score first.

The change-point mode needs change scores: a model trained with ``changepoint.enabled`` (or a
raw file saved from one); without them it raises :class:`WsalError`.

What this module does not do: run the network, read or write files, or evaluate.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from wsal.config import LocalizeConfig
from wsal.errors import WsalError
from wsal.segments import hard_nms, soft_nms
from wsal.timeline import SnippetGrid

SOFT_NMS_SIGMA = 0.3  # Gaussian soft-NMS decay exp(-tIoU^2 / sigma) (step 6)
BASE_PROPOSAL_WEIGHT = 0.5  # factor on the contrast of runs of the base_probs row (step 4)


@dataclass(frozen=True)
class Segment:
    """One detection: seconds, class label and score (ActivityNet results entry)."""

    start_s: float
    end_s: float
    label: str
    score: float

    def to_json(self) -> dict:
        """The ActivityNet results form of one detection.

        >>> Segment(0.64, 1.92, "Jump", 0.5).to_json()
        {'segment': [0.64, 1.92], 'label': 'Jump', 'score': 0.5}
        """
        return {"segment": [float(self.start_s), float(self.end_s)], "label": self.label, "score": float(self.score)}


@dataclass(frozen=True)
class Proposals:
    """Snippet runs of one class before scoring: inclusive ``first..last`` per run."""

    first: NDArray[np.int64]  # (N,)
    last: NDArray[np.int64]  # (N,)
    signal_index: NDArray[np.int64]  # (N,) which row of the signals stack each run came from


# --------------------------------------------------------------------------- small pure helpers


def find_runs(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """First and last index (inclusive) of each maximal run of True values.

    >>> find_runs(np.array([0, 1, 1, 0, 1], dtype=bool))
    (array([1, 4]), array([2, 4]))
    >>> find_runs(np.zeros(3, dtype=bool))
    (array([], dtype=int64), array([], dtype=int64))
    """
    m = np.asarray(mask, dtype=np.int8)
    edges = np.diff(np.concatenate(([0], m, [0])))  # (T+1,) +1 at run starts, -1 one past run ends
    first = np.flatnonzero(edges == 1).astype(np.int64)
    last = (np.flatnonzero(edges == -1) - 1).astype(np.int64)
    return first, last


def range_means(values: NDArray[np.floating], start: NDArray[np.int64], stop: NDArray[np.int64]) -> NDArray[np.float64]:
    """Mean of ``values[start:stop]`` for many half-open ranges at once (0 for an empty range).

    >>> range_means(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 2]), np.array([2, 4, 2]))
    array([1.5, 3. , 0. ])
    """
    csum = np.concatenate(([0.0], np.cumsum(np.asarray(values, dtype=np.float64))))  # (T+1,)
    count = stop - start
    total = csum[stop] - csum[start]
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def extend_runs(
    first: NDArray[np.int64], last: NDArray[np.int64], num_positions: int, ratio: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Runs ``first..last`` (inclusive) widened by ``round(ratio * length)`` on each side, cut to
    ``0..num_positions - 1`` (halves round up, so a run of 5 at ratio 0.1 gains one each side).

    >>> [r.tolist() for r in extend_runs(np.array([10, 0]), np.array([19, 4]), 24, 0.2)]
    [[8, 0], [21, 5]]
    """
    length = last - first + 1
    width = np.floor(ratio * length + 0.5).astype(np.int64)
    return np.maximum(0, first - width), np.minimum(num_positions - 1, last + width)


def outer_inner_scores(
    signal: NDArray[np.floating], first: NDArray[np.int64], last: NDArray[np.int64], outer_ratio: float
) -> NDArray[np.float64]:
    """Mean inside each run minus the mean over its outer band (see the module docstring).

    >>> s = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    >>> outer_inner_scores(s, np.array([2]), np.array([3]), 0.25)  # band of 1 snippet each side
    array([1.])
    """
    T = signal.shape[0]
    length = last - first + 1
    width = np.maximum(1, np.ceil(outer_ratio * length - 1e-9)).astype(np.int64)
    left_start = np.maximum(0, first - width)
    right_stop = np.minimum(T, last + 1 + width)
    inner = range_means(signal, first, last + 1)
    csum = np.concatenate(([0.0], np.cumsum(np.asarray(signal, dtype=np.float64))))
    outer_total = (csum[first] - csum[left_start]) + (csum[right_stop] - csum[last + 1])
    outer_count = (first - left_start) + (right_stop - (last + 1))
    outer = np.where(outer_count > 0, outer_total / np.maximum(outer_count, 1), 0.0)
    return inner - outer


def runs_to_seconds(
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    grid: SnippetGrid,
    num_positions: int | None = None,
    num_original_snippets: int | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Seconds covered by runs ``first..last`` (inclusive) of snippets or resampled positions.

    Without resampling (``num_original_snippets`` None or equal to ``num_positions``) a run covers
    snippets ``first..last``. Otherwise see the module docstring, step 5.

    >>> runs_to_seconds(np.array([1]), np.array([3]), SnippetGrid())
    (array([0.64]), array([2.56]))
    >>> # 11 positions for 21 snippets: r = 2, positions 2..4 span snippet units [3.5, 9.5)
    >>> runs_to_seconds(np.array([2]), np.array([4]), SnippetGrid(), 11, 21)
    (array([2.24]), array([6.08]))
    """
    first_f = np.asarray(first, dtype=np.float64)
    last_f = np.asarray(last, dtype=np.float64)
    if num_original_snippets is None or num_original_snippets == num_positions:
        return np.asarray(grid.start_s(first_f)), np.asarray(grid.end_s(last_f))
    if num_positions is None or num_positions < 1:
        raise ValueError("runs_to_seconds: num_positions is needed with num_original_snippets")
    T0 = float(num_original_snippets)
    if num_positions == 1:
        begin, finish = np.zeros_like(first_f), np.full_like(last_f, T0)
    else:
        r = (T0 - 1.0) / (num_positions - 1)
        begin = np.clip(first_f * r + 0.5 - r / 2, 0.0, T0)  # snippet units
        finish = np.clip(last_f * r + 0.5 + r / 2, 0.0, T0)
    # a span [u0, u1) in snippet units starts where snippet u0 starts and ends where snippet u1 - 1 ends
    return np.asarray(grid.start_s(begin)), np.asarray(grid.end_s(finish - 1.0))


# --------------------------------------------------------------------------- proposal modes


def select_classes(video_scores: NDArray[np.floating], class_threshold: float) -> NDArray[np.int64]:
    """Indices of classes with video score > threshold; the top-1 class when none passes.

    >>> select_classes(np.array([0.1, 0.5, 0.3]), 0.2).tolist()
    [1, 2]
    >>> select_classes(np.array([0.1, 0.15]), 0.2).tolist()
    [1]
    """
    scores = np.asarray(video_scores)
    chosen = np.flatnonzero(scores > class_threshold)
    if chosen.size == 0:
        chosen = np.array([int(np.argmax(scores))])
    return chosen.astype(np.int64)


def class_signals(cas_probs: NDArray, attention: NDArray, class_index: int, signal: str) -> NDArray[np.float64]:
    """The sequences thresholded for one class, (S, T): S = 1 or 2 rows (see module step 2)."""
    cas = np.asarray(cas_probs[:, class_index], dtype=np.float64)  # (T,)
    rows = {"cas_x_attention": [cas * attention], "cas": [cas], "both": [cas * attention, cas]}
    if signal not in rows:
        raise WsalError(f"localize.signal {signal!r} is not one of {', '.join(map(repr, rows))}")
    return np.stack(rows[signal])


def threshold_proposals(
    signals: NDArray[np.floating], attention: NDArray[np.floating], config: LocalizeConfig, change_scores: NDArray | None
) -> Proposals:
    """Runs of consecutive snippets above each of ``config.act_thresholds``, for every signal row."""
    firsts, lasts, rows = [], [], []
    for row, sig in enumerate(signals):
        runs = [np.stack(find_runs(sig > threshold), axis=1) for threshold in config.act_thresholds]  # (n, 2) each
        # the same run often appears at several thresholds; it is one proposal (same signal, same score)
        unique = np.unique(np.concatenate(runs + [np.zeros((0, 2), dtype=np.int64)]), axis=0)  # (N, 2)
        firsts.append(unique[:, 0])
        lasts.append(unique[:, 1])
        rows.append(np.full(unique.shape[0], row, dtype=np.int64))
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return Proposals(empty, empty, empty)
    return Proposals(np.concatenate(firsts), np.concatenate(lasts), np.concatenate(rows))


def changepoint_runs(
    attention: NDArray[np.floating],
    change_scores: NDArray[np.floating],
    attention_thresholds: float | Sequence[float],
    merge_thresholds: float | Sequence[float],
) -> NDArray[np.int64]:
    """Foreground runs between change points, all levels and thresholds pooled: (N, 2) inclusive ``first, last``.

    ``attention`` (T,), ``change_scores`` (L, T); see the module docstring, step 3. Sorted, unique.

    >>> att = np.array([0.0, 0.0, 0.9, 0.9, 0.8, 0.8, 0.1])
    >>> cs = np.array([[0.0, 0.0, 0.9, 0.0, 0.6, 0.0, 0.7]])  # cuts at 2 (strong), 4 (weak), 6
    >>> changepoint_runs(att, cs, 0.5, 0.8).tolist()  # [2, 4) and [4, 6) are foreground and merge
    [[2, 5]]
    >>> changepoint_runs(att, cs, 0.5, 0.5).tolist()  # every change point is strong: no merge
    [[2, 3], [4, 5]]
    >>> changepoint_runs(att, cs, (0.5, 0.85), 0.8).tolist()  # 0.85 selects only [2, 4)
    [[2, 3], [2, 5]]
    >>> changepoint_runs(att, cs, 0.5, (0.5, 1.0)).tolist()  # both the split and the merged runs
    [[2, 3], [2, 5], [4, 5]]
    """
    thresholds = np.atleast_1d(np.asarray(attention_thresholds, dtype=np.float64))  # (K,)
    merges = np.atleast_1d(np.asarray(merge_thresholds, dtype=np.float64))  # (M,)
    att = np.asarray(attention, dtype=np.float64)
    scores = np.asarray(change_scores, dtype=np.float64)
    T = att.shape[0]
    runs = [np.zeros((0, 2), dtype=np.int64)]
    for level_scores in scores:
        cuts = np.flatnonzero(level_scores[1:] > 0.5) + 1  # the video start is never a cut
        edges = np.concatenate(([0], cuts, [T])).astype(np.int64)  # (S+1,) segment i = [edges[i], edges[i+1])
        means = range_means(att, edges[:-1], edges[1:])  # (S,) mean attention per segment
        cut_scores = level_scores[cuts]  # (S-1,) score of the cut between segment i and i+1
        for threshold, merge in itertools.product(thresholds, merges):
            selected = means > threshold  # (S,)
            weak = cut_scores <= merge  # (S-1,) the cut between segment i and i+1 is weak
            join = selected[:-1] & selected[1:] & weak  # (S-1,) segment i merges with i+1
            starts = np.flatnonzero(selected & ~np.concatenate(([False], join)))
            ends = np.flatnonzero(selected & ~np.concatenate((join, [False])))
            runs.append(np.stack([edges[starts], edges[ends + 1] - 1], axis=1))
    return np.unique(np.concatenate(runs), axis=0)


def changepoint_proposals(
    signals: NDArray[np.floating], attention: NDArray[np.floating], config: LocalizeConfig, change_scores: NDArray | None
) -> Proposals:
    """Foreground runs between change points (:func:`changepoint_runs`), one copy per signal row."""
    if change_scores is None:
        raise WsalError(
            'localize.boundaries = "changepoint" needs change scores: the model was trained without '
            'changepoint.enabled (or the raw file holds none); train with it or use "threshold"'
        )
    scores = np.asarray(change_scores)
    if scores.ndim != 2 or scores.shape[1] != signals.shape[1]:
        raise WsalError(f"localize: change scores {scores.shape} do not fit (L, {signals.shape[1]})")
    n_rows = signals.shape[0]
    if config.cp_select == "attention":
        runs = changepoint_runs(attention, scores, config.cp_attention, config.cp_merge)  # (N, 2)
        return Proposals(
            np.tile(runs[:, 0], n_rows), np.tile(runs[:, 1], n_rows), np.repeat(np.arange(n_rows, dtype=np.int64), runs.shape[0])
        )
    per_row = [changepoint_runs(sig, scores, config.act_thresholds, config.cp_merge) for sig in signals]  # (N_r, 2) each
    return Proposals(
        np.concatenate([r[:, 0] for r in per_row]),
        np.concatenate([r[:, 1] for r in per_row]),
        np.concatenate([np.full(r.shape[0], row, dtype=np.int64) for row, r in enumerate(per_row)]),
    )


# Boundary modes: (signals (S, T), attention (T,), config, change_scores (L, T) | None) -> Proposals.
PROPOSERS: dict[str, Callable[[NDArray, NDArray, LocalizeConfig, NDArray | None], Proposals]] = {
    "threshold": threshold_proposals,
    "changepoint": changepoint_proposals,
}


# --------------------------------------------------------------------------- the entry point


def localize_video(
    cas_probs: NDArray[np.floating],
    attention: NDArray[np.floating],
    video_scores: NDArray[np.floating],
    grid: SnippetGrid,
    classes: Sequence[str],
    config: LocalizeConfig,
    duration_s: float | None = None,
    num_original_snippets: int | None = None,
    change_scores: NDArray[np.floating] | None = None,
    base_probs: NDArray[np.floating] | None = None,
) -> list[Segment]:
    """Segments in seconds for one video, best first (see the module docstring for every step).

    ``cas_probs`` (T, C), ``attention`` (T,), ``video_scores`` (C,); ``classes`` names the C
    columns. ``num_original_snippets``: the real snippet count when T positions are a resampled
    sequence (None: T is the real count). ``change_scores`` (L, T) feed the change-point mode;
    ``base_probs`` (T, C) the extra proposals of ``config.base_proposals``.
    """
    cas = np.asarray(cas_probs, dtype=np.float64)
    att = np.asarray(attention, dtype=np.float64)
    vscores = np.asarray(video_scores, dtype=np.float64)
    if cas.ndim != 2 or att.shape != (cas.shape[0],) or vscores.shape != (cas.shape[1],):
        raise WsalError(
            f"localize: shapes do not fit: cas {cas.shape}, attention {att.shape}, video scores {vscores.shape}"
        )
    base = None
    if config.base_proposals and base_probs is not None:
        base = np.asarray(base_probs, dtype=np.float64)
        if base.shape != cas.shape:
            raise WsalError(f"localize: shapes do not fit: base probs {base.shape}, cas {cas.shape}")
    if len(classes) != cas.shape[1]:
        raise WsalError(f"localize: {len(classes)} class names for {cas.shape[1]} CAS columns")
    if config.boundaries not in PROPOSERS:
        raise WsalError(f"localize.boundaries {config.boundaries!r} is not one of {', '.join(map(repr, PROPOSERS))}")
    T = cas.shape[0]
    if T == 0:
        return []
    propose = PROPOSERS[config.boundaries]

    segments: list[Segment] = []
    for c in select_classes(vscores, config.class_threshold):
        signals = class_signals(cas, att, int(c), config.signal)  # (S, T)
        weights = np.ones(signals.shape[0] + (base is not None))  # (S',): contrast factor per row
        if base is not None:
            signals = np.concatenate([signals, base[None, :, c]], axis=0)  # (S + 1, T)
            weights[-1] = BASE_PROPOSAL_WEIGHT
        props = propose(signals, att, config, change_scores)
        if props.first.size == 0:
            continue
        if config.extend_ratio > 0:
            first, last = extend_runs(props.first, props.last, T, config.extend_ratio)
            unique = np.unique(np.stack([props.signal_index, first, last], axis=1), axis=0)  # (N, 3)
            props = Proposals(unique[:, 1], unique[:, 2], unique[:, 0])
        scores = np.empty(props.first.shape, dtype=np.float64)
        for row in range(signals.shape[0]):
            sel = props.signal_index == row
            scores[sel] = weights[row] * outer_inner_scores(signals[row], props.first[sel], props.last[sel], config.outer_ratio)
        scores += config.video_score_weight * vscores[c]
        start_s, end_s = runs_to_seconds(props.first, props.last, grid, T, num_original_snippets)
        if duration_s is not None:
            start_s = np.clip(start_s, 0.0, duration_s)
            end_s = np.clip(end_s, 0.0, duration_s)
            usable = end_s > start_s
            start_s, end_s, scores = start_s[usable], end_s[usable], scores[usable]
        if config.nms == "hard":
            keep = hard_nms(start_s, end_s, scores, config.nms_iou)
            kept_scores = scores[keep]
        else:
            keep, kept_scores = soft_nms(start_s, end_s, scores, SOFT_NMS_SIGMA)
        label = classes[int(c)]
        segments.extend(
            Segment(float(start_s[i]), float(end_s[i]), label, float(sc)) for i, sc in zip(keep, kept_scores)
        )
    segments.sort(key=lambda seg: -seg.score)
    return segments[: config.max_per_video]


def check_config(config: LocalizeConfig) -> None:
    """Raise :class:`WsalError` for values that make no sense (before any video is processed)."""
    problems = []
    if not config.act_thresholds:
        problems.append("localize.act_thresholds is empty")
    elif not all(math.isfinite(t) for t in config.act_thresholds):
        problems.append(f"localize.act_thresholds must be finite, got {list(config.act_thresholds)}")
    if not math.isfinite(config.class_threshold):
        problems.append(f"localize.class_threshold must be finite, got {config.class_threshold}")
    if not 0 <= config.extend_ratio < math.inf:
        problems.append(f"localize.extend_ratio must be >= 0, got {config.extend_ratio}")
    if not 0 <= config.video_score_weight < math.inf:
        problems.append(f"localize.video_score_weight must be >= 0, got {config.video_score_weight}")
    if not 0 <= config.outer_ratio < math.inf:
        problems.append(f"localize.outer_ratio must be >= 0, got {config.outer_ratio}")
    if not 0.0 <= config.nms_iou <= 1.0:
        problems.append(f"localize.nms_iou must be in [0, 1], got {config.nms_iou}")
    if not config.cp_attention or not all(0.0 <= a <= 1.0 for a in config.cp_attention):
        problems.append(f"localize.cp_attention must be a non-empty list of values in [0, 1], got {list(config.cp_attention)}")
    merges = np.atleast_1d(np.asarray(config.cp_merge, dtype=np.float64))
    if merges.size == 0 or not np.all((merges >= 0.0) & (merges <= 1.0)):
        problems.append(f"localize.cp_merge must be a value or a non-empty list of values in [0, 1], got {config.cp_merge}")
    if config.max_per_video < 1:
        problems.append(f"localize.max_per_video must be >= 1, got {config.max_per_video}")
    if problems:
        raise WsalError("; ".join(problems))
