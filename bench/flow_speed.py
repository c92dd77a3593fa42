"""Times optical flow (wsal.features.flow) per method on synthetic 224x224 frames: flow frames/s.

Frames: a smooth random texture drifting (2, 1) px per frame plus +-3 grey-level noise; the
median recovered flow is printed as a sanity check (expected -2.00, -1.00: the crop window moves
right/down, so the content moves left/up). Prints wall-clock and process CPU time per pair.
One-core figures: ``taskset -c 0 python bench/flow_speed.py`` (OpenCV runs with 1 thread here).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from wsal.features.flow import FLOW_METHODS, compute_flow


def drifting_frames(num: int, size: int, rng: np.random.Generator) -> np.ndarray:
    margin = 2 * num + 8
    big = cv2.GaussianBlur(rng.random((size + margin, size + margin)).astype(np.float32), (0, 0), 2.0)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    frames = np.stack([big[k : k + size, 2 * k : 2 * k + size] for k in range(num)]).astype(np.int16)
    frames = np.clip(frames + rng.integers(-3, 4, frames.shape), 0, 255).astype(np.uint8)
    return np.repeat(frames[..., None], 3, axis=-1)  # (num, size, size, 3) RGB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32, help="flow fields per method (tvl1 gets at most 8)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--methods", nargs="+", default=list(FLOW_METHODS), choices=FLOW_METHODS)
    args = parser.parse_args()
    frames = drifting_frames(args.pairs + 1, args.size, np.random.default_rng(0))
    for method in args.methods:
        pairs = min(args.pairs, 8) if method == "tvl1" else args.pairs  # TV-L1 takes ~1 s per pair
        wall, cpu = time.perf_counter(), time.process_time()
        flow = compute_flow(frames[: pairs + 1], method, threads=1)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{method:9s} {args.size}x{args.size}, 1 OpenCV thread, {pairs} pairs: {pairs / wall:7.1f} frames/s wall, "
            f"{1000 * cpu / pairs:7.1f} CPU ms/pair; median flow "
            f"{np.median(flow[..., 0]):.2f}, {np.median(flow[..., 1]):.2f}"
        )


if __name__ == "__main__":
    main()
