"""Timeline figure of one video: ground truth, predictions, attention and CAS, in one PNG.

Three panels sharing a time axis in seconds (only the first when the model's outputs are not at
hand, e.g. ``wsal evaluate --report`` without ``--raw``):

1. segments: per class shown (the ground-truth classes, then the classes of the best
   predictions), one row of ground-truth bars and as many rows of predicted bars as overlaps need
   (best first), the predicted bars' opacity growing with their score;
2. attention (T,) as a step curve over each snippet's time span; with ``change_scores`` (L, T)
   the change points of each level (score > 0.5) as vertical ticks, longer for higher levels;
3. CAS probability of the ground-truth classes (or of the best predicted class when the video
   has no ground truth), same steps; with ``base_probs`` (the plain CAS of a model with
   background suppression, which ``localize.base_proposals`` also proposes from) the same
   classes' plain CAS dashed; ground-truth segments are shaded in both curve panels.

Snippet spans come from :func:`wsal.localize.runs_to_seconds` (the one grid formula, resampled
sequences included). Uses matplotlib's Agg backend: no display needed.

What this module does not do: evaluation plots (PR curves, mAP tables; ``wsal.eval.report``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence
from urllib.parse import quote

import numpy as np

from wsal.localize import runs_to_seconds
from wsal.timeline import SnippetGrid

if TYPE_CHECKING:
    from wsal.annotations import VideoGT
    from wsal.raw import RawVideo


def plot_video_timeline(
    path: str | os.PathLike,
    video_id: str,
    cas_probs: np.ndarray | None,
    attention: np.ndarray | None,
    grid: SnippetGrid | None,
    classes: Sequence[str],
    gt_segments_s: np.ndarray,
    gt_labels: Sequence[str],
    predictions: Sequence[Mapping],
    *,
    num_original_snippets: int | None = None,
    duration_s: float | None = None,
    max_predictions: int = 10,
    change_scores: np.ndarray | None = None,
    has_ground_truth: bool = True,
    base_probs: np.ndarray | None = None,
) -> Path:
    """Write the figure to ``path`` (PNG) and return it.

    ``cas_probs`` (T, C), ``attention`` (T,); ``gt_segments_s`` (N, 2) with ``gt_labels`` (N,);
    ``predictions`` in ActivityNet results form (``segment``, ``label``, ``score``); only the
    ``max_predictions`` best are drawn. ``change_scores`` (L, T): the change-point detector's
    scores (optional), drawn as ticks at each level's change points; ``base_probs`` (T, C): the
    plain CAS (optional), dashed. ``has_ground_truth=False`` (one's own videos): no ground-truth
    rows, and the title says so. ``cas_probs``, ``attention`` and ``grid`` all None: the segments
    panel only, over ``[0, duration_s]``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = cas_probs is not None
    if curves != (attention is not None) or curves != (grid is not None):
        raise ValueError("cas_probs, attention and grid are given together or not at all")
    best = sorted(predictions, key=lambda d: -float(d["score"]))[:max_predictions]
    gt_classes = list(dict.fromkeys(gt_labels))
    shown = gt_classes + [c for c in dict.fromkeys(d["label"] for d in best) if c not in gt_classes]
    cas_classes = gt_classes or shown[:1]
    colors = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(shown)}
    ends = [float(e) for d in best for e in d["segment"][1:]] + [float(e) for e in np.asarray(gt_segments_s).reshape(-1, 2)[:, 1]]
    end_s = max([duration_s or 0.0, *ends]) or 1.0  # an empty timeline still gets an axis
    if curves:
        T = cas_probs.shape[0]
        positions = np.arange(T)
        span_start, span_end = runs_to_seconds(positions, positions, grid, T, num_original_snippets)  # (T,), (T,)
        end_s = max(float(span_end[-1]), end_s)

    scores = np.array([float(d["score"]) for d in best]) if best else np.zeros(0)
    low, high = (scores.min(), scores.max()) if scores.size else (0.0, 1.0)
    lanes = {cls: assign_lanes([tuple(map(float, d["segment"])) for d in best if d["label"] == cls]) for cls in shown}
    num_rows = sum(int(has_ground_truth) + max(1, max(lanes[c], default=0) + 1) for c in shown)

    if curves:
        fig, (ax_seg, ax_att, ax_cas) = plt.subplots(
            3, 1, figsize=(12, 3.6 + 0.3 * num_rows), sharex=True,
            gridspec_kw={"height_ratios": [max(1.0, 0.3 * num_rows), 1.3, 1.3]},
        )
        shaded = (ax_att, ax_cas)
    else:
        fig, ax_seg = plt.subplots(1, 1, figsize=(12, 1.4 + 0.3 * num_rows))
        shaded = ()
    rows, labels = 0, []
    for cls in shown:
        for start_s, stop_s in np.asarray(gt_segments_s, dtype=float).reshape(-1, 2)[[lab == cls for lab in gt_labels]]:
            ax_seg.broken_barh([(start_s, stop_s - start_s)], (rows + 0.1, 0.8), color=colors[cls])
            for ax in shaded:
                ax.axvspan(start_s, stop_s, color=colors[cls], alpha=0.12, lw=0)
        if has_ground_truth:
            labels.append(f"GT {cls}")
            rows += 1
        dets = [d for d in best if d["label"] == cls]
        for det, lane in zip(dets, lanes[cls]):
            s, e = map(float, det["segment"])
            alpha = 0.25 + 0.75 * ((float(det["score"]) - low) / (high - low) if high > low else 1.0)
            ax_seg.broken_barh([(s, e - s)], (rows + lane + 0.1, 0.8), color=colors[cls], alpha=alpha, edgecolor="black", lw=0.5)
        num_lanes = max(1, max(lanes[cls], default=0) + 1)
        labels.extend([f"pred {cls}"] + [""] * (num_lanes - 1))
        rows += num_lanes
    ax_seg.set_yticks(np.arange(rows) + 0.5, labels)
    ax_seg.set_ylim(rows, 0)
    if has_ground_truth:
        ax_seg.set_title(f"{video_id}: ground truth and top-{len(best)} predictions (darker = higher score"
                         + ("; shaded below = GT)" if curves else ")"))
    else:
        ax_seg.set_title(f"{video_id}: top-{len(best)} detections (darker = higher score)")
    ax_seg.grid(axis="x", alpha=0.3)
    if not curves:
        ax_seg.set_xlabel("time (s)")
        ax_seg.set_xlim(0, end_s)
    else:
        edges = np.append(span_start, span_end[-1])
        ax_att.stairs(np.asarray(attention, dtype=float), edges, color="black", fill=True, alpha=0.3)
        if change_scores is not None:
            levels = np.asarray(change_scores, dtype=float)  # (L, T)
            for level, level_scores in enumerate(levels):
                points = np.flatnonzero(level_scores > 0.5)
                height = (level + 1) / levels.shape[0]  # level l reaches (l+1)/L of the panel
                ax_att.vlines(span_start[points], 0, height, colors="tab:red", lw=0.6 + 0.6 * level, alpha=0.8,
                              label="change points (taller = higher level)" if level == 0 and points.size else None)
            if levels.size and (levels > 0.5).any():
                ax_att.legend(loc="upper right", fontsize=8)
        ax_att.set_ylim(0, 1.05)
        ax_att.set_ylabel("attention")
        for cls in cas_classes:
            if cls in classes:
                column = list(classes).index(cls)
                ax_cas.stairs(np.asarray(cas_probs[:, column], dtype=float), edges, color=colors[cls], label=cls, lw=1.5)
                if base_probs is not None:
                    ax_cas.stairs(np.asarray(base_probs[:, column], dtype=float), edges, color=colors[cls],
                                  label=f"{cls} (plain CAS)", lw=1.0, ls="--")  # fmt: skip
        ax_cas.set_ylim(0, 1.05)
        ax_cas.set_ylabel("CAS prob.")
        ax_cas.set_xlabel("time (s)")
        ax_cas.legend(loc="upper right", fontsize=8)
        ax_cas.set_xlim(0, end_s)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def timeline_file_name(video_id: str) -> str:
    """The PNG file name of a video's timeline: the id with every character but letters, digits and
    ``-_.`` percent-encoded, so any id gives a distinct, plain file name.

    >>> timeline_file_name("video_test_0000004"), timeline_file_name("a/b c")
    ('video_test_0000004.png', 'a%2Fb%20c.png')
    """
    return quote(video_id, safe="-_.") + ".png"


def draw_timeline(
    folder: str | os.PathLike,
    video: RawVideo,
    grid: SnippetGrid,
    classes: Sequence[str],
    detections: Sequence[Mapping],
    gt: VideoGT | None = None,
) -> Path:
    """:func:`plot_video_timeline` of one video's raw outputs and detections (and its ground truth,
    when known) into ``folder`` / :func:`timeline_file_name`."""
    return plot_video_timeline(
        Path(folder) / timeline_file_name(video.video_id),
        video.video_id,
        video.cas_probs,
        video.attention,
        grid,
        classes,
        *_ground_truth(gt),
        detections,
        num_original_snippets=video.num_original_snippets,
        duration_s=video.duration_s,
        change_scores=video.change_scores,
        has_ground_truth=gt is not None,
        base_probs=video.base_probs,
    )


def draw_segments_timeline(
    folder: str | os.PathLike, video_id: str, detections: Sequence[Mapping], gt: VideoGT | None = None
) -> Path:
    """The segments panel alone (ground truth when known, detections) into ``folder`` /
    :func:`timeline_file_name`: for runs whose model outputs are not at hand."""
    return plot_video_timeline(
        Path(folder) / timeline_file_name(video_id), video_id, None, None, None, (), *_ground_truth(gt), detections,
        duration_s=gt.duration_s if gt is not None else None, has_ground_truth=gt is not None,
    )  # fmt: skip


def _ground_truth(gt: VideoGT | None) -> tuple[np.ndarray, Sequence[str]]:
    """(segments_s (N, 2), labels (N,)) of a video's ground truth; empty when it has none."""
    return (gt.segments_s, gt.labels) if gt is not None else (np.zeros((0, 2)), [])


def assign_lanes(segments: Sequence[tuple[float, float]]) -> list[int]:
    """Lane per segment, in the given order, so that segments sharing a lane do not overlap.

    >>> assign_lanes([(0.0, 5.0), (1.0, 2.0), (5.0, 6.0), (1.5, 3.0)])
    [0, 1, 0, 2]
    """
    lanes: list[list[tuple[float, float]]] = []
    out = []
    for start_s, end_s in segments:
        for i, lane in enumerate(lanes):
            if all(end_s <= s or start_s >= e for s, e in lane):
                lane.append((start_s, end_s))
                out.append(i)
                break
        else:
            lanes.append([(start_s, end_s)])
            out.append(len(lanes) - 1)
    return out
