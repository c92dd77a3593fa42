"""`wsal extract`: videos -> I3D rgb (+ flow) snippet features in a feature store.

Parses the options, lists and shards the videos, loads the I3D checkpoints, picks the device and
hands over to :func:`wsal.features.extract.extract_store` (which documents the pipeline, the
snippet grid and the tail policy). Sharding: ``--shard I/N`` takes every N-th video of the sorted
list from the I-th; under ``torchrun`` (RANK and WORLD_SIZE set, no ``--shard``) the rank and world
size are used, and LOCAL_RANK picks the CUDA device. ``{rank}`` in ``--out`` becomes the shard index.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from wsal.errors import WsalError
from wsal.outputs import check_writable

if TYPE_CHECKING:  # torch and the extraction pipeline load only when a command runs
    from wsal.features.extract import ExtractConfig, ExtractSummary, VideoTask



def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from wsal.features.extract import ExtractConfig as d  # light module; class attributes are the defaults

    parser = subparsers.add_parser(
        "extract",
        help="videos -> I3D snippet features (HDF5 store)",
        description=(
            "Decode videos at --fps by timestamps, resize the shorter side to --resize and centre-crop --crop, "
            "cut --snippet-frames snippets (the last partial one is kept when it has at least half a clip, "
            "padded by repeating its last frame), compute optical flow, and store I3D features "
            "(rgb 1024 then flow 1024 per snippet). Decoding and flow run in --workers processes, overlapped "
            "with inference. Re-running the same command resumes: finished videos are skipped; videos that "
            "failed to decode are listed in the store and retried."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR", help="video files, or folders searched recursively")
    parser.add_argument("--out", required=True, help="output store; '{rank}' is replaced by the shard index")
    add_extraction_options(parser)
    parser.add_argument("--shard", help="I/N: process every N-th video of the sorted list starting at I (default: RANK/WORLD_SIZE under torchrun, else all)")
    parser.add_argument("--fps", type=float, default=d.fps, help="frame rate the video is resampled to (default: %(default)s)")
    parser.add_argument("--snippet-frames", type=int, default=d.snippet_frames, help="frames per snippet (default: %(default)s)")
    parser.add_argument("--stride-frames", type=int, default=d.stride_frames, help="frames between snippet starts; 0 = --snippet-frames (default: %(default)s)")
    return parser


def add_extraction_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape extraction other than the snippet grid (shared with `wsal run`,
    which takes the grid from its checkpoint)."""
    from wsal.features.extract import ExtractConfig as d

    parser.add_argument("--rgb-weights", required=True, help="I3D RGB checkpoint (pytorch-i3d state_dict, e.g. rgb_imagenet.pt)")
    parser.add_argument("--flow-weights", help="I3D flow checkpoint (e.g. flow_imagenet.pt); required unless --flow none")
    parser.add_argument("--flow", default=d.flow, choices=["tvl1", "farneback", "dis", "none"], help="optical flow method; none = rgb stream only (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument(
        "--flow-device", default="auto", choices=["auto", "opencv", "cpu", "cuda"],
        help="where TV-L1 runs: opencv (OpenCV on the CPU), cuda or cpu (wsal's torch TV-L1 there, in each decode "
        "worker; cpu is slow, for checks); auto = cuda when --device is CUDA and --flow is tvl1, else opencv "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=d.workers, help="decode/flow worker processes; 0 = in the main process (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="snippets per I3D forward pass (default: %(default)s)")
    parser.add_argument("--resize", type=int, default=d.resize_short, help="shorter side after resizing, pixels (default: %(default)s)")
    parser.add_argument("--crop", type=int, default=d.crop, help="centre crop, pixels (default: %(default)s)")
    parser.add_argument(
        "--sampler",
        default=d.sampler,
        choices=["none", "motion", "learned"],
        help="motion: a cheap coarse pass picks the snippets that get the fine pass (flow + I3D; docs/sampler.md); "
        "learned: the same with a skim model from `wsal sampler-fit` (--sampler-model); the store "
        "records the choice in 'kept' (default: %(default)s)",
    )
    parser.add_argument("--sampler-model", default=d.sampler_model, metavar="M.pt", help="learned sampler: skim model file from `wsal sampler-fit`")
    parser.add_argument("--budget", type=float, default=d.budget, help="sampler: largest share of each video's snippets that get the fine pass (default: %(default)s)")
    parser.add_argument(
        "--sampler-scope",
        default=d.sampler_scope,
        choices=["flow", "all"],
        help="flow: skipped snippets get the zero-flow feature, rgb is computed for all; all: skipped snippets also "
        "take the rgb feature of the nearest kept snippet (default: %(default)s)",
    )
    parser.add_argument(
        "--seek-min-s",
        type=float,
        default=d.seek_min_s,
        metavar="S",
        help="with --sampler-scope all: the decoder skips frames no kept snippet uses: it seeks to the keyframe "
        "before the next needed frame when that skips at least S seconds of video, and stops after the last needed "
        "frame; features are the same as without seeking; 0 = decode every frame (default: %(default)s)",
    )
    parser.add_argument("--precision", default=d.precision, choices=["bf16", "fp16", "fp32"], help="autocast dtype on CUDA; CPU always runs fp32 (default: %(default)s)")


def resolve_shard(shard: str | None, env: dict[str, str]) -> tuple[int, int]:
    """``--shard`` if given, else RANK/WORLD_SIZE from the environment (torchrun), else (0, 1)."""
    from wsal.features.extract import parse_shard

    if shard is not None:
        return parse_shard(shard)
    if "RANK" in env and "WORLD_SIZE" in env:
        return parse_shard(f"{env['RANK']}/{env['WORLD_SIZE']}")
    return 0, 1


def run(args: argparse.Namespace) -> int:
    from wsal.devices import resolve_device
    from wsal.features.extract import find_videos, select_shard

    env = dict(os.environ)
    device = str(resolve_device(args.device, env))  # once: the flow device follows it (resolve_flow_device)
    config = extract_config(args, device, fps=args.fps, snippet_frames=args.snippet_frames, stride_frames=args.stride_frames)
    index, count = resolve_shard(args.shard, env)
    if count > 1 and args.shard is None and "{rank}" not in args.out:
        raise WsalError(f"--out {args.out}: with {count} torchrun ranks the path must contain {{rank}} (e.g. part-{{rank}}.h5)")
    out = check_writable(args.out.replace("{rank}", str(index)), "feature store")
    rgb_weights, flow_weights = check_weights(args, config)
    videos = select_shard(find_videos(args.inputs), index, count)
    desc = f"extract {index}/{count}" if count > 1 else "extract"
    summary = extract_videos(videos, out, config, rgb_weights, flow_weights, device, desc, "extract")
    if summary.failed and not summary.done and not summary.skipped:
        raise WsalError(f"{out}: every one of the {len(summary.failed)} videos failed (reasons in the store's failure list)")
    return 0


def resolve_flow_device(flow_device: str, flow: str, device: str) -> str:
    """``--flow-device`` as ExtractConfig.flow_device, ``device`` the extraction's device as
    wsal.devices.resolve_device gave it. "auto": that device when it is a GPU and the flow is
    TV-L1, else "opencv"; "cuda": the extraction's GPU when it runs on one (flow and I3D on the same
    card), else the first GPU, refused in one line when there is none."""
    import torch

    if flow_device in ("opencv", "cpu"):
        return flow_device
    extraction = torch.device(device)
    if flow_device == "auto":
        return str(extraction) if flow == "tvl1" and extraction.type == "cuda" else "opencv"
    if extraction.type == "cuda":
        return str(extraction)
    if not torch.cuda.is_available():
        raise WsalError("--flow-device cuda: CUDA is not available on this machine (use --flow-device opencv or auto)")
    return "cuda"


def extract_config(args: argparse.Namespace, device: str, *, fps: float, snippet_frames: int, stride_frames: int) -> ExtractConfig:
    """The :class:`ExtractConfig` of the options of :func:`add_extraction_options` and a grid;
    ``device``: the extraction's device, already resolved (wsal.devices.resolve_device)."""
    from wsal.features.extract import ExtractConfig

    return ExtractConfig(
        fps=fps,
        snippet_frames=snippet_frames,
        stride_frames=stride_frames,
        resize_short=args.resize,
        crop=args.crop,
        flow=args.flow,
        flow_device=resolve_flow_device(args.flow_device, args.flow, device),
        batch_size=args.batch_size,
        workers=args.workers,
        precision=args.precision,
        sampler=args.sampler,
        budget=args.budget,
        sampler_scope=args.sampler_scope,
        sampler_model=args.sampler_model,
        seek_min_s=args.seek_min_s,
    )


def check_weights(args: argparse.Namespace, config: ExtractConfig) -> tuple[Path, Path | None]:
    """The I3D checkpoints the config needs (rgb, and flow unless flow is "none"), checked to exist."""
    rgb_weights = Path(args.rgb_weights)
    flow_weights = Path(args.flow_weights) if args.flow_weights else None
    if config.flow == "none":
        flow_weights = None
    elif flow_weights is None:
        raise WsalError(f"--flow {config.flow} needs --flow-weights (or pass --flow none for rgb features only)")
    for weights in (rgb_weights, flow_weights):
        if weights is not None and not weights.is_file():
            raise WsalError(f"I3D weights file not found: {weights}")
    return rgb_weights, flow_weights


def extract_videos(
    videos: list[VideoTask],
    out: Path,
    config: ExtractConfig,
    rgb_weights: Path,
    flow_weights: Path | None,
    device: str,
    desc: str,
    command: str,
) -> ExtractSummary:
    """Extract ``videos`` into the store ``out`` (resuming it; refused when it was made with other
    settings, before the models load) and print the summary line and the first failures."""
    from wsal.features.extract import backbone_note, extract_store
    from wsal.features.i3d import load_i3d
    from wsal.features.store import FeatureStore

    backbone = backbone_note(config, rgb_weights, flow_weights)
    if out.exists():  # fail before loading the models when the store was made with other settings
        with FeatureStore(out) as existing:
            existing.meta.check_same(config.store_meta(backbone), str(out))
    models = {"rgb": load_i3d(rgb_weights, in_channels=3)}
    if flow_weights is not None:
        models["flow"] = load_i3d(flow_weights, in_channels=2)
    summary = extract_store(videos, out, config, models, device, backbone, desc)
    rate = summary.snippets / summary.seconds if summary.seconds > 0 else 0.0
    print(
        f"{out}: {len(summary.done)} extracted, {len(summary.skipped)} skipped (already done), "
        f"{len(summary.failed)} failed (reasons in the store's failure list); {summary.stored} videos in the store; "
        f"{summary.snippets} snippets in {summary.seconds:.1f} s ({rate:.1f} snippets/s) on {device}"
    )
    for vid, reason in list(summary.failed.items())[:3]:
        print(f"wsal {command}: failed: {vid}: {reason}", file=sys.stderr)
    return summary
