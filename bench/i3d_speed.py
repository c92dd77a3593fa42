"""Times I3D clip feature extraction (wsal.features.i3d) with random weights: clips per second.

Random weights cost the same as trained ones. Prints wall-clock and process CPU time (the CPU
figure is the steadier one on a busy machine). One-core figure:
``taskset -c 0 python bench/i3d_speed.py --threads 1``; on a GPU: ``--device cuda`` (bf16 autocast
by default, ``--float32`` to turn it off).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from wsal.features.i3d import InceptionI3d, extract_clip_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12, help="clips timed (after one warm-up batch)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=224, help="crop height = width in pixels")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--channels", type=int, default=3, help="3 = RGB, 2 = flow")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--float32", action="store_true", help="no bf16 autocast on CUDA")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = InceptionI3d(args.channels).eval()
    rng = np.random.default_rng(0)
    clips = rng.random((args.clips, args.channels, args.frames, args.size, args.size), dtype=np.float32) * 2 - 1
    dtype = None if args.float32 else torch.bfloat16
    extract_clip_features(model, clips[: args.batch_size], args.batch_size, args.device, dtype)  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    extract_clip_features(model, clips, args.batch_size, args.device, dtype)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    precision = "bf16 autocast" if args.device.startswith("cuda") and dtype else "float32"
    print(
        f"I3D {args.channels}x{args.frames}x{args.size}x{args.size}, batch {args.batch_size}, {args.device}, "
        f"{precision}, torch threads {torch.get_num_threads()}: {args.clips / wall:.2f} clips/s wall, "
        f"{cpu / args.clips:.2f} CPU s/clip"
    )


if __name__ == "__main__":
    main()
