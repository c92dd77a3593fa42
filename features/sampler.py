"""Coarse-to-fine sampling: a cheap pass scores every snippet, a budget policy picks where the fine pass runs.

A long untrimmed video is mostly background. :func:`plan_video` decodes it once, cheaply, scores
each snippet of the :class:`~wsal.timeline.SnippetGrid` and returns a :class:`SamplerPlan` whose
``kept`` mask says which snippets get the expensive pass (optical flow + I3D); the others get
stand-in features (decided by the extractor, see features/README.md, section Sampler).

**Coarse pass.** Every frame is decoded (an inter-coded stream cannot be decoded sparsely), but
only every ``frame_step``-th frame of the ``grid.fps`` timeline is converted, by FFmpeg's
scaler straight to a small RGB image (shorter side ``size_short`` px, area interpolation). The
``grid.fps`` timeline is the one of :mod:`wsal.features.decode` (the same
:class:`~wsal.features.decode.ResampledFrames` iterator: output frame ``k`` is the last source frame
starting at or before ``k / fps``), and the snippet count follows the tail policy of
:mod:`wsal.features.snippets`, so the plan has exactly the rows the extractor writes. Only
per-sample numbers are kept (a float and a small histogram per sampled frame), so memory does
not grow with the frame size. The pass also records the keyframes' start times
(``CoarseSignals.seek_points_s``), which let the fine pass seek over skipped stretches
(:class:`wsal.features.decode.SeekPlan`, :func:`frames_needed`). Per sampled frame ``s`` (at
output frame ``f_s``):

* motion energy ``m_s``: the change ``e = max(|g_s - g_{s-1}| - noise_level, 0) / 255`` of each
  pixel of the grey images (the noise floor keeps compression flicker of a static scene at zero),
  averaged over the pixels of the ``motion_top_share`` (default 5%) of *cells* with the highest
  mean ``e``: squares of 1/8 of the coarse frame's shorter side (8 px at ``size_short`` 64; 88
  cells for 4:3, 112 for 16:9, so 5 or 6 of them are averaged; :func:`top_cells_mean`);
* histogram distance ``h_s``: half the L1 distance between the normalised joint RGB histograms
  (``histogram_bins`` per channel) of frames ``s - 1`` and ``s``, in [0, 1].

Per snippet ``i`` (the samples with ``f_s`` inside its frames ``[i*stride, i*stride + clip_len)``):

* ``motion[i]`` = mean of ``m_s``;
* ``appearance[i]`` = histogram distance between the first and the last sampled frame of the
  snippet: how much its colours change across it (slow changes, such as fades or lighting, that
  stay under the per-step noise floor of the motion energy add up here). It is measured inside
  the snippet, not between neighbouring snippets, so a still snippet next to an event scores 0
  rather than inheriting the event's change;
* ``cuts[i]``: a sample pair with ``h_s > cut_threshold`` (a scene cut) has ``f_{s-1}`` or
  ``f_s`` in the snippet;
* ``score[i] = motion[i] + appearance_weight * appearance[i]``. Motion energy is the main signal;
  with the default weight 0.1 a complete colour change across a snippet (distance 1) counts like
  a motion energy of 0.1 (the top cells changing by about 25 grey levels above the floor).

  (A first version measured appearance as the distance between the mean histograms of
  neighbouring snippets, marking both sides of a change. On bench/sampler.py's videos, whose
  slowly moving disc had a motion energy of about 0.001 (then a mean over all pixels), the still
  snippets just before and after each burst then outranked the slow in-burst snippets even at
  weight 0.1, and recall of motion snippets at budget 0.5 fell to 94.6% (with K = 10). With the
  within-snippet definition it is 100% there, with K = 10 and with K = 16.)

**Why the top cells, not all pixels.** A mean over all pixels grows with the mover's area, so a
small actor (a 40x40 px mover on 320x240) scored below still snippets whose lighting slowly fades
and was skipped (tests/test_sampler.py; figures in features/README.md). A mover whose change fills
the top cells counts like a full-frame mover with the same change per pixel; a smaller one by the
share of those cells it fills, not of the frame. Cells rather than pixels, and several cells rather
than the single highest, so that a stray pixel or one noisy block above the floor counts for
little; change spread evenly over the frame (sensor noise, global motion) gives about the same mean
in every cell and is hardly amplified. The price: global motion (camera shake) no longer outweighs
a small local one. ``motion_top_share = 1`` gives the mean over all pixels.

**Policy** (:func:`select_snippets`, pure and deterministic). At most ``n_max = max(1,
floor(budget * T))`` snippets are kept: the budget always holds, except that a video keeps at
least one snippet. Guards, in order of precedence (every kept snippet counts against the budget):

1. *coverage*: every ``coverage_snippets`` (K) consecutive snippets hold a kept one (0 = off).
   Its cost is reserved first: each unkept gap of ``g`` snippets needs ``floor(g / K)`` picks.
   If coverage alone needs all of ``n_max`` (budget <= about 1/K), the ``n_max`` snippets are
   spread evenly and nothing else is kept.
2. *scene cuts*: cut snippets, highest score first, each taken if it still fits.
3. *score with boundary neighbours*: snippets by descending score (ties: lower index first), each
   taken together with its ``neighbours`` (d) snippets on each side as one unit, and only if the
   whole unit (plus the coverage reserve it changes) fits; units that do not fit are skipped and
   the next, possibly smaller, one is tried. Slots no unit fits stay unused.
4. the coverage reserve is placed: in each gap, the ``floor(g / K)`` picks spread evenly.
5. if nothing was kept (a short video whose smallest unit exceeds ``n_max``), the top-scored
   snippet is kept alone.

**Defaults and what the guards cost.** d = 1 (one 0.64 s snippet on each side of a run) and
K = 16 (any ~10 s of video gets one fine-pass snippet). With r runs of selected snippets the
neighbour guard costs up to ``2 * d * r`` snippets and coverage ``floor(g / K)`` per unkept gap
of g snippets (at most ``T / K``, about 6%). When the moving snippets plus these exceed the
budget, the units considered last (lowest scores) are the ones left out. With K = 10 one of the
test videos (36 s, four bursts, 20 of 56 snippets touching motion, 8 neighbours) lost a motion
snippet to a coverage pick at budget 0.5; K = 16 leaves that video's 11-snippet still gap alone.

What this module does not do: extract features, decide the stand-in features of skipped
snippets, or write the store.
"""

from __future__ import annotations

import bisect
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from numpy.typing import NDArray

from wsal.timeline import SnippetGrid

if TYPE_CHECKING:  # PyAV is imported where a video is decoded
    import av

CELLS_ON_SHORT_SIDE = 8  # motion cells along the coarse frame's shorter side (8 px cells at size_short 64)


@dataclass(frozen=True)
class SamplerConfig:
    """Coarse-pass signals and the budget policy (see the module docstring)."""

    budget: float = 0.5  # largest share of a video's snippets that get the fine pass, in (0, 1]
    neighbours: int = 1  # d: snippets kept on each side of a score-selected snippet (boundaries)
    coverage_snippets: int = 16  # K: any K consecutive snippets hold a kept one (16 x 0.64 s: ~10 s); 0 = off
    frame_step: int = 2  # coarse pass converts every frame_step-th frame of the grid.fps timeline
    size_short: int = 64  # shorter side of the coarse frames, pixels
    noise_level: float = 8.0  # grey-level differences up to this are compression noise, not motion
    histogram_bins: int = 4  # bins per RGB channel of the colour histogram (bins**3 joint bins)
    appearance_weight: float = 0.1  # weight of the appearance change in the score (mostly a tie-break among still snippets)
    cut_threshold: float = 0.4  # histogram distance (0..1) between sampled frames that counts as a cut
    motion_top_share: float = 0.05  # motion energy: mean over this share of cells that change most (1 = all pixels)

    def __post_init__(self) -> None:
        if not 0 < self.budget <= 1:
            raise ValueError(f"budget must be in (0, 1], got {self.budget}")
        if self.neighbours < 0 or self.coverage_snippets < 0:
            raise ValueError("neighbours and coverage_snippets must be >= 0")
        if self.frame_step < 1 or self.size_short < 8 or not 1 <= self.histogram_bins <= 16:
            raise ValueError("need frame_step >= 1, size_short >= 8 and 1 <= histogram_bins <= 16")
        if self.noise_level < 0 or self.appearance_weight < 0 or not 0 < self.cut_threshold <= 1:
            raise ValueError("need noise_level >= 0, appearance_weight >= 0 and 0 < cut_threshold <= 1")
        if not 0 < self.motion_top_share <= 1:
            raise ValueError(f"motion_top_share must be in (0, 1], got {self.motion_top_share}")


@dataclass(frozen=True)
class SkimFitConfig:
    """How the learned sampler's skim model is fitted (features/skim.py; ``wsal sampler-fit`` defaults).

    It lives here, not in features/skim.py, so that ``wsal --help`` does not import torch.
    """

    hidden: int = 16  # hidden units
    steps: int = 500  # full-batch Adam steps
    lr: float = 0.01  # Adam learning rate
    seed: int = 0  # initialisation seed

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.steps < 1 or not self.lr > 0:
            raise ValueError(f"need hidden >= 1, steps >= 1 and lr > 0, got {self.hidden}, {self.steps}, {self.lr}")


@dataclass
class CoarseSignals:
    """Per-snippet cheap signals of one video."""

    motion: NDArray[np.float32]  # (T,) mean motion energy, 0..1
    appearance: NDArray[np.float32]  # (T,) histogram change across the snippet, 0..1
    cuts: NDArray[np.bool_]  # (T,) a scene cut touches the snippet
    num_frames: int  # frames at grid.fps (as the extractor counts them)
    duration_s: float
    source_frames: int  # frames the decoder produced
    sampled_frames: int  # frames converted and measured
    seek_points_s: tuple[Fraction, ...] = ()  # keyframe start times a seeking fine pass may use (decode.SeekPlan)


@dataclass
class SamplerPlan:
    """Which snippets of one video get the fine pass."""

    scores: NDArray[np.float32]  # (T,)
    kept: NDArray[np.bool_]  # (T,)
    cuts: NDArray[np.bool_]  # (T,)
    signals: CoarseSignals
    coarse_seconds: float  # wall time of the coarse pass (decode + signals + policy)

    @property
    def num_snippets(self) -> int:
        return int(self.kept.shape[0])


def snippet_scores(signals: CoarseSignals, config: SamplerConfig) -> NDArray[np.float32]:
    """``motion + appearance_weight * appearance``, (T,) float32."""
    return (signals.motion + np.float32(config.appearance_weight) * signals.appearance).astype(np.float32)


def plan_video(
    path: str | os.PathLike,
    grid: SnippetGrid,
    config: SamplerConfig = SamplerConfig(),
    scorer: Callable[[CoarseSignals], NDArray[np.float32]] | None = None,
) -> SamplerPlan:
    """Coarse pass + policy for one video file; raises DecodeError for an unreadable file.

    ``scorer`` maps the signals to (T,) scores (default :func:`snippet_scores`; the learned
    sampler passes :meth:`wsal.features.skim.Skim.scores`).
    """
    start = time.perf_counter()
    signals = coarse_signals(path, grid, config)
    scores = snippet_scores(signals, config) if scorer is None else np.asarray(scorer(signals), np.float32)
    kept = select_snippets(scores, signals.cuts, config.budget, config.neighbours, config.coverage_snippets)
    return SamplerPlan(scores, kept, signals.cuts, signals, time.perf_counter() - start)


def coarse_signals(path: str | os.PathLike, grid: SnippetGrid, config: SamplerConfig = SamplerConfig()) -> CoarseSignals:
    """Decode ``path`` cheaply and measure motion, appearance change and cuts per snippet."""
    import av

    from wsal.features.decode import DecodeError, ResampledFrames, open_video
    from wsal.features.snippets import min_tail_frames, num_snippets

    if config.frame_step > min_tail_frames(grid):
        raise ValueError(
            f"frame_step {config.frame_step} is larger than half a snippet ({min_tail_frames(grid)} frames): "
            "some snippets would have no sampled frame"
        )
    path = Path(path)
    meter = _FrameMeter(config)
    container, stream = open_video(path)
    with container:
        frames = ResampledFrames(container, stream, grid.fps, path)
        try:
            for frame, first_k, count in frames:
                meter.add(frame, first_k, count)
        except av.FFmpegError as err:  # converting a sampled frame failed
            raise DecodeError(f"{path}: cannot convert a frame ({_one_line(err)})") from None
    result = frames.result
    motion, appearance, cuts = meter.per_snippet(grid, num_snippets(result.num_frames, grid))
    return CoarseSignals(
        motion=motion,
        appearance=appearance,
        cuts=cuts,
        num_frames=result.num_frames,
        duration_s=result.duration_s,
        source_frames=result.source_frames,
        sampled_frames=len(meter.frame_ids),
        seek_points_s=frames.seek_points_s,
    )


class _FrameMeter:
    """Measures the sampled frames as they are decoded (motion energy, histograms, cut distances)."""

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        self.frame_ids: list[int] = []  # output frame index of each sample
        self.motion: list[float] = []  # m_s (0 for the first sample)
        self.hist_dist: list[float] = []  # h_s (0 for the first sample)
        self.histograms: list[NDArray[np.float32]] = []  # (bins**3,) per sample
        self._grey: NDArray[np.int16] | None = None
        self._size: tuple[int, int] | None = None
        self._cell_px = 1  # side of the motion cells, set with the coarse size

    def add(self, frame: "av.VideoFrame", first_k: int, count: int) -> None:
        """Source ``frame`` supplies output frames ``first_k .. first_k + count - 1``."""
        step = self.config.frame_step
        sampled = range(-(-first_k // step) * step, first_k + count, step)  # multiples of step in the span
        if not sampled:
            return  # never converted
        if self._size is None:
            self._size = _small_size(frame.width, frame.height, self.config.size_short)
            self._cell_px = max(1, min(self._size) // CELLS_ON_SHORT_SIDE)
        width, height = self._size
        rgb = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")  # (h, w, 3)
        grey = (rgb.astype(np.int32) @ np.array([77, 150, 29], np.int32) >> 8).astype(np.int16)  # BT.601 luma
        hist = _colour_histogram(rgb, self.config.histogram_bins)
        for k in sampled:
            if self._grey is None:
                motion, dist = 0.0, 0.0
            else:
                diff = np.abs(grey - self._grey).astype(np.float32) - np.float32(self.config.noise_level)  # (h, w)
                motion = top_cells_mean(np.maximum(diff, 0), self._cell_px, self.config.motion_top_share) / 255.0
                dist = 0.5 * float(np.abs(hist - self.histograms[-1]).sum())
            self.frame_ids.append(k)
            self.motion.append(motion)
            self.hist_dist.append(dist)
            self.histograms.append(hist)
            self._grey = grey

    def per_snippet(self, grid: SnippetGrid, num_snippets: int) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]:
        """(T,) motion, (T,) appearance, (T,) cuts from the samples (module docstring)."""
        ids = np.asarray(self.frame_ids, np.int64)  # (S,)
        motion = np.asarray(self.motion, np.float64)  # (S,)
        cut = np.asarray(self.hist_dist, np.float64) > self.config.cut_threshold  # (S,) cut between s-1 and s
        cut_touch = cut.copy()
        cut_touch[:-1] |= cut[1:]  # the frame before a cut belongs to it too
        hists = np.asarray(self.histograms, np.float64)  # (S, B)
        starts = np.arange(num_snippets, dtype=np.int64) * grid.stride_frames
        lo = np.searchsorted(ids, starts, side="left")  # (T,) first sample of each snippet
        hi = np.searchsorted(ids, starts + grid.clip_len_frames, side="left")  # (T,) one past the last

        def window_sum(values: NDArray[np.float64]) -> NDArray[np.float64]:  # (S, ...) -> (T, ...)
            csum = np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(values, axis=0)])
            return csum[hi] - csum[lo]

        # The first sample has no predecessor: its zero motion is not a measurement, so it is left out.
        has_diff = np.ones_like(motion)
        if len(has_diff):
            has_diff[0] = 0
        motion_t = window_sum(motion) / np.maximum(window_sum(has_diff), 1)
        first = np.minimum(lo, len(ids) - 1)  # (T,) first sample of the snippet
        last = np.maximum(hi - 1, first)  # (T,) last sample (a snippet has at least one)
        appearance = 0.5 * np.abs(hists[last] - hists[first]).sum(axis=1)  # (T,)
        cuts = window_sum(cut_touch.astype(np.float64)) > 0
        return motion_t.astype(np.float32), appearance.astype(np.float32), cuts


def top_cells_mean(values: NDArray[np.floating], cell_px: int, top_share: float) -> float:
    """Mean of ``values`` (h, w) over the pixels of the ``top_share`` of cells with the highest mean.

    The cells are ``cell_px`` squares from the top left (those at the right and bottom edges may be
    smaller); ``ceil(top_share * cells)`` of them, at least one, are kept. ``top_share`` 1 gives
    the mean over all pixels.

    >>> v = np.zeros((4, 8)); v[:2, :2] = 1.0; v[2:, 6:] = 0.5
    >>> top_cells_mean(v, 2, 0.125), top_cells_mean(v, 2, 0.25), top_cells_mean(v, 2, 1.0)
    (1.0, 0.75, 0.1875)
    """
    height, width = values.shape
    rows, cols = np.arange(0, height, cell_px), np.arange(0, width, cell_px)
    sums = np.add.reduceat(np.add.reduceat(np.asarray(values, np.float64), rows, axis=0), cols, axis=1).ravel()  # (cells,)
    counts = np.outer(np.diff(np.append(rows, height)), np.diff(np.append(cols, width))).ravel()  # (cells,) pixels
    count = max(1, int(np.ceil(top_share * len(sums) - 1e-9)))
    top = np.argpartition(sums / counts, len(sums) - count)[len(sums) - count :]
    return float(sums[top].sum() / counts[top].sum())


def _small_size(width: int, height: int, short: int) -> tuple[int, int]:
    """(width, height) with the shorter side ``short`` (never upscaled), even sizes.

    >>> _small_size(320, 180, 64), _small_size(96, 96, 64), _small_size(40, 30, 64)
    ((114, 64), (64, 64), (40, 30))
    """
    scale = min(1.0, short / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _colour_histogram(rgb: NDArray[np.uint8], bins: int) -> NDArray[np.float32]:
    """Normalised joint RGB histogram, (bins**3,) summing to 1.

    >>> _colour_histogram(np.zeros((2, 2, 3), np.uint8), 2).tolist()
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    q = (rgb.reshape(-1, 3).astype(np.int32) * bins) >> 8  # (P, 3) in 0..bins-1
    codes = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
    hist = np.bincount(codes, minlength=bins**3).astype(np.float32)
    return hist / np.float32(len(codes))


# ---- policy -----------------------------------------------------------------------------------


def max_kept(num_snippets: int, budget: float) -> int:
    """Largest number of kept snippets: ``max(1, floor(budget * T))`` (0 for an empty video).

    >>> max_kept(10, 0.5), max_kept(9, 0.5), max_kept(1, 0.5), max_kept(0, 0.5)
    (5, 4, 1, 0)
    """
    if num_snippets == 0:
        return 0
    return max(1, int(np.floor(budget * num_snippets + 1e-9)))


def spread(first: int, length: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``first .. first + length - 1``, leaving the unpicked
    stretches (before, between, after) as equal as possible.

    >>> spread(0, 10, 1), spread(0, 20, 2), spread(5, 3, 3), spread(0, 5, 0)
    ([4], [6, 13], [5, 6, 7], [])
    """
    rest = length - count
    return [first + (rest * (j + 1)) // (count + 1) + j for j in range(count)]


def _coverage_need(gap: int, coverage: int) -> int:
    """Picks an unkept gap of ``gap`` snippets needs so that no ``coverage`` consecutive ones are unkept."""
    return gap // coverage if coverage > 0 else 0


def select_snippets(
    scores: NDArray[np.floating],
    cuts: NDArray[np.bool_] | None,
    budget: float,
    neighbours: int = 1,
    coverage_snippets: int = 16,
) -> NDArray[np.bool_]:
    """The kept mask (T,) for ``scores`` (T,) under the budget and guards of the module docstring.

    >>> select_snippets(np.array([0, 0, 9, 0, 0, 0, 0, 0, 0, 0.]), None, 0.3, 1, 0).astype(int).tolist()
    [0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    num = len(scores)
    cuts = np.zeros(num, bool) if cuts is None else np.asarray(cuts, bool)
    if scores.ndim != 1 or cuts.shape != scores.shape:
        raise ValueError(f"scores and cuts must both be (T,), got {scores.shape} and {cuts.shape}")
    if not 0 < budget <= 1 or neighbours < 0 or coverage_snippets < 0:
        raise ValueError("need 0 < budget <= 1, neighbours >= 0, coverage_snippets >= 0")
    kept = np.zeros(num, bool)
    limit = max_kept(num, budget)
    if num == 0:
        return kept
    if _coverage_need(num, coverage_snippets) >= limit:  # coverage alone uses up the budget
        kept[spread(0, num, limit)] = True
        return kept
    chosen = _UnitPicker(num, limit, coverage_snippets)
    order = np.argsort(-scores, kind="stable")  # descending score, ties by index
    for i in order[cuts[order]]:
        chosen.try_add(int(i), int(i))
    for i in order:
        chosen.try_add(max(0, int(i) - neighbours), min(num - 1, int(i) + neighbours))
    picks = chosen.indices + chosen.coverage_picks()
    if not picks:
        picks = [int(order[0])]
    kept[picks] = True
    return kept


class _UnitPicker:
    """Sorted kept indices plus the coverage reserve; adds a unit only if the total stays <= limit."""

    def __init__(self, num: int, limit: int, coverage: int) -> None:
        self.num, self.limit, self.coverage = num, limit, coverage
        self.indices: list[int] = []  # sorted
        self.reserve = _coverage_need(num, coverage)

    def try_add(self, lo: int, hi: int) -> bool:
        """Keep ``lo..hi`` if it fits in the budget together with the coverage reserve."""
        a = bisect.bisect_left(self.indices, lo)
        b = bisect.bisect_right(self.indices, hi)
        added = (hi - lo + 1) - (b - a)
        if added == 0:
            return False
        left = self.indices[a - 1] if a > 0 else -1
        right = self.indices[b] if b < len(self.indices) else self.num
        bounds = [left] + self.indices[a:b] + [right]
        old = sum(_coverage_need(y - x - 1, self.coverage) for x, y in zip(bounds[:-1], bounds[1:]))
        new = _coverage_need(lo - left - 1, self.coverage) + _coverage_need(right - hi - 1, self.coverage)
        reserve = self.reserve - old + new
        if len(self.indices) + added + reserve > self.limit:
            return False
        self.indices[a:b] = range(lo, hi + 1)
        self.reserve = reserve
        return True

    def coverage_picks(self) -> list[int]:
        """The reserved coverage picks, spread evenly inside each gap."""
        picks: list[int] = []
        bounds = [-1] + self.indices + [self.num]
        for x, y in zip(bounds[:-1], bounds[1:]):
            gap = y - x - 1
            picks.extend(spread(x + 1, gap, _coverage_need(gap, self.coverage)))
        return picks


def fill_skipped(features: NDArray[np.float32], kept: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Copy each skipped row from the nearest kept row (ties: the earlier one); (T, D) -> (T, D).

    >>> fill_skipped(np.arange(5, dtype=np.float32)[:, None], np.array([0, 1, 0, 0, 1], bool))[:, 0].tolist()
    [1.0, 1.0, 1.0, 4.0, 4.0]
    """
    kept = np.asarray(kept, bool)
    if not kept.any():
        raise ValueError("no kept snippet to copy from")
    idx = np.flatnonzero(kept)  # (K,)
    pos = np.arange(len(kept))
    right = np.clip(np.searchsorted(idx, pos), 0, len(idx) - 1)
    left = np.clip(right - 1, 0, len(idx) - 1)
    use_left = np.abs(pos - idx[left]) <= np.abs(idx[right] - pos)
    source = np.where(use_left, idx[left], idx[right])
    return np.asarray(features)[source]


def flow_fields_needed(kept: NDArray[np.bool_], grid: SnippetGrid, num_frames: int) -> NDArray[np.bool_]:
    """(num_frames - 1,) bool: flow fields ``j`` (frame ``j`` -> ``j + 1``) some kept snippet uses.

    Snippet ``i`` uses fields ``[i*stride, i*stride + clip_len)``, those past the last field
    replaced by the last one (features/snippets.py).

    >>> flow_fields_needed(np.array([False, True]), SnippetGrid(25, 4, 4), 8).astype(int).tolist()
    [0, 0, 0, 0, 1, 1, 1]
    """
    fields = np.zeros(max(0, num_frames - 1), bool)
    if len(fields) == 0:
        return fields
    for i in np.flatnonzero(kept):
        first = i * grid.stride_frames
        fields[min(first, len(fields) - 1) : first + grid.clip_len_frames] = True
        if first + grid.clip_len_frames > len(fields):
            fields[-1] = True
    return fields


def frames_needed(kept: NDArray[np.bool_], grid: SnippetGrid, num_frames: int, flow: bool) -> NDArray[np.bool_]:
    """(num_frames,) bool: output frames whose pixels some kept snippet uses.

    Snippet ``i`` uses frames ``[i*stride, i*stride + clip_len)`` (those past the end replaced by
    the last frame), and with ``flow`` also frame ``i*stride + clip_len`` (its last field's second
    frame; fields past the last one repeat it, which needs no other frame): features/snippets.py.
    A decoder that skips the other frames (scope "all", :class:`wsal.features.decode.SeekPlan`)
    gives kept snippets the same frames and flow fields.

    >>> frames_needed(np.array([False, True, False]), SnippetGrid(25, 4, 4), 11, flow=True).astype(int).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0]
    >>> frames_needed(np.array([False, False, True]), SnippetGrid(25, 4, 4), 11, flow=False).astype(int).tolist()
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    """
    needed = np.zeros(max(0, num_frames), bool)
    extra = 1 if flow else 0
    for i in np.flatnonzero(kept):
        first = min(int(i) * grid.stride_frames, num_frames - 1)
        needed[first : int(i) * grid.stride_frames + grid.clip_len_frames + extra] = True
    return needed


class FieldMaskedFlow:
    """A flow function that computes only the fields a mask asks for; the others are all zero.

    Wraps ``flow_fn`` ((m, H, W, 3) uint8 -> (m - 1, H, W, 2) float32) for
    :class:`wsal.features.snippets.SnippetAssembler`, which calls it on consecutive chunks, each
    after the first led by the previous chunk's last frame. It counts the fields it has returned,
    so call ``k`` covers fields ``offset .. offset + m - 2`` of the video. ``needed`` (F,) comes
    from :func:`flow_fields_needed`; fields past its end are computed (never silently zeroed).
    One instance per video.
    """

    def __init__(self, flow_fn: Callable[[NDArray[np.uint8]], NDArray[np.float32]], needed: NDArray[np.bool_]) -> None:
        self.flow_fn = flow_fn
        self.needed = np.asarray(needed, bool)
        self.offset = 0  # index of the next field
        self.computed = 0  # fields actually computed (for reports)

    def __call__(self, frames: NDArray[np.uint8]) -> NDArray[np.float32]:  # (m, H, W, 3) -> (m - 1, H, W, 2)
        count = len(frames) - 1
        height, width = frames.shape[1:3]
        out = np.zeros((max(0, count), height, width, 2), np.float32)
        want = np.ones(max(0, count), bool)
        known = self.needed[self.offset : self.offset + count]
        want[: len(known)] = known
        for lo, hi in _runs(want):
            out[lo:hi] = self.flow_fn(frames[lo : hi + 1])
            self.computed += hi - lo
        self.offset += max(0, count)
        return out


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[lo, hi)`` of each run of True.

    >>> _runs(np.array([1, 1, 0, 1, 0, 0, 1], bool))
    [(0, 2), (3, 4), (6, 7)]
    """
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
