"""`wsal sampler-report`: how much ground-truth action the coarse-to-fine sampler kept.

Reads the ``kept`` masks of a feature store (written by ``wsal extract --sampler motion``) and the
ground truth, and prints action-time, instance and boundary recall and the share of skipped
snippets (definitions: :mod:`wsal.features.sampler_metrics`). With ``--videos DIR`` it also
reruns the coarse pass on the videos and sweeps the budget, giving a recall-vs-budget curve next
to a uniform-subsampling baseline (the store keeps no scores, only the mask); with
``--sampler-model M.pt`` also the curve of the learned sampler (features/skim.py) on the same
coarse signals. ``--out DIR``
writes ``sampler_report.json``, ``per_video.csv`` and, with ``--videos``, ``recall_vs_budget.csv``
and ``recall_vs_budget.png``.

What this module does not do: extract features or change the store.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from wsal.errors import WsalError

if TYPE_CHECKING:
    from wsal.annotations import GroundTruth
    from wsal.features.sampler_metrics import SamplerTotals
    from wsal.timeline import SnippetGrid

_DESCRIPTION = """\
Recall of a sampler's kept snippets against ground truth: share of action time inside kept
snippets, share of instances with >= --instance-fraction of their length kept, share of
instance starts/ends whose snippet or a neighbour is kept, share of snippets skipped. Figures are
pooled over videos (seconds, instances and snippets summed). Videos of the ground truth missing
from the store, and store videos without a kept mask, are left out with a warning.

--videos DIR reruns the coarse pass (video files named <video id>.<ext>, searched recursively)
and sweeps the budget: the store records the mask, not the scores behind it. Use the sampler
settings the store was extracted with.
"""

DEFAULT_BUDGETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from wsal.features.sampler import SamplerConfig
    from wsal.features.sampler_metrics import INSTANCE_FRACTION

    defaults = SamplerConfig()
    parser = subparsers.add_parser(
        "sampler-report",
        help="recall of the sampler's kept snippets against ground truth (and a recall-vs-budget curve)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--features", required=True, metavar="STORE.h5", help="feature store with kept masks")
    parser.add_argument("--annotations", required=True, metavar="GT.json", help="ground truth in ActivityNet form")
    parser.add_argument("--subset", default=None, help="ground-truth subset, e.g. test (default: all videos)")
    parser.add_argument("--out", default=None, metavar="DIR", help="write JSON, CSV and the plot into DIR")
    parser.add_argument("--videos", default=None, metavar="DIR", help="rerun the coarse pass on these videos for a budget sweep")
    parser.add_argument(
        "--budgets", type=float, nargs="+", default=list(DEFAULT_BUDGETS), metavar="B",
        help=f"budgets of the sweep, each in (0, 1] (default: {' '.join(f'{b:g}' for b in DEFAULT_BUDGETS)})",
    )  # fmt: skip
    parser.add_argument(
        "--neighbours", type=int, default=defaults.neighbours,
        help=f"sweep: snippets kept on each side of a selected one (default: {defaults.neighbours})",
    )  # fmt: skip
    parser.add_argument(
        "--coverage", type=int, default=defaults.coverage_snippets,
        help=f"sweep: a kept snippet in every K consecutive ones, 0 = off (default: {defaults.coverage_snippets})",
    )  # fmt: skip
    parser.add_argument(
        "--sampler-model", default=None, metavar="M.pt",
        help="sweep: also score with this learned sampler (skim model of `wsal sampler-fit`) and compare",
    )  # fmt: skip
    parser.add_argument(
        "--instance-fraction", type=float, default=INSTANCE_FRACTION,
        help=f"share of an instance that must be kept for it to count (default: {INSTANCE_FRACTION})",
    )  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    from wsal.annotations import load_ground_truth
    from wsal.outputs import write_json_atomic
    from wsal.features.sampler_metrics import SamplerTotals, video_totals
    from wsal.features.store import FeatureStore

    if not 0 < args.instance_fraction <= 1:
        raise WsalError(f"--instance-fraction must be in (0, 1], got {args.instance_fraction}")
    if args.out is not None:
        from wsal.outputs import check_writable_folder

        check_writable_folder(args.out, "report")
    bad = [b for b in args.budgets if not 0 < b <= 1]
    if bad:
        raise WsalError(f"--budgets must be in (0, 1], got {bad[0]}")
    if args.neighbours < 0 or args.coverage < 0:
        raise WsalError("--neighbours and --coverage must be >= 0")
    gt = load_ground_truth(args.annotations).subset(args.subset)
    with FeatureStore(args.features) as store:
        grid = store.meta.grid()
        in_store = [vid for vid in gt.video_ids() if vid in store]
        missing = len(gt.videos) - len(in_store)
        if missing:
            print(f"wsal sampler-report: warning: {missing} ground-truth videos are not in {args.features} (left out)", file=sys.stderr)
        if not in_store:
            raise WsalError(f"{args.features}: none of the {len(gt.videos)} ground-truth videos of {args.annotations} is in the store")
        masks = {}
        lengths = {}
        for vid in in_store:
            video = store.read(vid)
            lengths[vid] = video.num_snippets
            if video.kept is not None:
                masks[vid] = video.kept
    no_mask = len(in_store) - len(masks)
    if no_mask and masks:
        print(f"wsal sampler-report: warning: {no_mask} videos have no kept mask (left out of the store figures)", file=sys.stderr)
    if not masks and args.videos is None:
        raise WsalError(
            f"{args.features}: no video has a kept mask (extracted without --sampler); "
            "pass --videos DIR to evaluate the sampler on the videos themselves"
        )

    report: dict = {"features": str(args.features), "annotations": str(args.annotations), "subset": args.subset,
                    "instance_fraction": args.instance_fraction, "snippet_s": grid.stride_s}  # fmt: skip
    rows = []
    if masks:
        total = SamplerTotals()
        for vid, kept in masks.items():
            t = video_totals(kept, gt.videos[vid].segments_s, grid, args.instance_fraction)
            total += t
            rows.append((vid, t))
        report["store"] = _figures(total, len(masks))
        print(f"kept masks in the store: {len(masks)} videos, {total.snippets} snippets")
        print(_format_figures(total))

    curve = None
    if args.videos is not None:
        curve, cost = _sweep(args, gt, in_store, lengths, grid)
        report["sweep"] = {"neighbours": args.neighbours, "coverage": args.coverage, "coarse": cost, "curve": curve}
        print(
            f"coarse pass on {cost['videos']} videos ({cost['video_minutes']:.1f} video-minutes): {cost['seconds']:.1f} s, "
            f"{cost['seconds_per_video_minute']:.2f} s per video-minute"
        )
        print(_format_curve(curve))

    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "sampler_report.json"]
        write_json_atomic(report, written[0])
        if rows:
            written.append(out / "per_video.csv")
            _write_csv(written[-1], ["video", "snippets", "kept", "action_s", "kept_action_s", "instances",
                                     "kept_instances", "boundaries", "kept_boundaries"],  # fmt: skip
                       [[vid, t.snippets, t.kept_snippets, f"{t.action_s:.3f}", f"{t.kept_action_s:.3f}", t.instances,
                         t.kept_instances, t.boundaries, t.kept_boundaries] for vid, t in rows])  # fmt: skip
        if curve is not None:
            written.append(out / "recall_vs_budget.csv")
            keys = list(curve[0])
            _write_csv(written[-1], keys, [[row[k] for k in keys] for row in curve])
            written.append(out / "recall_vs_budget.png")
            _plot_curve(curve, report.get("store"), written[-1])
        print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _figures(total: "SamplerTotals", videos: int) -> dict:
    return {
        "videos": videos,
        "snippets": total.snippets,
        "kept_share": total.kept_share,
        "skipped_share": total.skipped_share,
        "action_s": total.action_s,
        "action_recall": total.action_recall,
        "instances": total.instances,
        "instance_recall": total.instance_recall,
        "boundary_recall": total.boundary_recall,
    }


def _format_figures(total: "SamplerTotals") -> str:
    return (
        f"  action time kept {100 * total.action_recall:.1f}% of {total.action_s:.1f} s | "
        f"instances kept {100 * total.instance_recall:.1f}% of {total.instances} | "
        f"boundaries kept {100 * total.boundary_recall:.1f}% | snippets skipped {100 * total.skipped_share:.1f}%"
    )


def _find_video_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise WsalError(f"{folder}: --videos must be a folder")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or not path.suffix:
            continue
        if path.stem in found:
            raise WsalError(f"two files for video '{path.stem}' in {folder}: {found[path.stem]} and {path}")
        found[path.stem] = path
    return found


def _sweep(
    args: argparse.Namespace, gt: "GroundTruth", video_ids: list[str], lengths: dict[str, int], grid: "SnippetGrid"
) -> tuple[list[dict], dict]:
    """Coarse pass on every video, then the policy and a uniform baseline at each budget."""
    import dataclasses
    import time

    import numpy as np
    from tqdm import tqdm

    from wsal.features.sampler import SamplerConfig, coarse_signals, max_kept, select_snippets, snippet_scores, spread
    from wsal.features.sampler_metrics import SamplerTotals, video_totals

    files = _find_video_files(Path(args.videos))
    absent = [vid for vid in video_ids if vid not in files]
    if absent:
        raise WsalError(f"{args.videos}: no video file for {len(absent)} videos, e.g. '{absent[0]}' (files are named <video id>.<ext>)")
    config = SamplerConfig(neighbours=args.neighbours, coverage_snippets=args.coverage)
    skim = None
    if args.sampler_model is not None:
        from wsal.features.skim import load_skim

        skim = load_skim(args.sampler_model)
        if skim.grid != grid:
            raise WsalError(f"{args.sampler_model}: fitted on snippets {skim.grid}, the store has {grid}")
        config = dataclasses.replace(skim.sampler, neighbours=args.neighbours, coverage_snippets=args.coverage)
    sampler = {b: SamplerTotals() for b in args.budgets}
    uniform = {b: SamplerTotals() for b in args.budgets}
    learned = {b: SamplerTotals() for b in args.budgets}
    seconds = 0.0
    duration_s = 0.0
    for vid in tqdm(video_ids, desc="coarse pass", unit="video", dynamic_ncols=True):
        start = time.perf_counter()
        signals = coarse_signals(files[vid], grid, config)
        scores = snippet_scores(signals, config)
        seconds += time.perf_counter() - start
        duration_s += signals.duration_s
        if len(scores) != lengths[vid]:
            raise WsalError(
                f"{files[vid]}: the coarse pass gives {len(scores)} snippets, the store has {lengths[vid]} for '{vid}' "
                "(another video file, or a store cut with other settings?)"
            )
        segments = gt.videos[vid].segments_s
        for budget in args.budgets:
            kept = select_snippets(scores, signals.cuts, budget, config.neighbours, config.coverage_snippets)
            sampler[budget] += video_totals(kept, segments, grid, args.instance_fraction)
            even = np.zeros(len(scores), bool)
            even[spread(0, len(scores), max_kept(len(scores), budget))] = True
            uniform[budget] += video_totals(even, segments, grid, args.instance_fraction)
            if skim is not None:
                chosen = select_snippets(skim.scores(signals), signals.cuts, budget, config.neighbours, config.coverage_snippets)
                learned[budget] += video_totals(chosen, segments, grid, args.instance_fraction)
    curve = [
        {
            "budget": b,
            "kept_share": sampler[b].kept_share,
            "action_recall": sampler[b].action_recall,
            "instance_recall": sampler[b].instance_recall,
            "boundary_recall": sampler[b].boundary_recall,
            "uniform_kept_share": uniform[b].kept_share,
            "uniform_action_recall": uniform[b].action_recall,
            "uniform_instance_recall": uniform[b].instance_recall,
            "uniform_boundary_recall": uniform[b].boundary_recall,
        }
        for b in args.budgets
    ]
    if skim is not None:
        for row in curve:
            b = row["budget"]
            row.update(learned_kept_share=learned[b].kept_share, learned_action_recall=learned[b].action_recall,
                       learned_instance_recall=learned[b].instance_recall,
                       learned_boundary_recall=learned[b].boundary_recall)  # fmt: skip
    minutes = duration_s / 60
    cost = {
        "videos": len(video_ids),
        "video_minutes": minutes,
        "seconds": seconds,
        "seconds_per_video_minute": seconds / minutes if minutes > 0 else float("nan"),
    }
    return curve, cost


def _format_curve(curve: list[dict]) -> str:
    has_learned = "learned_action_recall" in curve[0]
    lines = ["budget  kept%  action%  instance%  boundary%  | uniform: kept%  action%  instance%  boundary%"
             + ("  | learned: kept%  action%  instance%  boundary%" if has_learned else "")]  # fmt: skip
    for row in curve:
        line = (
            f"{row['budget']:6.2f}  {100 * row['kept_share']:5.1f}  {100 * row['action_recall']:7.1f}  "
            f"{100 * row['instance_recall']:9.1f}  {100 * row['boundary_recall']:9.1f}  |          "
            f"{100 * row['uniform_kept_share']:5.1f}  {100 * row['uniform_action_recall']:7.1f}  "
            f"{100 * row['uniform_instance_recall']:9.1f}  {100 * row['uniform_boundary_recall']:9.1f}"
        )
        if has_learned:
            line += (
                f"  |          {100 * row['learned_kept_share']:5.1f}  {100 * row['learned_action_recall']:7.1f}  "
                f"{100 * row['learned_instance_recall']:9.1f}  {100 * row['learned_boundary_recall']:9.1f}"
            )
        lines.append(line)
    return "\n".join(lines)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    import csv

    from wsal.outputs import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _plot_curve(curve: list[dict], store_point: dict | None, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    kept = [100 * r["kept_share"] for r in curve]
    ax.plot(kept, [100 * r["action_recall"] for r in curve], "o-", label="sampler: action time")
    ax.plot(kept, [100 * r["instance_recall"] for r in curve], "s--", label="sampler: instances")
    ax.plot([100 * r["uniform_kept_share"] for r in curve], [100 * r["uniform_action_recall"] for r in curve],
            "x:", color="grey", label="uniform: action time")  # fmt: skip
    if "learned_action_recall" in curve[0]:
        ax.plot([100 * r["learned_kept_share"] for r in curve], [100 * r["learned_action_recall"] for r in curve],
                "d-", label="learned sampler: action time")  # fmt: skip
    if store_point is not None:
        ax.plot([100 * store_point["kept_share"]], [100 * store_point["action_recall"]], "r*", markersize=12,
                label="store's kept masks: action time")  # fmt: skip
    ax.set_xlabel("snippets kept (%)")
    ax.set_ylabel("recall (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("sampler recall vs budget")
    fig.tight_layout()
    from wsal.outputs import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
