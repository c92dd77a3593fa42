"""Torch TV-L1 (wsal.features.tvl1) against OpenCV's DualTVL1 on frame pairs with known motion.

For each case of :func:`research.motion_pairs.motion_pairs` at ``--size`` (translation, rotation,
a moving square on noise) prints: the mean end-point error against the true motion of OpenCV and
of the torch version (away from an 8 px border, and inside the square for the square), their
ratio, and the mean end-point difference between the two fields after I3D's +-20 px clip; then,
with ``--i3d-clips N`` (default 4), the cosine similarity of I3D flow features (random weights,
batch norm calibrated on the OpenCV clips: research.i3d_calibration) of N generated 16-pair
clips at 224x224 whose flow came from each implementation; then the time per pair of each (OpenCV on one thread and on every core through a process pool; torch on
``--device`` with ``--batch`` pairs per call). CPU timings of the torch version only say that it
runs; its purpose is the GPU.

Run:  python bench/tvl1_agreement.py [--size 240 320] [--device cpu|cuda] [--batch 16] [--repeat 1]
                                    [--i3d-clips 4]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np
import torch

from research.motion_pairs import motion_pairs
from wsal.features.flow import compute_flow_parallel, flow_executor, flow_to_i3d_input
from wsal.features.tvl1 import tvl1_flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=16, help="pairs per torch call in the timing (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="timed torch calls (default: %(default)s)")
    parser.add_argument("--i3d-clips", type=int, default=4, help="clips for the I3D feature comparison, 0: none (default: %(default)s)")
    args = parser.parse_args()
    h, w = args.size
    device = torch.device(args.device)
    cases = motion_pairs(h, w)
    border = np.zeros((h, w), dtype=bool)
    border[8:-8, 8:-8] = True
    print(f"| case ({h}x{w}) | EPE OpenCV (px) | EPE torch (px) | torch / OpenCV | mean difference after +-20 px clip (px) |")
    print("|---|---|---|---|---|")
    for name, a, b, truth, known in cases:
        ref = cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None)
        with torch.no_grad():
            ours = tvl1_flow(torch.from_numpy(a).float()[None].to(device), torch.from_numpy(b).float()[None].to(device))[0].cpu().numpy()
        where = border & known
        epe_ref = float(np.linalg.norm(ref - truth, axis=-1)[where].mean())
        epe_ours = float(np.linalg.norm(ours - truth, axis=-1)[where].mean())
        diff = float(np.linalg.norm((flow_to_i3d_input(ours) - flow_to_i3d_input(ref)) * 20.0, axis=-1).mean())
        print(f"| {name} | {epe_ref:.4f} | {epe_ours:.4f} | {epe_ours / max(epe_ref, 1e-9):.2f} | {diff:.4f} |")

    if args.i3d_clips:
        compare_i3d(args.i3d_clips, device)

    # timing: the translation pair repeated
    a, b = cases[0][1], cases[0][2]
    frames = np.stack([np.repeat(x[..., None], 3, axis=-1) for x in ([a, b] * (args.batch // 2 + 1))[: args.batch + 1]])
    tv = cv2.optflow.DualTVL1OpticalFlow_create()
    cv2.setNumThreads(1)
    start = time.perf_counter()
    tv.calc(a, b, None)
    one_thread_s = time.perf_counter() - start
    cores = os.cpu_count() or 1
    with flow_executor(cores) as pool:
        compute_flow_parallel(frames[:3], "tvl1", cores, pool)  # start the workers
        start = time.perf_counter()
        compute_flow_parallel(frames, "tvl1", cores, pool)
        pool_s = (time.perf_counter() - start) / args.batch
    prev = torch.from_numpy(np.stack([a, b] * (args.batch // 2))[: args.batch]).float().to(device)
    nxt = torch.from_numpy(np.stack([b, a] * (args.batch // 2))[: args.batch]).float().to(device)
    with torch.no_grad():
        tvl1_flow(prev[:1], nxt[:1])  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.repeat):
            tvl1_flow(prev, nxt)
        if device.type == "cuda":
            torch.cuda.synchronize()
        torch_s = (time.perf_counter() - start) / (args.repeat * args.batch)
    print(f"\nseconds per pair at {h}x{w}: OpenCV 1 thread {one_thread_s:.3f}, OpenCV {cores} processes {pool_s:.3f}, "
          f"torch on {device} (batch {args.batch}) {torch_s:.3f}; torch vs OpenCV on all cores: {pool_s / torch_s:.2f}x")  # fmt: skip


def _clip_frames(index: int, size: int = 224, pairs: int = 16) -> np.ndarray:
    """(pairs + 1, size, size) uint8: a texture drifting by a per-clip velocity, with a square
    moving the other way on it (different for every ``index``)."""
    rng = np.random.default_rng(100 + index)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (2 * size, 2 * size)).astype(np.float32), (0, 0), 2.5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    vx, vy = rng.uniform(-3, 3, 2)
    frames = []
    for t in range(pairs + 1):
        shift = np.float32([[1, 0, vx * t], [0, 1, vy * t]])
        moved = cv2.warpAffine(texture, shift, texture.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frame = moved[size // 2 : size // 2 + size, size // 2 : size // 2 + size].copy()
        x0 = int(size * 0.6 - 2 * vx * t)
        frame[80:130, max(0, x0) : max(0, x0 + 50)] = 230.0
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return np.stack(frames)


def compare_i3d(num_clips: int, device: torch.device) -> None:
    """Cosine similarity of random-weight I3D flow features of the same clips through both flows."""
    from research.i3d_calibration import calibrate_batch_norm
    from wsal.features.i3d import InceptionI3d, extract_clip_features

    tv = cv2.optflow.DualTVL1OpticalFlow_create()
    inputs = {"opencv": [], "torch": []}
    for index in range(num_clips):
        frames = _clip_frames(index)
        ref = np.stack([tv.calc(frames[i], frames[i + 1], None) for i in range(len(frames) - 1)])  # (16, H, W, 2)
        with torch.no_grad():
            grey = torch.from_numpy(frames).float().to(device)
            ours = tvl1_flow(grey[:-1], grey[1:]).cpu().numpy()
        for name, flow in (("opencv", ref), ("torch", ours)):
            inputs[name].append(flow_to_i3d_input(flow).transpose(3, 0, 1, 2))  # (2, 16, H, W)
    clips = {name: np.stack(value) for name, value in inputs.items()}  # (N, 2, 16, H, W)
    torch.manual_seed(0)
    model = InceptionI3d(2)
    calibrate_batch_norm(model, torch.from_numpy(clips["opencv"]), batch_size=2)
    feats = {name: extract_clip_features(model, value, batch_size=2, device="cpu") for name, value in clips.items()}
    cosine = (feats["opencv"] * feats["torch"]).sum(1) / (np.linalg.norm(feats["opencv"], axis=1) * np.linalg.norm(feats["torch"], axis=1))
    between = [float(np.dot(feats["opencv"][0], f) / (np.linalg.norm(feats["opencv"][0]) * np.linalg.norm(f))) for f in feats["opencv"][1:]]
    print(f"\nI3D flow features (random weights, calibrated batch norm), {num_clips} clips of 16 pairs at 224x224: "
          f"cosine(OpenCV flow, torch flow) per clip {' '.join(f'{c:.4f}' for c in cosine)}; "
          f"for scale, clip 0 against the other clips (OpenCV flow): {' '.join(f'{c:.4f}' for c in between)}")  # fmt: skip


if __name__ == "__main__":
    main()
