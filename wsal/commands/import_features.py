"""`wsal import-features`: community I3D feature files (BaS-Net, ACM-Net, W-TALC) -> a wsal store.

Parses the options and prints the outcome; the work is :func:`wsal.features.importers.import_features`.
Prints one summary line on stdout and, with ``--skip-bad``, the skipped bad videos on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wsal.outputs import check_writable

_DEFAULTS_NOTE = "The snippet grid is not stored in these files: give the one the features were extracted on."


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from wsal.features.importers import LAYOUTS, ImportOptions

    defaults = ImportOptions(layout=LAYOUTS[0])
    parser = subparsers.add_parser(
        "import-features",
        help="convert BaS-Net / ACM-Net / W-TALC I3D feature files into a wsal feature store",
        description=(
            "Convert community I3D features into a wsal HDF5 feature store (rgb columns, then flow). "
            "basnet: SOURCE/{train,test}/{rgb,flow}/<video>.npy; acmnet: SOURCE/{train,test}/<video>.npy; "
            "wtalc: SOURCE is the joint features .npy, aligned with videoname.npy. "
            "All videos not yet in the store are checked first; a bad one stops the run before anything "
            "is written unless --skip-bad. Re-running adds only new videos. " + _DEFAULTS_NOTE
        ),
    )
    parser.add_argument("--layout", required=True, choices=LAYOUTS, help="how SOURCE is organised")
    parser.add_argument("source", metavar="SOURCE", type=Path, help="feature folder (basnet, acmnet) or joint .npy file (wtalc)")
    parser.add_argument("--out", required=True, type=Path, metavar="STORE.h5", help="store to create or extend")
    parser.add_argument(
        "--fps", type=float, default=defaults.fps,
        help=f"frame rate the snippets were cut at (default: {defaults.fps:g}; also right for W-TALC I3D features)",
    )
    parser.add_argument(
        "--snippet-frames", type=int, default=defaults.snippet_frames, metavar="N",
        help=f"frames per snippet, = stride (default: {defaults.snippet_frames})",
    )
    parser.add_argument(
        "--annotations-dir", type=Path, default=defaults.annotations_dir, metavar="DIR",
        help="wtalc only: folder holding videoname.npy (default: the folder of SOURCE)",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", default=defaults.skip_bad,
        help="skip bad videos, record them as store failures and list them on stderr",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from wsal.features.importers import ImportOptions, import_features

    options = ImportOptions(
        layout=args.layout,
        fps=args.fps,
        snippet_frames=args.snippet_frames,
        skip_bad=args.skip_bad,
        annotations_dir=args.annotations_dir,
    )
    check_writable(args.out, "feature store")
    summary = import_features(args.source, args.out, options)
    for reason in summary.bad.values():
        print(f"wsal import-features: skipped bad video: {reason}", file=sys.stderr)
    print(summary.line())
    return 0
