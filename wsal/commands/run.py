"""`wsal run`: one's own videos -> detections and a page to watch them, in one command.

Steps, all into ``--out DIR``:

1. extract I3D features into ``DIR/features.h5`` with the snippet grid the checkpoint was trained
   on (fps, clip, stride, streams come from the checkpoint; decoding, flow, sampler and device
   options are those of ``wsal extract``). Resumable: re-running skips finished videos.
2. localize with the checkpoint, and write what :mod:`wsal.pipeline` lists: ``detections.json``,
   ``detections.csv``, ``raw.h5``, ``timelines/<video>.png`` and ``index.html``.

The checkpoint is read and its layout checked against the extraction settings before any video
is decoded, so a mismatch costs nothing. The folder is locked while the command runs.

What this module does not do: training or evaluation (no ground truth is involved).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from wsal.errors import WsalError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from wsal.commands.extract import add_extraction_options

    parser = subparsers.add_parser(
        "run",
        help="videos -> features -> detections, timelines and a page to watch them (DIR/index.html)",
        description=(
            "Extract features of one's own videos with the checkpoint's snippet grid (into DIR/features.h5; "
            "re-running resumes), localize actions, and write DIR/detections.json (ActivityNet form), "
            "DIR/detections.csv (video, class, start_s, end_s, score), DIR/raw.h5, DIR/timelines/<video>.png "
            "and DIR/index.html: each video playable above its detections; clicking one seeks the video. "
            "The page links the videos by relative path: keep DIR where it is relative to them."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR", help="video files, or folders searched recursively")
    parser.add_argument("--checkpoint", required=True, metavar="RUN/model.pt", help="checkpoint written by `wsal train`")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created; re-use it to resume)")
    add_extraction_options(parser)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="localize.KEY=VALUE",
        help="post-processing override, repeatable, as in `wsal localize` (e.g. localize.class_threshold=0.2)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from wsal.commands.extract import check_weights, extract_config, extract_videos
    from wsal.devices import resolve_device
    from wsal.features.extract import backbone_note, find_videos
    from wsal.features.store import StoreMeta
    from wsal.inference import check_store_matches, load_for_inference
    from wsal.locks import folder_lock
    from wsal.outputs import check_writable_folder
    from wsal.pipeline import publish_detections

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise WsalError(f"{checkpoint}: checkpoint file not found")
    out = check_writable_folder(args.out, "run output")
    videos = find_videos(args.inputs)
    device = str(resolve_device(args.device, os.environ))
    loaded, config, torch_device = load_for_inference(checkpoint, args.overrides, device)
    trained = StoreMeta.from_attrs(loaded.store_meta, f"{checkpoint}: store_meta")
    if "flow" not in trained.streams and args.flow != "none":
        args.flow = "none"  # the model reads rgb features only: computing flow would be wasted
        print("wsal run: the checkpoint was trained on rgb features only; no flow is computed", file=sys.stderr)
    if "flow" in trained.streams and args.flow == "none":
        raise WsalError(f"{checkpoint}: the model reads rgb and flow features: choose a --flow method and --flow-weights")
    extraction = extract_config(
        args, device, fps=trained.fps, snippet_frames=trained.clip_len_frames, stride_frames=trained.stride_frames
    )
    rgb_weights, flow_weights = check_weights(args, extraction)
    layout = extraction.store_meta(backbone_note(extraction, rgb_weights, flow_weights))
    check_store_matches(layout, loaded.store_meta, out / "features.h5", checkpoint, "run", warn_backbone=False)

    with folder_lock(out, "run output folder"):
        start = time.perf_counter()
        store = out / "features.h5"
        summary = extract_videos(videos, store, extraction, rgb_weights, flow_weights, device, "extract", "run")
        extract_s = time.perf_counter() - start
        failed = set(summary.failed)
        published = publish_detections(
            loaded, config, store, {v.video_id: v.path for v in videos if v.video_id not in failed}, out, torch_device,
            checkpoint,
        )
    print(
        f"{published.page}: {published.num_videos} videos, {published.num_detections} detections "
        f"(extraction {extract_s:.1f} s, network {published.network_s:.1f} s, post-processing {published.post_s:.1f} s); "
        f"also {published.detections.name}, {published.csv.name}, timelines/"
    )
    if failed:
        print(f"wsal run: {len(failed)} videos failed to extract and are not on the page (e.g. {sorted(failed)[0]})", file=sys.stderr)
    return 0
