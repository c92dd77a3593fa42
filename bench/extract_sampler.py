"""End-to-end extraction wall time with and without the coarse-to-fine sampler, in one run.

Writes ``--videos`` generated "mostly background" videos (``--size``, 25 fps, ``--seconds`` long,
a moving disc during random bursts covering about ``--motion`` of the time, static textured
background otherwise; :func:`wsal.features.synthetic_video.write_burst_video`) and saves
randomly initialised I3D checkpoints in the pytorch-i3d layout (the cost does not depend on the
weights). Then it runs the real pipeline, :func:`wsal.features.extract.extract_store` with the
models :func:`wsal.features.i3d.load_i3d` loads (what ``wsal extract`` runs), into a fresh store
each time:

* ``none``: no sampler (every snippet gets flow and both I3D streams);
* ``flow``: ``--sampler motion --budget B --sampler-scope flow``;
* ``all``: ``--sampler motion --budget B --sampler-scope all``.

The runs are repeated ``--repeats`` times in the order none, flow, all, then all, flow, none, ...
(so a drift in machine load hits every setting alike) and the wall time of each setting is the
median over its runs. For each sampler scope it prints the wall time, the ratio to ``none``, the
kept share (over all snippets), whether the budget held for every video (kept <= max(1,
floor(B * T))) and the recall of motion snippets (snippets sharing a frame with a burst) in the
store's ``kept`` masks.

Run:  python bench/extract_sampler.py [--videos 2 --seconds 30 --size 320x240 --resize 128 --crop 112
                                       --flow tvl1 --workers 2 --budget 0.5 --repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the generated videos")
    parser.add_argument("--motion", type=float, default=0.3, help="share of the time with motion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0, help="sensor-noise std of the generated frames, grey levels (0 = bit-identical static frames)")
    parser.add_argument("--resize", type=int, default=128, help="shorter side after resizing (extract --resize)")
    parser.add_argument("--crop", type=int, default=112, help="centre crop (extract --crop)")
    parser.add_argument("--flow", default="tvl1", choices=["tvl1", "farneback", "dis"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting (median wall time)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from wsal.features.extract import ExtractConfig, extract_store, find_videos
    from wsal.features.i3d import InceptionI3d, load_i3d
    from wsal.features.sampler import max_kept
    from wsal.features.store import FeatureStore
    from wsal.features.synthetic_video import burst_layout, motion_snippets, write_burst_video

    width, height = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(args.seed)
    num_frames = int(round(args.seconds * 25))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bursts = {}
        for v in range(args.videos):
            bursts[f"video_{v}"] = burst_layout(num_frames, args.motion, rng)
            write_burst_video(tmp / f"video_{v}.mp4", num_frames, bursts[f"video_{v}"], size=(width, height),
                              seed=args.seed * 100 + v, noise_std=args.noise)  # fmt: skip
        torch.manual_seed(args.seed)
        weights = {"rgb": tmp / "rgb.pt", "flow": tmp / "flow.pt"}
        torch.save(InceptionI3d(3).state_dict(), weights["rgb"])
        torch.save(InceptionI3d(2).state_dict(), weights["flow"])
        models = {"rgb": load_i3d(weights["rgb"], in_channels=3), "flow": load_i3d(weights["flow"], in_channels=2)}
        videos = find_videos([tmp])
        base = dict(resize_short=args.resize, crop=args.crop, flow=args.flow, workers=args.workers, batch_size=args.batch_size)
        configs = {
            "none": ExtractConfig(**base),
            "flow": ExtractConfig(sampler="motion", budget=args.budget, sampler_scope="flow", **base),
            "all": ExtractConfig(sampler="motion", budget=args.budget, sampler_scope="all", **base),
        }
        motion_share = np.mean([sum(e - s for s, e in b) / num_frames for b in bursts.values()])
        print(f"{args.videos} videos x {args.seconds:g} s, {width}x{height}, 25 fps, sensor noise {args.noise:g}, motion in {100 * motion_share:.1f}% "
              f"of the frames; extract: resize {args.resize}, crop {args.crop}, flow {args.flow}, workers "
              f"{args.workers}, batch {args.batch_size}, device {args.device}, torch threads "
              f"{torch.get_num_threads()}; random I3D weights (pytorch-i3d layout)")  # fmt: skip
        warm = tmp / "warm-up"
        warm.mkdir()
        write_burst_video(warm / "warm.mp4", 50, [(10, 40)], size=(width, height))
        extract_store(find_videos([warm]), tmp / "warm.h5", configs["none"], models, args.device, "bench", "warm-up")
        times: dict[str, list[float]] = {name: [] for name in configs}
        stores: dict[str, Path] = {}
        for r in range(args.repeats):
            order = list(configs) if r % 2 == 0 else list(reversed(configs))
            for name in order:
                out = tmp / f"{name}-{r}.h5"
                start = time.perf_counter()
                extract_store(videos, out, configs[name], models, args.device, "bench", progress_desc=name)
                times[name].append(time.perf_counter() - start)
                stores[name] = out
                print(f"  run {r} {name:4s}: {times[name][-1]:7.1f} s", flush=True)

        dense_s = statistics.median(times["none"])
        print(f"\nno sampler: {dense_s:.1f} s (median of {args.repeats})")
        for name in ("flow", "all"):
            kept_total = snippets = moving_total = moving_kept = 0
            budget_ok = True
            with FeatureStore(stores[name]) as store:
                for vid in store.video_ids:
                    kept = store.read(vid).kept
                    starts = np.arange(len(kept)) * store.meta.stride_frames
                    moving = motion_snippets(bursts[vid], starts, store.meta.clip_len_frames)
                    budget_ok &= int(kept.sum()) <= max_kept(len(kept), args.budget)
                    kept_total, snippets = kept_total + int(kept.sum()), snippets + len(kept)
                    moving_total, moving_kept = moving_total + int(moving.sum()), moving_kept + int((kept & moving).sum())
            wall = statistics.median(times[name])
            print(f"sampler motion, budget {args.budget:g}, scope {name}: {wall:.1f} s, ratio {wall / dense_s:.3f}; "
                  f"kept {kept_total}/{snippets} = {100 * kept_total / snippets:.1f}%, budget held per video: "
                  f"{budget_ok}; motion snippets kept {moving_kept}/{moving_total} = "
                  f"{100 * moving_kept / moving_total:.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
