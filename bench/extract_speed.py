"""Speed of feature extraction, stage by stage and end to end, on a generated video.

Prints frames/s and snippets/s for: decoding (+ resize/crop, at the target fps), optical flow per
method, I3D rgb and flow forward passes (random weights: speed does not depend on the values), and
the whole `wsal extract` pipeline (decode/flow workers overlapped with inference), with where the
pipeline's time goes (inference busy fraction; GPU memory and utilisation when on CUDA).

    python bench/extract_speed.py                       # CPU-friendly defaults
    python bench/extract_speed.py --device cuda --i3d-snippets 256 --batch-size 32 --e2e-seconds 60 --e2e-flow tvl1 --workers 8

What this script does not do: check feature values (tests do), or download anything.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wsal.features.decode import DecodeConfig, VideoDecoder
from wsal.features.extract import ExtractConfig, extract_store, find_videos
from wsal.features.flow import compute_flow, flow_to_i3d_input
from wsal.features.i3d import InceptionI3d, extract_clip_features
from research.synthetic_video import write_video


class TimedModel(torch.nn.Module):
    """Wraps a model and adds up the wall time of its ``features`` calls (synchronised on CUDA)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seconds = 0.0
        self.clips = 0

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        sync = torch.cuda.synchronize if clips.is_cuda else (lambda: None)
        sync()
        start = time.perf_counter()
        out = self.model.features(clips)
        sync()
        self.seconds += time.perf_counter() - start
        self.clips += len(clips)
        return out

    forward = features


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0, help="length of the generated video for the decode test")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--resize", type=int, default=256)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--flow-methods", nargs="+", default=["tvl1", "farneback", "dis"])
    p.add_argument("--flow-pairs", type=int, default=16, help="frame pairs timed per flow method")
    p.add_argument("--i3d-snippets", type=int, default=4, help="snippets timed per I3D stream")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp16", "fp32"])
    p.add_argument("--e2e-seconds", type=float, default=4.0, help="length of the end-to-end video (0 = skip)")
    p.add_argument("--e2e-flow", default="farneback", choices=["tvl1", "farneback", "dis", "none"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[args.precision]
    print(f"device {device}, torch threads {torch.get_num_threads()}, video {args.width}x{args.height} -> "
          f"short side {args.resize}, crop {args.crop}")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.mp4"
        write_video(video, round(args.seconds * 25), 25, size=(args.width, args.height))

        start = time.perf_counter()
        frames: list[np.ndarray] = []
        with VideoDecoder(video, DecodeConfig(resize_short=args.resize, crop=args.crop)) as decoder:
            for chunk in decoder.chunks():
                if sum(len(f) for f in frames) < args.flow_pairs + 17:
                    frames.append(chunk)
            n = decoder.result.num_frames
        seconds = time.perf_counter() - start
        print(f"decode+resize+crop: {n} frames in {seconds:.2f} s = {n / seconds:.0f} frames/s = {n / 16 / seconds:.1f} snippets/s")
        sample = np.concatenate(frames)[: args.flow_pairs + 1]

        for method in args.flow_methods:
            start = time.perf_counter()
            flow = compute_flow(sample, method)
            seconds = time.perf_counter() - start
            pairs = len(flow)
            print(f"flow {method}: {pairs} pairs in {seconds:.2f} s = {pairs / seconds:.1f} frames/s = {pairs / 16 / seconds:.2f} snippets/s")

        clips = {
            "rgb": torch.from_numpy(np.stack([sample[:16]] * args.i3d_snippets)).permute(0, 4, 1, 2, 3).float() / 127.5 - 1,
            "flow": torch.from_numpy(flow_to_i3d_input(np.stack([flow[:16]] * args.i3d_snippets))).permute(0, 4, 1, 2, 3),
        }
        for stream, channels in (("rgb", 3), ("flow", 2)):
            model = InceptionI3d(channels).eval()
            extract_clip_features(model, clips[stream][: args.batch_size], args.batch_size, device, dtype)  # warm-up
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            extract_clip_features(model, clips[stream], args.batch_size, device, dtype)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            print(f"i3d {stream} (batch {args.batch_size}, {args.precision if device != 'cpu' else 'fp32'}): "
                  f"{args.i3d_snippets} snippets in {seconds:.2f} s = {args.i3d_snippets / seconds:.2f} snippets/s")

        if args.e2e_seconds > 0:
            e2e_video = Path(tmp) / "e2e.mp4"
            write_video(e2e_video, round(args.e2e_seconds * 25), 25, size=(args.width, args.height))
            config = ExtractConfig(resize_short=args.resize, crop=args.crop, flow=args.e2e_flow, batch_size=args.batch_size,
                                   workers=args.workers, precision=args.precision)
            models = {s: TimedModel(InceptionI3d(3 if s == "rgb" else 2).eval()) for s in config.streams}
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            summary = extract_store(find_videos([e2e_video]), Path(tmp) / "bench.h5", config, models, device, "bench")
            busy = sum(m.seconds for m in models.values())
            print(f"end to end (flow {args.e2e_flow}, {args.workers} workers): {summary.snippets} snippets in "
                  f"{summary.seconds:.2f} s = {summary.snippets / summary.seconds:.2f} snippets/s "
                  f"= {summary.snippets * 16 / summary.seconds:.1f} frames/s")
            print(f"  inference busy {busy:.2f} s ({100 * busy / summary.seconds:.0f}% of wall time); "
                  f"the rest is waiting for decode/flow workers, start-up and storing")
            if device.startswith("cuda"):
                print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
                try:
                    print(f"  GPU utilisation now {torch.cuda.utilization()}%")
                except Exception as err:  # needs pynvml; the busy fraction above is the portable figure
                    print(f"  GPU utilisation: not available ({type(err).__name__})")


if __name__ == "__main__":
    main()
