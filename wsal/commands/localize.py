"""`wsal localize`: a trained checkpoint + feature store -> detections JSON (ActivityNet results form).

Two ways in:

* network: ``--checkpoint RUN/model.pt --features STORE.h5 --annotations GT.json [--subset test]``
  runs every video of the ground-truth subset through the model (whole video at once; resampled
  to ``data.num_snippets`` first when the run trained with ``data.sampling = "interpolate"``),
  then post-processes with :func:`wsal.localize.localize_video` (all in :mod:`wsal.inference`). ``--save-raw RAW.h5`` also keeps
  the network outputs (wsal.raw).
* ``--from-raw RAW.h5`` re-runs only the post-processing on saved outputs: no checkpoint,
  features or annotations needed, and the result equals the direct run for the same settings.

``--format thumos14`` writes the THUMOS-14 kit's detection txt instead of JSON, with the class ids
of ``--class-list`` (default: the kit's own list; :mod:`wsal.eval.io`).

``--set localize.KEY=VALUE`` changes post-processing settings (only the ``localize`` section:
the network's settings are fixed by its checkpoint). Defaults come from the checkpoint's (or the
raw file's) resolved config.

Checked before any video is processed: store feature_dim, fps, clip and stride against the
checkpoint; every video of the subset having features (else an error naming how many and one
example; ``--skip-missing`` localizes the others and lists the missing ones on stderr).

What this module does not do: inference itself (:mod:`wsal.inference`), training, evaluation
(``wsal evaluate`` reads the JSON it writes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from wsal.config import LocalizeConfig
from wsal.errors import WsalError

if TYPE_CHECKING:
    from wsal.eval.io import KitClassList

_DEFAULTS = LocalizeConfig()


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "localize",
        help="checkpoint + features -> detections JSON (segments in seconds)",
        description=(
            "Localize actions with a trained checkpoint, or re-run post-processing on saved raw outputs "
            "(--from-raw). Writes ActivityNet-form results: {\"results\": {video: [{segment, label, score}]}}."
        ),
    )
    parser.add_argument("--checkpoint", metavar="RUN/model.pt", help="checkpoint written by `wsal train`")
    parser.add_argument("--features", metavar="STORE.h5", help="feature store holding the subset's videos")
    parser.add_argument(
        "--annotations", metavar="GT.json",
        help="ground truth: which videos, and their durations (with --from-raw: only the ground-truth rows of --timelines)",
    )
    parser.add_argument(
        "--subset", default=None, help="ground-truth subset to localize (default: the checkpoint's data.test_subset)"
    )
    parser.add_argument("--out", required=True, metavar="PRED.json", help="detections file to write")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="localize.KEY=VALUE",
        help=(
            "post-processing override, repeatable, e.g. localize.nms=hard; unset keys keep the values in the "
            "checkpoint's (or raw file's) config, whose defaults are "
            f"boundaries={_DEFAULTS.boundaries}, class_threshold={_DEFAULTS.class_threshold}, "
            f"signal={_DEFAULTS.signal}, nms={_DEFAULTS.nms}, nms_iou={_DEFAULTS.nms_iou}, "
            f"max_per_video={_DEFAULTS.max_per_video}; boundaries=changepoint needs a checkpoint trained with "
            f"changepoint.enabled=true (cp_attention={list(_DEFAULTS.cp_attention)}, cp_merge={_DEFAULTS.cp_merge})"
        ),
    )
    raw = parser.add_mutually_exclusive_group()
    raw.add_argument("--save-raw", metavar="RAW.h5", help="also save CAS, attention, video scores and (when the model has a change-point detector) change scores per video")
    raw.add_argument("--from-raw", metavar="RAW.h5", help="post-process saved outputs only (no network)")
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="localize the subset's videos that have features and list the others on stderr (default: error)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument(
        "--timelines", metavar="DIR",
        help="also draw one timeline PNG per video into DIR: ground truth, detections, attention and CAS on one time axis",
    )
    parser.add_argument(
        "--format",
        choices=("json", "thumos14"),
        default="json",
        help="json: ActivityNet results form (default); thumos14: the THUMOS-14 evaluation kit's detection txt, "
        "one line 'video_name start_s end_s class_id score' per detection (--out not *.json)",
    )
    parser.add_argument(
        "--class-list",
        metavar="FILE",
        help="with --format thumos14: 'ID NAME' lines giving every class of the model its kit id (default: the "
        "kit's own list, UCF-101 ids 7 BaseballPitch ... 97 VolleyballSpiking; docs/evaluation.md)",
    )
    return parser


def _kit_classes(args: argparse.Namespace) -> KitClassList | None:
    """The class ids to write with (None: JSON); refuses a kit txt named *.json, which `wsal
    evaluate` would read as JSON."""
    from wsal.eval.io import load_class_list

    if args.format == "thumos14" and Path(args.out).suffix.lower() == ".json":
        raise WsalError(f"{args.out}: --format thumos14 writes the kit's txt; name it *.txt (a *.json file is read as JSON)")
    if args.format == "json":
        if args.class_list:
            raise WsalError("--class-list gives the kit's class ids of --format thumos14")
        return None
    kit_classes = load_class_list(args.class_list)
    mismatch = kit_classes.official_mismatch()
    if mismatch:
        print(f"wsal localize: warning: {mismatch}", file=sys.stderr)
    return kit_classes


def run(args: argparse.Namespace) -> int:
    from wsal.inference import localize_from_network, localize_from_raw
    from wsal.outputs import check_writable, check_writable_folder

    kit_classes = _kit_classes(args)
    check_writable(args.out, "detections")  # before any inference
    if args.save_raw:
        check_writable(args.save_raw, "raw outputs")
    timelines = Path(args.timelines) if args.timelines else None
    if timelines is not None:
        check_writable_folder(timelines, "timelines")
    if args.from_raw:
        stray = [name for name in ("checkpoint", "features", "subset") if getattr(args, name)]
        if args.annotations and timelines is None:
            stray.append("annotations")
        if stray:
            raise WsalError(f"--from-raw re-uses saved outputs (videos, subset and all); drop --{stray[0]}")
        gt = None
        if args.annotations:
            from wsal.annotations import load_ground_truth

            gt = load_ground_truth(args.annotations)
        summary = localize_from_raw(Path(args.from_raw), Path(args.out), args.overrides, kit_classes, timelines, gt)
    else:
        missing = [name for name in ("checkpoint", "features", "annotations") if not getattr(args, name)]
        if missing:
            raise WsalError(f"--{missing[0]} is required (or use --from-raw RAW.h5)")
        summary = localize_from_network(
            checkpoint=Path(args.checkpoint),
            features=Path(args.features),
            annotations=Path(args.annotations),
            subset=args.subset,
            out=Path(args.out),
            overrides=args.overrides,
            save_raw=Path(args.save_raw) if args.save_raw else None,
            skip_missing=args.skip_missing,
            device=args.device,
            kit_classes=kit_classes,
            timelines=timelines,
        )
    print(summary.line())
    return 0
