"""Presenting detection results: tIoU presets, averages, terminal table, JSON summary, report folder.

* presets: ``thumos`` = tIoU 0.1:0.7 step 0.1 (with extra averages over 0.1:0.5 and 0.3:0.7, the
  ranges WTAL papers quote), ``activitynet`` = 0.5:0.95 step 0.05 as the official evaluator's
  ``np.linspace(0.5, 0.95, 10)`` values (0.8999999999999999, not 0.9).
* :func:`format_table`: one compact row per prediction file (mAP in %), for side-by-side comparison.
* :func:`summary_json`: DESIGN.md's ``evaluate --json`` schema for one prediction file.
* :func:`write_report`: ``report.md`` (protocol, per-threshold and per-class tables), ``per_class.csv``
  and three PNG plots (per-class AP bars, mAP vs tIoU, precision-recall at tIoU 0.5), drawn with
  matplotlib's Agg canvas (no display, no global backend switch).

Every output names the protocol, including whether THUMOS Ambiguous regions were used and
whether predictions on unknown videos were dropped.
What this module does not do: compute metrics (``wsal.eval.detection``) or read input files.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np

from wsal.eval.detection import DetectionResult

TIOU_PRESETS: dict[str, tuple[float, ...]] = {
    # 0.1 .. 0.7, each the double nearest the decimal (THUMOS-14 has no official list: WTAL code
    # passes np.linspace(0.1, 0.7, 7), whose third value is 0.30000000000000004; --tiou takes it)
    "thumos": tuple(round(0.1 * i, 2) for i in range(1, 8)),
    # exactly the ActivityNet evaluator's np.linspace(0.5, 0.95, 10): its ninth value is
    # 0.8999999999999999, and a tIoU that computes to that value is a hit there
    "activitynet": tuple(float(t) for t in np.linspace(0.5, 0.95, 10)),
}
# Extra [low, high] ranges averaged for a preset, besides the average over all its thresholds.
EXTRA_AVERAGES: dict[str, tuple[tuple[float, float], ...]] = {"thumos": ((0.1, 0.5), (0.3, 0.7))}
# Ground truth with more classes than this defaults to the activitynet preset.
MAX_CLASSES_FOR_THUMOS_PRESET = 50


def default_preset(num_classes: int) -> str:
    """``thumos`` unless the ground truth has more than 50 classes, then ``activitynet``.

    >>> default_preset(20), default_preset(200)
    ('thumos', 'activitynet')
    """
    return "activitynet" if num_classes > MAX_CLASSES_FOR_THUMOS_PRESET else "thumos"


PROTOCOL_NAMES: dict[str, str] = {"activitynet": "activitynet-detection", "thumos14-kit": "thumos14-kit"}


def protocol_description(result: DetectionResult) -> str:
    """One line naming the protocol of ``result``, with every departure from the official one.

    >>> from wsal.eval.detection import DetectionResult
    >>> r = DetectionResult(np.array([0.5]), np.array([1.0]), 1.0, {}, (), 0, {}, 0, 0, 0, (), False, {}, False, 0, 0, 0.5, {})
    >>> protocol_description(r)
    'ActivityNet detection mAP (score-ranked greedy matching, interpolated AP, mean over ground-truth classes; predictions on videos outside the ground truth are false positives); THUMOS Ambiguous regions: not used'
    """
    if result.protocol == "thumos14-kit":
        return (
            "THUMOS-14 evaluation kit (ground truth in order takes its best free prediction, overlap "
            "strictly above the threshold, unmatched predictions on Ambiguous regions removed, "
            "true positives first on equal scores, 11-point interpolated AP)"
        )
    unknown = (
        "predictions on videos outside the ground truth dropped (not the official protocol)"
        if result.drop_unknown_videos
        else "predictions on videos outside the ground truth are false positives"
    )
    ambiguous = (
        "unmatched predictions on them are removed (the THUMOS-14 kit's rule)" if result.ignore_ambiguous else "not used"
    )
    return (
        "ActivityNet detection mAP (score-ranked greedy matching, interpolated AP, mean over "
        f"ground-truth classes; {unknown}); THUMOS Ambiguous regions: {ambiguous}"
    )


def protocol_tag(result: DetectionResult) -> str:
    """A few words for table titles: the protocol and any non-default choice.

    >>> from wsal.eval.detection import DetectionResult
    >>> r = DetectionResult(np.array([0.5]), np.array([1.0]), 1.0, {}, (), 0, {}, 0, 0, 0, (), True, {}, True, 0, 0, 0.5, {})
    >>> protocol_tag(r)
    'activitynet, unknown videos dropped, Ambiguous ignored'
    """
    words = [result.protocol]
    if result.drop_unknown_videos:
        words.append("unknown videos dropped")
    if result.ignore_ambiguous:
        words.append("Ambiguous ignored")
    return ", ".join(words)


@dataclass(frozen=True)
class Run:
    """The result of one prediction file, with a short display name."""

    name: str
    path: str
    result: DetectionResult
    scope: str | None = None  # "N videos listed in FILE" when the ground truth was restricted, else None


@dataclass(frozen=True)
class VideoRow:
    """One video of the report's worst-first list (:func:`wsal.eval.detection.per_video_ap`)."""

    video_id: str
    num_ground_truth: int
    num_predictions: int
    average_ap: float  # over the thresholds and the video's ground-truth classes, in [0, 1]
    timeline: str | None = None  # PNG path relative to the report folder, when drawn


def run_names(paths: list[str]) -> list[str]:
    """Short, unique display names: file stems, or the full paths where stems collide.

    >>> run_names(["a/pred.json", "b/other.json"]), run_names(["a/pred.json", "b/pred.json"])
    (['pred', 'other'], ['a/pred.json', 'b/pred.json'])
    """
    stems = [Path(p).stem for p in paths]
    return stems if len(set(stems)) == len(stems) else list(paths)


def averages(result: DetectionResult, preset: str | None) -> dict[str, float]:
    """``{"low:high": mAP}``: over all thresholds first, then the preset's extra ranges."""
    out = {f"{result.tiou.min():g}:{result.tiou.max():g}": result.average_mAP}
    for low, high in EXTRA_AVERAGES.get(preset or "", ()):
        out[f"{low:g}:{high:g}"] = result.average_between(low, high)
    return out


def summary_json(run: Run, subset: str | None, preset: str | None) -> dict:
    """DESIGN.md's ``evaluate --json`` object for one prediction file (fractions, not %)."""
    r = run.result
    return {
        "predictions": run.path,
        "subset": subset,
        "tiou": r.tiou.tolist(),
        "mAP": r.mAP.tolist(),
        "average_mAP": r.average_mAP,
        "averages": averages(r, preset),
        "per_class_AP": {label: ap.tolist() for label, ap in r.per_class_AP.items()},
        "num_ground_truth": r.num_ground_truth,
        "num_predictions": r.num_predictions,
        "num_predictions_in_file": r.num_predictions_in_file,
        "protocol": {
            "name": PROTOCOL_NAMES[r.protocol],
            "ignore_ambiguous": r.ignore_ambiguous,
            "drop_unknown_videos": r.drop_unknown_videos,
            "description": protocol_description(r),
            "num_unknown_video": r.num_unknown_video,
            "num_ambiguous_removed": r.num_ambiguous_removed,
        },
        "preset": preset,
        "restricted_to": run.scope,
        "coverage": {
            "num_gt_videos": r.num_gt_videos,
            "videos_without_predictions": len(r.videos_without_predictions),
            "instances_without_predictions": r.instances_without_predictions,
            "examples": list(r.videos_without_predictions[:10]),
        },
        "warnings": r.warnings(),
    }


def format_table(runs: list[Run], preset: str | None) -> str:
    """Compact text table, mAP in %: one row per prediction file, one column per threshold and average."""
    tious = runs[0].result.tiou
    avg_names = list(averages(runs[0].result, preset))
    header = ["predictions"] + [f"{t:g}" for t in tious] + [f"avg {a}" for a in avg_names]
    rows = [
        [run.name]
        + [f"{100 * m:.2f}" for m in run.result.mAP]
        + [f"{100 * v:.2f}" for v in averages(run.result, preset).values()]
        for run in runs
    ]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in [header] + rows]
    scope = f"; ground truth restricted to {runs[0].scope}" if runs[0].scope else ""
    return f"mAP (%) at tIoU ({protocol_tag(runs[0].result)}{scope})\n" + "\n".join(lines)


def interpolated_precision_at(precision: np.ndarray, recall: np.ndarray, recall_grid: np.ndarray) -> np.ndarray:
    """Interpolated precision (max precision at recall >= r) at each grid recall r; 0 beyond the last recall.

    >>> interpolated_precision_at(np.array([1.0, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0]), np.array([0.0, 0.5, 0.75, 1.0]))
    array([1.        , 1.        , 0.66666667, 0.66666667])
    """
    if len(precision) == 0:
        return np.zeros(len(recall_grid))
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    first = np.searchsorted(recall, recall_grid - 1e-12, side="left")  # recall is non-decreasing
    out = np.zeros(len(recall_grid))
    inside = first < len(recall)
    out[inside] = envelope[first[inside]]
    return out


def mean_pr_curve(result: DetectionResult, recall_grid: np.ndarray) -> np.ndarray:
    """Class-averaged interpolated precision at ``recall_grid``, at tIoU ``result.pr_tiou``."""
    return np.mean([interpolated_precision_at(p, r, recall_grid) for p, r in result.pr_curves.values()], axis=0)


def _per_class_mean_ap(result: DetectionResult) -> np.ndarray:
    return np.array([float(np.mean(result.per_class_AP[c])) for c in result.classes])  # (C,)


def _plot_per_class(runs: list[Run], path: Path) -> None:
    from matplotlib.figure import Figure

    classes = runs[0].result.classes
    first = _per_class_mean_ap(runs[0].result)
    order = np.argsort(-first, kind="stable")
    height = 0.8 / len(runs)
    fig = Figure(figsize=(8, 1.5 + 0.22 * len(classes) * max(1, len(runs) / 2)))
    ax = fig.subplots()
    y = np.arange(len(classes))
    for i, run in enumerate(runs):
        ap = _per_class_mean_ap(run.result)[order]
        ax.barh(y + (i - (len(runs) - 1) / 2) * height, 100 * ap, height=height, label=run.name)
    ax.set_yticks(y, [classes[j] for j in order], fontsize=8)
    ax.set_ylim(len(classes) - 0.5, -0.5)  # best class on top, no empty margins
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"AP (%), averaged over tIoU {runs[0].result.tiou.min():g}:{runs[0].result.tiou.max():g}")
    ax.set_title("Per-class AP")
    if len(classes) > 40:  # tall figure: repeat the AP axis on top
        ax.tick_params(axis="x", labeltop=True, top=True)
    ax.grid(axis="x", alpha=0.3)
    if len(runs) > 1:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_map_vs_tiou(runs: list[Run], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for run in runs:
        ax.plot(run.result.tiou, 100 * run.result.mAP, marker="o", label=f"{run.name} (avg {100 * run.result.average_mAP:.2f})")
    ax.set_xlabel("tIoU threshold")
    ax.set_ylabel("mAP (%)")
    ax.set_ylim(0, 100)
    ax.set_title("mAP vs tIoU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_pr(runs: list[Run], path: Path) -> None:
    from matplotlib.figure import Figure

    grid = np.linspace(0, 1, 101)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    if len(runs) == 1 and len(runs[0].result.classes) <= 30:
        for p, r in runs[0].result.pr_curves.values():
            ax.plot(grid, interpolated_precision_at(p, r, grid), color="0.75", linewidth=0.8)
        ax.plot([], [], color="0.75", linewidth=0.8, label="single classes")
    for run in runs:
        ax.plot(grid, mean_pr_curve(run.result, grid), linewidth=2, label=f"{run.name}: class average")
    ax.set_xlabel("recall")
    ax.set_ylabel("interpolated precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Precision-recall at tIoU {runs[0].result.pr_tiou:g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}"


def write_report(
    out_dir: str | Path,
    runs: list[Run],
    ground_truth_path: str,
    subset: str | None,
    preset: str | None,
    videos: list[VideoRow] | None = None,
) -> list[Path]:
    """Write report.md, per_class.csv and the PNG plots into ``out_dir``; returns the paths written.

    ``videos``: the first run's videos, worst first, listed with links to their timelines (the
    PNGs are the caller's) and written to per_video.csv."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    first = runs[0].result
    tious = [f"{t:g}" for t in first.tiou]
    files = {
        "per_class_ap": out / "per_class_ap.png",
        "map_vs_tiou": out / "map_vs_tiou.png",
        "pr": out / "pr_curves.png",
    }
    _plot_per_class(runs, files["per_class_ap"])
    _plot_map_vs_tiou(runs, files["map_vs_tiou"])
    _plot_pr(runs, files["pr"])

    csv_path = out / "per_class.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["predictions", "class", "num_ground_truth"] + [f"AP@{t}" for t in tious] + ["AP_average"])
        for run in runs:
            for label in run.result.classes:
                ap = run.result.per_class_AP[label]
                writer.writerow([run.name, label, run.result.num_ground_truth_per_class[label]] + [f"{a:.6f}" for a in ap] + [f"{np.mean(ap):.6f}"])

    avg_names = list(averages(first, preset))
    lines = [
        "# Detection evaluation",
        "",
        f"- Protocol: {protocol_description(first)}.",
        *([f"- Ground truth restricted to {runs[0].scope}."] if runs[0].scope else []),
        f"- Ground truth: `{ground_truth_path}`, subset: {subset or 'all videos'}, "
        f"{len(first.classes)} classes, {first.num_ground_truth} segments.",
        f"- tIoU thresholds: {', '.join(tious)}" + (f" (preset `{preset}`)" if preset else "") + ".",
    ]
    for run in runs:
        r = run.result
        lines.append(
            f"- `{run.name}`: `{run.path}`, {r.num_predictions_in_file} predictions in the file, {r.num_predictions} evaluated"
            + (f", {r.num_ambiguous_removed} on Ambiguous regions (removed where unmatched)" if r.num_ambiguous_removed else "")
            + "."
        )
        lines += [f"  - warning: {w}" for w in r.warnings()]
    lines += ["", "## mAP (%) per tIoU threshold", ""]
    lines += _md_table(
        ["predictions"] + tious + [f"avg {a}" for a in avg_names],
        [[run.name] + [_pct(m) for m in run.result.mAP] + [_pct(v) for v in averages(run.result, preset).values()] for run in runs],
    )
    lines += ["", "![mAP vs tIoU](map_vs_tiou.png)", "", f"## Per-class AP (%), tIoU {first.tiou.min():g}:{first.tiou.max():g}", ""]
    if len(runs) == 1:
        header = ["class", "GT segments"] + tious + ["average"]
        rows = [
            [label, str(first.num_ground_truth_per_class[label])] + [_pct(a) for a in first.per_class_AP[label]] + [_pct(float(np.mean(first.per_class_AP[label])))]
            for label in first.classes
        ]
    else:
        header = ["class", "GT segments"] + [f"{run.name} (average)" for run in runs]
        rows = [
            [label, str(first.num_ground_truth_per_class[label])] + [_pct(float(np.mean(run.result.per_class_AP[label]))) for run in runs]
            for label in first.classes
        ]
    lines += _md_table(header, rows)
    lines += [
        "",
        "Also in `per_class.csv`.",
        "",
        "![per-class AP](per_class_ap.png)",
        "",
        f"## Precision-recall at tIoU {first.pr_tiou:g}",
        "",
        "Interpolated precision (the envelope AP integrates), averaged over classes.",
        "",
        "![precision-recall](pr_curves.png)",
        "",
    ]
    written = [csv_path, *files.values()]
    if videos is not None:
        video_csv = out / "per_video.csv"
        with video_csv.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["video", "num_ground_truth", "num_predictions", "AP_average", "timeline"])
            for v in videos:
                writer.writerow([v.video_id, v.num_ground_truth, v.num_predictions, f"{v.average_ap:.6f}", v.timeline or ""])
        written.append(video_csv)
        lines += [
            f"## Videos, worst first (`{runs[0].name}`)",
            "",
            f"Per-video AP (%): each video's ground truth against its own predictions, averaged over the tIoU "
            f"thresholds and the video's classes (a ranking aid, not a term of mAP; all {len(videos)} in "
            "`per_video.csv`).",
            "",
        ]
        drawn = [v for v in videos if v.timeline]
        lines += _md_table(
            ["video", "GT segments", "predictions", "AP (%)", "timeline"],
            [[f"`{v.video_id}`", str(v.num_ground_truth), str(v.num_predictions), _pct(v.average_ap),
              f"[png]({quote(v.timeline, safe='/')})"] for v in drawn],
        ) if drawn else ["No timelines drawn (`--report-videos 0`)."]  # fmt: skip
        lines.append("")
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return [md_path, *written]
