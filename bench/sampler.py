"""Benchmark of the coarse-to-fine sampler on generated "mostly background" videos.

Writes ``--videos`` H.264 videos (``--size``, 25 fps, ``--seconds`` long) with a static textured
background and a moving disc during bursts covering about ``--motion`` of the time (layout drawn
from ``--seed``), then prints:

1. the coarse pass: wall seconds per video and per video-minute (decode + signals + policy);
2. recall of the motion snippets (snippets sharing a frame with a burst) and kept share at
   several budgets, next to uniform subsampling at the same budget;
3. the fine pass, all snippets vs kept snippets, from *measured unit costs*: decoding at 224
   (timed over the whole video), optical flow per frame pair (``--flow``, timed on
   ``--flow-pairs`` pairs of the video at 224) and I3D per snippet and stream (timed on
   ``--i3d-clips`` clips, randomly initialised network: the cost does not depend on the weights).
   The projection is ``decode + pairs_needed * flow_pair + snippets * i3d_per_stream`` per stream
   run. The measured end-to-end comparison (``wsal extract`` with and without ``--sampler``, one
   run) is bench/extract_sampler.py.

With ``--oracle-gt GT.json`` it instead runs the policy on *oracle* scores (each snippet's overlap
with ground-truth action, i.e. a perfect coarse pass) over the test subset's timing (durations
from the GT, 25 fps, 16-frame snippets) and prints action-time and instance recall per budget,
for the default guards and without them: the best any coarse pass can do under the policy.

Run:  python bench/sampler.py [--videos 4 --seconds 60 --size 320x240 --flow tvl1 --device cpu]
      python bench/sampler.py --oracle-gt thumos14_official_gt.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def oracle_recall(gt_path: str, budgets: list[float]) -> None:
    """Policy recall on oracle scores over the test videos of ``gt_path`` (module docstring)."""
    from wsal.annotations import load_ground_truth
    from wsal.features.sampler import SamplerConfig, select_snippets
    from wsal.features.sampler_metrics import SamplerTotals, video_totals
    from wsal.features.snippets import num_snippets
    from wsal.timeline import SnippetGrid

    grid = SnippetGrid(25.0, 16, 16)
    gt = load_ground_truth(gt_path).subset("test")
    videos = [v for v in gt.videos.values() if v.duration_s]
    defaults = SamplerConfig()
    print(f"{gt_path}: {len(videos)} test videos with a duration; oracle scores = seconds of action per snippet")
    shares = []
    for video in videos:
        idx = np.arange(num_snippets(int(np.ceil(video.duration_s * grid.fps)), grid))
        touch = np.zeros(len(idx), bool)
        for start, end in video.segments_s:
            touch |= (grid.start_s(idx) < end) & (grid.end_s(idx) > start)
        shares.append(touch.mean())
    print(f"  share of a video's snippets touching action: mean {100 * np.mean(shares):.1f}%, "
          f"median {100 * np.median(shares):.1f}%, 90th percentile {100 * np.percentile(shares, 90):.1f}%")  # fmt: skip
    for d, k in ((defaults.neighbours, defaults.coverage_snippets), (0, 0)):
        totals = {b: SamplerTotals() for b in budgets}
        for video in videos:
            idx = np.arange(num_snippets(int(np.ceil(video.duration_s * grid.fps)), grid))
            scores = np.zeros(len(idx))
            for start, end in video.segments_s:
                scores += np.clip(np.minimum(grid.end_s(idx), end) - np.maximum(grid.start_s(idx), start), 0, None)
            for b in budgets:
                totals[b] += video_totals(select_snippets(scores, None, b, d, k), video.segments_s, grid)
        print(f"  neighbours {d}, coverage {k}:")
        for b, t in totals.items():
            print(f"    budget {b:.2f}: kept {100 * t.kept_share:5.1f}%  action time {100 * t.action_recall:5.1f}%  "
                  f"instances {100 * t.instance_recall:5.1f}%  boundaries {100 * t.boundary_recall:5.1f}%")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the generated videos")
    parser.add_argument("--motion", type=float, default=0.3, help="share of the time with motion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6])
    parser.add_argument("--flow", default="tvl1", choices=["tvl1", "farneback", "dis"])
    parser.add_argument("--flow-pairs", type=int, default=8, help="frame pairs timed for the flow cost")
    parser.add_argument("--i3d-clips", type=int, default=2, help="clips timed for the I3D cost")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV and torch threads for the fine-pass timings")
    parser.add_argument("--oracle-gt", default=None, metavar="GT.json", help="only the oracle-score analysis on this GT")
    args = parser.parse_args()
    if args.oracle_gt is not None:
        oracle_recall(args.oracle_gt, args.budgets)
        return

    import cv2
    import torch

    from research.synthetic_video import burst_layout, motion_snippets, write_burst_video
    from wsal.features.decode import DecodeConfig, VideoDecoder
    from wsal.features.flow import compute_flow
    from wsal.features.i3d import InceptionI3d, extract_clip_features
    from wsal.features.sampler import (
        SamplerConfig, coarse_signals, flow_fields_needed, max_kept, select_snippets, snippet_scores, spread,
    )  # fmt: skip
    from wsal.timeline import SnippetGrid

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    grid = SnippetGrid(25.0, 16, 16)
    config = SamplerConfig()
    rng = np.random.default_rng(args.seed)
    num_frames = int(round(args.seconds * 25))
    print(f"{args.videos} videos, {args.seconds:g} s, {width}x{height}, 25 fps, ~{100 * args.motion:.0f}% motion; "
          f"sampler {config}")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for v in range(args.videos):
            bursts = burst_layout(num_frames, args.motion, rng)
            path = Path(tmp) / f"video_{v}.mp4"
            write_burst_video(path, num_frames, bursts, size=(width, height), seed=args.seed * 100 + v)
            start = time.perf_counter()
            signals = coarse_signals(path, grid, config)
            scores = snippet_scores(signals, config)
            kept = select_snippets(scores, signals.cuts, config.budget, config.neighbours, config.coverage_snippets)
            coarse_s = time.perf_counter() - start
            moving = motion_snippets(bursts, np.arange(len(scores)) * grid.stride_frames, grid.clip_len_frames)
            rows.append((path, signals, scores, kept, moving, coarse_s))

        minutes = sum(r[1].duration_s for r in rows) / 60
        coarse_total = sum(r[5] for r in rows)
        print("\n1. coarse pass (frame_step 2, 64 px short side), wall time:")
        for path, signals, _, _, moving, coarse_s in rows:
            print(f"   {path.name}: {signals.duration_s:.1f} s video, {len(moving)} snippets, "
                  f"{100 * moving.mean():.0f}% with motion, coarse {coarse_s:.2f} s")  # fmt: skip
        print(f"   total {coarse_total:.2f} s for {minutes:.1f} video-minutes = {coarse_total / minutes:.2f} s per video-minute")

        print("\n2. motion-snippet recall (pooled over videos):")
        print("   budget  kept%  recall%  | uniform kept%  recall%")
        for budget in args.budgets:
            k_s = r_s = k_u = r_u = total = moving_total = 0
            for _, signals, scores, _, moving, _ in rows:
                kept = select_snippets(scores, signals.cuts, budget, config.neighbours, config.coverage_snippets)
                even = np.zeros(len(scores), bool)
                even[spread(0, len(scores), max_kept(len(scores), budget))] = True
                k_s, r_s = k_s + kept.sum(), r_s + (kept & moving).sum()
                k_u, r_u = k_u + even.sum(), r_u + (even & moving).sum()
                total, moving_total = total + len(scores), moving_total + moving.sum()
            print(f"   {budget:6.2f}  {100 * k_s / total:5.1f}  {100 * r_s / moving_total:7.1f}  |  "
                  f"{100 * k_u / total:12.1f}  {100 * r_u / moving_total:7.1f}")  # fmt: skip

        # 3. fine-pass unit costs on the first video
        path = rows[0][0]
        start = time.perf_counter()
        frames = []
        with VideoDecoder(path, DecodeConfig()) as decoder:
            for chunk in decoder.chunks():
                frames.append(chunk)
        decode_s = time.perf_counter() - start
        frames = np.concatenate(frames)  # (N, 224, 224, 3)
        first = max(0, len(frames) // 2 - args.flow_pairs // 2)
        start = time.perf_counter()
        compute_flow(frames[first : first + args.flow_pairs + 1], args.flow)
        flow_pair_s = (time.perf_counter() - start) / args.flow_pairs
        model = InceptionI3d(3).eval()
        clips = torch.zeros(args.i3d_clips, 3, 16, 224, 224)
        extract_clip_features(model, clips[:1], 1, args.device)  # warm-up
        start = time.perf_counter()
        extract_clip_features(model, clips, args.i3d_clips, args.device)
        i3d_s = (time.perf_counter() - start) / args.i3d_clips
        print(f"\n3. fine-pass unit costs ({args.threads} thread(s), {args.device}): decode at 224 "
              f"{decode_s / (len(frames) / 25 / 60):.1f} s per video-minute, {args.flow} flow {flow_pair_s:.3f} s per "
              f"frame pair, I3D {i3d_s:.3f} s per snippet per stream")  # fmt: skip
        all_s = kept_flow_s = kept_all_s = 0.0
        for _, signals, _, kept, _, _ in rows:
            n_frames, n_snippets = signals.num_frames, len(kept)
            decode = decode_s * n_frames / len(frames)
            pairs_all = n_frames - 1
            pairs_kept = int(flow_fields_needed(kept, grid, n_frames).sum())
            all_s += decode + pairs_all * flow_pair_s + 2 * n_snippets * i3d_s
            kept_flow_s += decode + pairs_kept * flow_pair_s + (n_snippets + kept.sum()) * i3d_s
            kept_all_s += decode + pairs_kept * flow_pair_s + 2 * kept.sum() * i3d_s
        coarse_per_min = coarse_total / minutes
        print(f"   projected fine pass per video-minute at budget {config.budget}:")
        print(f"     all snippets            {all_s / minutes:9.1f} s")
        print(f"     sampler, scope flow     {kept_flow_s / minutes + coarse_per_min:9.1f} s (incl. coarse {coarse_per_min:.2f} s)")
        print(f"     sampler, scope all      {kept_all_s / minutes + coarse_per_min:9.1f} s (incl. coarse {coarse_per_min:.2f} s)")
        print(f"   coarse pass / fine pass (all snippets): {100 * coarse_per_min / (all_s / minutes):.2f}%")


if __name__ == "__main__":
    main()
