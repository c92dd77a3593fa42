"""`wsal evaluate`: detection mAP of one or more prediction files against a ground-truth file.

Prediction files are ActivityNet results JSON or the THUMOS-14 kit's detection txt (JSON when the
content starts with ``{`` or the name ends in .json, else the txt, whose class ids come from
``--class-list``, default the kit's own list: :mod:`wsal.eval.io`). Reads files only (no model, no
torch). Prints a compact table (one row per prediction file), optionally writes the JSON summary
(``--json``) and a report folder (``--report``). Expected user errors (bad files, unknown subset,
bad thresholds) end with one line and exit code 2; counted problems (predictions on videos outside
the ground truth, labels without ground truth, reversed segments of a kit txt) are printed as
warnings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from wsal.errors import WsalError

if TYPE_CHECKING:
    from wsal.eval.io import Predictions
    from wsal.annotations import GroundTruth
    from wsal.eval.report import VideoRow

def _description() -> str:
    from wsal.eval.report import EXTRA_AVERAGES, MAX_CLASSES_FOR_THUMOS_PRESET, TIOU_PRESETS

    presets = "; ".join(
        f"{name} = {' '.join(f'{t:g}' for t in values)}"
        + (
            " (also averages over " + " and ".join(f"{low:g}:{high:g}" for low, high in EXTRA_AVERAGES[name]) + ")"
            if name in EXTRA_AVERAGES
            else ""
        )
        for name, values in TIOU_PRESETS.items()
    )
    return f"""\
Detection mAP at several tIoU thresholds. Default protocol: ActivityNet's official detection
evaluator (predictions ranked by score per class, each claims the unmatched ground-truth segment of
its class and video with the highest tIoU >= threshold, interpolated AP, mean over ground-truth
classes, a class without predictions scores 0, predictions on videos outside the evaluated ground
truth are false positives). --protocol thumos14-kit: the THUMOS-14 evaluation kit's rules instead.
Labels without ground truth are dropped and counted in a warning. Every departure from the official
code, and why: docs/evaluation.md.

Prediction files: ActivityNet results JSON ({{"results": ...}}) or the THUMOS-14 kit's detection txt
(one line 'video_name start_s end_s class_id score' per detection): JSON when the content starts with
'{{' or the name ends in .json, else the txt. The txt is read as the kit reads it: its class ids
through --class-list (default: the kit's own list, UCF-101 ids), a trailing .mpeg of a video name
dropped, segments given as end < start put in order (counted in a warning).

tIoU presets: {presets}.
Default: thumos, or activitynet when the ground truth has more than {MAX_CLASSES_FOR_THUMOS_PRESET} classes.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="detection mAP@tIoU of prediction files against ground truth",
        description=_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ground-truth", required=True, metavar="GT.json", help="ground truth in ActivityNet form ({\"database\": ...})")
    parser.add_argument(
        "--predictions", required=True, nargs="+", metavar="PRED",
        help="one or more detection result files, JSON ({\"results\": ...}) or the THUMOS-14 kit's txt; "
        "several are compared side by side",
    )
    parser.add_argument(
        "--class-list", default=None, metavar="FILE",
        help="'ID NAME' lines: the class ids of THUMOS-14 kit txt predictions (default: the kit's own list, "
        "UCF-101 ids 7 BaseballPitch ... 97 VolleyballSpiking)",
    )
    parser.add_argument(
        "--subset", default=None,
        help="subset of the ground truth to evaluate, e.g. test; 'all' for every video. "
        "Needed when the ground truth has several subsets (default: its only subset)",
    )
    parser.add_argument(
        "--tiou", nargs="+", default=None, metavar="T",
        help="'thumos', 'activitynet', or thresholds in (0, 1] (default: thumos, activitynet above 50 classes)",
    )
    parser.add_argument(
        "--protocol", choices=("activitynet", "thumos14-kit"), default="activitynet",
        help="activitynet: the official ActivityNet detection evaluator (default); thumos14-kit: the "
        "THUMOS-14 kit (ground truth takes its best prediction, overlap > threshold, its Ambiguous rule, "
        "11-point AP)",
    )
    parser.add_argument(
        "--ignore-ambiguous", action="store_true",
        help="activitynet protocol with the THUMOS-14 kit's Ambiguous rule: unmatched predictions that "
        "intersect an Ambiguous region of their video are removed, not false positives (default: off)",
    )
    parser.add_argument(
        "--drop-unknown-videos", action="store_true",
        help="activitynet protocol: drop predictions on videos outside the evaluated ground truth instead "
        "of counting them as false positives (not the official protocol; labelled in every output)",
    )
    parser.add_argument(
        "--videos", default=None, metavar="FILE",
        help="score only the ground-truth videos listed in FILE (one id per line); labelled in every output",
    )
    parser.add_argument(
        "--features", default=None, metavar="STORE.h5",
        help="score only the ground-truth videos that STORE.h5 holds (e.g. the ones you extracted); labelled",
    )
    parser.add_argument("--json", default=None, metavar="OUT.json", help="write the summary as JSON")
    parser.add_argument(
        "--report", default=None, metavar="DIR",
        help="write report.md, per_class.csv, per_video.csv, plots and the worst videos' timelines into DIR",
    )
    parser.add_argument(
        "--report-videos", type=int, default=20, metavar="N",
        help="--report: draw the timelines of the N videos with the lowest per-video AP of the first "
        "predictions file, worst first (0: none; default: %(default)s)",
    )
    parser.add_argument(
        "--raw", default=None, metavar="RAW.h5",
        help="--report: raw outputs of `wsal localize --save-raw` for the first predictions file; its videos' "
        "timelines show attention and CAS too (default: ground truth and detections only)",
    )
    return parser


def _thresholds(tokens: list[str] | None, num_classes: int) -> tuple[list[float], str | None, str]:
    """(thresholds, preset name or None, how they were chosen)."""
    from wsal.eval.report import MAX_CLASSES_FOR_THUMOS_PRESET, TIOU_PRESETS, default_preset

    if tokens is None:
        preset = default_preset(num_classes)
        why = f"default: the ground truth has {num_classes} classes, {'>' if preset == 'activitynet' else '<='} {MAX_CLASSES_FOR_THUMOS_PRESET}"
        return list(TIOU_PRESETS[preset]), preset, why
    if len(tokens) == 1 and tokens[0] in TIOU_PRESETS:
        return list(TIOU_PRESETS[tokens[0]]), tokens[0], "--tiou"
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise WsalError(
            f"--tiou expects 'thumos', 'activitynet' or numbers in (0, 1], got {' '.join(tokens)!r}"
        ) from None
    if any(not 0 < v <= 1 for v in values):
        raise WsalError(f"--tiou thresholds must lie in (0, 1], got {' '.join(tokens)}")
    return values, None, "--tiou"


def _video_list(path: str) -> list[str]:
    """Video ids, one per line (blank lines and # comments ignored)."""
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WsalError(f"{path}: video list not found") from None
    except UnicodeDecodeError:
        raise WsalError(f"{path}: not UTF-8 text") from None
    ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    ids = [vid for vid in ids if vid]
    if not ids:
        raise WsalError(f"{path}: no video ids (one per line)")
    return ids


def _worst_videos(gt: GroundTruth, preds: Predictions, thresholds: list[float], args: argparse.Namespace) -> list[VideoRow]:
    """The report's per-video rows, lowest per-video AP first (ties by id), with the timelines of
    the first ``--report-videos`` drawn into REPORT/timelines."""
    import numpy as np

    from wsal.eval.detection import per_video_ap
    from wsal.eval.report import VideoRow
    from wsal.timelines import detections_by_video, draw_video_timelines

    ap = per_video_ap(gt, preds, thresholds, ignore_ambiguous=args.ignore_ambiguous)
    ranked = sorted(ap, key=lambda vid: (ap[vid], vid))
    counts = dict(zip(*np.unique(preds.video_ids, return_counts=True)))
    worst = ranked[: args.report_videos]
    drawn = {}
    if worst:  # detections in results form for the drawn videos only
        detections = detections_by_video(preds.take(np.isin(preds.video_ids, worst)))
        raw = Path(args.raw) if args.raw else None
        drawn = draw_video_timelines(Path(args.report) / "timelines", worst, detections, gt, raw)
    return [
        VideoRow(vid, len(gt.videos[vid].labels), int(counts.get(vid, 0)), ap[vid],
                 drawn[vid].relative_to(args.report).as_posix() if vid in drawn else None)
        for vid in ranked
    ]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from wsal.eval.detection import detection_map
    from wsal.eval.io import load_class_list, load_predictions, predictions_form
    from wsal.annotations import load_ground_truth
    from wsal.eval.report import Run, format_table, protocol_description, run_names, summary_json, write_report
    from wsal.eval.thumos14_kit import thumos14_kit_map
    from wsal.outputs import check_writable, check_writable_folder, write_json_atomic

    if args.json:
        check_writable(args.json, "JSON summary")
    if args.report:
        check_writable_folder(args.report, "report")
    elif args.raw:
        raise WsalError("--raw adds curves to the timelines of --report DIR; give --report")
    if args.report_videos < 0:
        raise WsalError(f"--report-videos must be >= 0, got {args.report_videos}")
    if args.raw and not Path(args.raw).is_file():
        raise WsalError(f"{args.raw}: raw-output file not found")

    if args.protocol == "thumos14-kit" and (args.ignore_ambiguous or args.drop_unknown_videos):
        raise WsalError(
            "--ignore-ambiguous and --drop-unknown-videos belong to the activitynet protocol; "
            "the THUMOS-14 kit always applies its own Ambiguous rule and counts unknown videos as false positives"
        )

    full = load_ground_truth(args.ground_truth)
    subsets = full.subsets()
    if args.subset == "all":
        subset, gt = None, full
    elif args.subset is None:
        if len(subsets) > 1:
            raise WsalError(
                f"{args.ground_truth} has subsets {', '.join(subsets)}: choose one with --subset (or --subset all)"
            )
        subset, gt = (subsets[0] if subsets else None), full
    else:
        subset, gt = args.subset, full.subset(args.subset)
    thresholds, preset, why = _thresholds(args.tiou, len(full.classes))
    scope = None
    if args.videos and args.features:
        raise WsalError("--videos and --features both restrict the ground truth: give one")
    if args.videos:
        ids = _video_list(args.videos)
        gt = gt.restricted(ids, args.videos)
        scope = f"{len(gt.videos)} videos listed in {args.videos}"
    elif args.features:
        from wsal.features.store import FeatureStore

        with FeatureStore(args.features) as store:
            gt = gt.restricted(store.video_ids, args.features)
        scope = f"{len(gt.videos)} videos of {args.features}"

    kit_files = [path for path in args.predictions if predictions_form(path) == "thumos14"]
    if args.class_list and not kit_files:
        raise WsalError("--class-list gives the class ids of THUMOS-14 kit txt predictions; no --predictions file is one")
    class_list = load_class_list(args.class_list) if kit_files else None
    mismatch = class_list.official_mismatch() if class_list is not None else None
    if mismatch:
        print(f"wsal evaluate: warning: {mismatch}", file=sys.stderr)

    names = run_names(args.predictions)
    runs = []
    first_preds = None
    for name, path in zip(names, args.predictions):
        preds = load_predictions(path, class_list)
        if first_preds is None:  # (an empty Predictions is falsy: no `or` here)
            first_preds = preds
        if preds.num_reordered:
            print(
                f"wsal evaluate: warning: {path}: {preds.num_reordered} segments given as end < start were put in "
                "order (the THUMOS-14 kit's overlap orders both ends too)",
                file=sys.stderr,
            )
        if args.protocol == "thumos14-kit":
            result = thumos14_kit_map(gt, preds, thresholds)
        else:
            result = detection_map(
                gt, preds, thresholds, ignore_ambiguous=args.ignore_ambiguous, drop_unknown_videos=args.drop_unknown_videos
            )
        runs.append(Run(name=name, path=path, result=result, scope=scope))
        for warning in result.warnings():
            print(f"wsal evaluate: warning: {path}: {warning}", file=sys.stderr)

    first = runs[0].result
    print(
        f"ground truth: {args.ground_truth}, subset {subset or 'all'}: {len(gt.videos)} videos, "
        f"{len(first.classes)} classes, {first.num_ground_truth} segments" + (f" (restricted to {scope})" if scope else "")
    )
    print(f"protocol: {protocol_description(first)}")
    print(f"tIoU: {' '.join(f'{t:g}' for t in thresholds)}" + (f" (preset {preset}; {why})" if preset else ""))
    for r in runs:
        res = r.result
        print(f"{r.name}: {res.num_predictions} of {res.num_predictions_in_file} predictions evaluated"
              + (f", {res.num_unknown_video} on videos outside the ground truth" if res.num_unknown_video else "")
              + (f", {res.num_ambiguous_removed} on Ambiguous regions (removed where unmatched)"
                 if res.num_ambiguous_removed else ""))
    print(format_table(runs, preset))

    if args.json:
        summaries = [summary_json(r, subset, preset) for r in runs]
        write_json_atomic(summaries[0] if len(runs) == 1 else {"runs": summaries}, args.json)
        print(f"wrote {args.json}")
    if args.report:
        videos = _worst_videos(gt, first_preds, thresholds, args)
        written = write_report(args.report, runs, args.ground_truth, subset, preset, videos)
        print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
