"""`wsal annotations`: converts THUMOS-14 txt, ActivityNet JSON or W-TALC npy ground truth to one GT JSON.

Reading lives in :mod:`wsal.annotations`; this module parses options, reports what was read (and
every dropped segment) and writes the file atomically. It does not evaluate or touch features.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from wsal.errors import WsalError

if TYPE_CHECKING:
    from wsal.annotations import DroppedSegment

_FORMATS = ("thumos14", "activitynet", "wtalc")

_EPILOG = """\
formats:
  thumos14     SOURCE = folder holding the official annotations_val/ and/or annotations_test/
               (or one of them): <Class>_val.txt / <Class>_test.txt, lines 'video start end';
               Ambiguous_*.txt -> "ambiguous" regions; subsets "validation" / "test"
  activitynet  SOURCE = ActivityNet JSON {"database": {vid: {"subset", "duration", "annotations"}}}
               (v1.2, v1.3, or this command's own output), or a results-form file
               {"results": {vid: [...]}} together with --subset NAME
  wtalc        SOURCE = W-TALC annotation folder (videoname/subset/segments/labels .npy, optional
               duration, original_fps, classlist, url .npy, misc_fps.txt, Ambiguous_test.txt);
               ids = YouTube id from url.npy when present, else videoname.npy

Zero-length or reversed segments (end <= start) are dropped and reported in one warning.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "annotations",
        help="convert THUMOS-14 / ActivityNet / W-TALC ground truth to one GT JSON",
        description="Convert ground-truth annotations to the wsal GT JSON "
        '{"database": {vid: {"subset", "duration", "fps", "annotations": [{"segment", "label"}], "ambiguous"}}}.',
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="SOURCE", type=Path, help="annotation folder or file (see formats below)")
    parser.add_argument("--format", required=True, choices=_FORMATS, help="format of SOURCE")
    parser.add_argument("--out", required=True, type=Path, metavar="GT.json", help="ground-truth JSON to write")
    parser.add_argument(
        "--video-info",
        type=Path,
        metavar="INFO.json",
        help='{vid: {"fps": .., "duration": ..}} (e.g. TH14_video_info.json); fills / overrides fps and duration',
    )
    parser.add_argument(
        "--subset",
        metavar="NAME",
        help="activitynet only: subset for videos that have none (required for a results-form file)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from wsal import annotations
    from wsal.annotations import write_ground_truth

    if args.subset is not None and args.format != "activitynet":
        raise WsalError("--subset only applies to --format activitynet")
    result = annotations.read_annotations(args.format, args.source, subset=args.subset)
    if not result.videos:
        raise WsalError(f"{args.source}: no videos found")
    if args.video_info is not None:
        missing = annotations.apply_video_info(result, annotations.read_video_info(args.video_info))
        if missing:
            result.notes.append(
                f"{args.video_info}: no entry for {len(missing)} of {len(result.videos)} videos "
                f"(e.g. {missing[0]}); their fps/duration stay as read"
            )
    _report_dropped(result.dropped)
    late = result.after_the_end()
    if late:
        vid, start_s, duration_s = late[0]
        result.notes.append(
            f"{len(late)} segments in {len({v for v, _, _ in late})} videos start after their video ends "
            f"(e.g. {vid} at {start_s:g} s of {duration_s:g} s): kept as annotated (no detection can match them)"
        )
    for note in result.notes:
        print(f"wsal annotations: note: {note}", file=sys.stderr)
    try:
        write_ground_truth(result.to_database(), args.out)
    except OSError as err:
        raise WsalError(f"{args.out}: cannot write ({err.strerror or err})") from None
    parts = [f"{name} {videos} videos / {instances} instances" + (f" / {amb} ambiguous" if amb else "")
             for name, (videos, instances, amb) in result.subsets().items()]
    print(f"wrote {args.out}: {len(result.videos)} videos ({'; '.join(parts)})")
    return 0


def _report_dropped(dropped: Sequence[DroppedSegment]) -> None:
    """One warning line with the count and the first example; nothing when none were dropped."""
    if not dropped:
        return
    first = dropped[0]
    print(
        f"wsal annotations: warning: dropped {len(dropped)} zero-length or reversed segment(s) (end <= start), "
        f"e.g. video {first.video} {first.label!r} [{first.start_s}, {first.end_s}] ({first.where})",
        file=sys.stderr,
    )
