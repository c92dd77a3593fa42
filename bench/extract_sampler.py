"""End-to-end extraction wall time with and without the coarse-to-fine sampler, in one run.

Writes ``--videos`` generated "mostly background" videos (``--size``, 25 fps, ``--seconds`` long,
a moving disc during random bursts covering about ``--motion`` of the time, static textured
background otherwise; :func:`research.synthetic_video.write_burst_video`) and saves
randomly initialised I3D checkpoints in the pytorch-i3d layout (the cost does not depend on the
weights). Then it runs the real pipeline, :func:`wsal.features.extract.extract_store` with the
models :func:`wsal.features.i3d.load_i3d` loads (what ``wsal extract`` runs), into a fresh store
each time:

* ``none``: no sampler (every snippet gets flow and both I3D streams);
* ``flow``: ``--sampler motion --budget B --sampler-scope flow``;
* ``all``: ``--sampler motion --budget B --sampler-scope all`` (the decoder seeks over skipped
  stretches of at least ``--seek-min-s``, features/decode.py section Seeking);
* ``all-noseek``: the same with ``--seek-min-s 0`` (every frame decoded).

``--settings`` picks which (default: all four; none: only the decoding below). The runs are repeated ``--repeats`` times in the
given order, then reversed, ... (so a drift in machine load hits every setting alike) and the
wall time of each setting is the median over its runs. For each sampler setting it prints the
wall time, the ratio to ``none`` (and for ``all`` to ``all-noseek``), the kept share (over all
snippets), whether the budget held for every video (kept <= max(1, floor(B * T))) and the recall
of motion snippets (snippets sharing a frame with a burst) in the store's ``kept`` masks, and
whether ``all`` and ``all-noseek`` stored identical features.

Before that, the fine-pass decoding alone (``VideoDecoder`` at ``--resize``/``--crop``, what a
worker runs before flow) is timed per video with the ``all`` seek plan and without it (median of
``--repeats``), with the frames decoded and the seeks; ``--keyint`` sets the generated videos'
keyframe interval (seeking can only skip whole keyframe intervals).

Run:  python bench/extract_sampler.py [--videos 2 --seconds 30 --size 320x240 --resize 128 --crop 112
                                       --flow tvl1 --workers 2 --budget 0.5 --repeats 1 --keyint 0
                                       --settings none flow all all-noseek --seek-min-s 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = ("none", "flow", "all", "all-noseek")


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
    parser.add_argument("--flow", default="tvl1", choices=["tvl1", "farneback", "dis", "none"], help="none: rgb only (not with the flow setting)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting (median wall time)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--keyint", type=int, default=0, help="keyframe interval of the generated videos, frames (0 = libx264's default, 250)")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=SETTINGS, help="which runs, in this order (none given: only time the decoding)")
    parser.add_argument("--seek-min-s", type=float, default=2.0, help="extract --seek-min-s for the 'all' setting")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads of the inference process")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.torch_threads)

    from wsal.features.extract import ExtractConfig, extract_store, find_videos
    from wsal.features.i3d import InceptionI3d, load_i3d
    from wsal.features.sampler import max_kept
    from wsal.features.store import FeatureStore
    from research.synthetic_video import burst_layout, motion_snippets, write_burst_video

    width, height = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(args.seed)
    num_frames = int(round(args.seconds * 25))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bursts = {}
        for v in range(args.videos):
            bursts[f"video_{v}"] = burst_layout(num_frames, args.motion, rng)
            write_burst_video(tmp / f"video_{v}.mp4", num_frames, bursts[f"video_{v}"], size=(width, height),
                              seed=args.seed * 100 + v, noise_std=args.noise, keyint=args.keyint)  # fmt: skip
        torch.manual_seed(args.seed)
        weights = {"rgb": tmp / "rgb.pt", "flow": tmp / "flow.pt"}
        torch.save(InceptionI3d(3).state_dict(), weights["rgb"])
        torch.save(InceptionI3d(2).state_dict(), weights["flow"])
        models = {"rgb": load_i3d(weights["rgb"], in_channels=3), "flow": load_i3d(weights["flow"], in_channels=2)}
        if args.flow == "none":
            del models["flow"]
        videos = find_videos([tmp])
        base = dict(resize_short=args.resize, crop=args.crop, flow=args.flow, workers=args.workers, batch_size=args.batch_size)
        sampled = dict(sampler="motion", budget=args.budget, **base)
        every = {
            "none": lambda: ExtractConfig(**base),
            "flow": lambda: ExtractConfig(sampler_scope="flow", **sampled),
            "all": lambda: ExtractConfig(sampler_scope="all", seek_min_s=args.seek_min_s, **sampled),
            "all-noseek": lambda: ExtractConfig(sampler_scope="all", seek_min_s=0.0, **sampled),
        }
        configs = {name: every[name]() for name in dict.fromkeys(args.settings)}
        motion_share = np.mean([sum(e - s for s, e in b) / num_frames for b in bursts.values()])
        print(f"{args.videos} videos x {args.seconds:g} s, {width}x{height}, 25 fps, sensor noise {args.noise:g}, motion in {100 * motion_share:.1f}% "
              f"of the frames; extract: resize {args.resize}, crop {args.crop}, flow {args.flow}, workers "
              f"{args.workers}, batch {args.batch_size}, device {args.device}, torch threads "
              f"{torch.get_num_threads()}; random I3D weights (pytorch-i3d layout); keyframe interval "
              f"{args.keyint or 250} frames; budget {args.budget:g}, seek-min-s {args.seek_min_s:g}")  # fmt: skip
        time_decoding(videos, every["all"](), args.repeats)
        if not configs:
            return
        warm = tmp / "warm-up"
        warm.mkdir()
        write_burst_video(warm / "warm.mp4", 50, [(10, 40)], size=(width, height))
        extract_store(find_videos([warm]), tmp / "warm.h5", every["none"](), models, args.device, "bench", "warm-up")
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

        walls = {name: statistics.median(t) for name, t in times.items()}
        if "none" in walls:
            print(f"\nno sampler: {walls['none']:.1f} s (median of {args.repeats})")
        for name in (n for n in configs if n != "none"):
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
            wall = walls[name]
            ratios = f", ratio to none {wall / walls['none']:.3f}" if "none" in walls else ""
            if name == "all" and "all-noseek" in walls:
                ratios += f", to all-noseek {wall / walls['all-noseek']:.3f}"
            print(f"sampler motion, budget {args.budget:g}, {name}: {wall:.1f} s (median of {args.repeats}){ratios}; "
                  f"kept {kept_total}/{snippets} = {100 * kept_total / snippets:.1f}%, budget held per video: "
                  f"{budget_ok}; motion snippets kept {moving_kept}/{moving_total} = "
                  f"{100 * moving_kept / moving_total:.1f}%")  # fmt: skip
        if "all" in stores and "all-noseek" in stores:
            print(f"all and all-noseek stored identical features: {same_features(stores['all'], stores['all-noseek'])}")


def time_decoding(videos: list, config: "ExtractConfig", repeats: int) -> None:
    """Fine-pass decoding alone, per video: with the scope-all seek plan of ``config`` and without."""
    from wsal.features.decode import VideoDecoder
    from wsal.features.extract import seek_plan_for
    from wsal.features.sampler import SamplerConfig, plan_video

    print(f"\nfine-pass decoding alone (VideoDecoder, resize {config.resize_short}, crop {config.crop}; median of {repeats}):")
    totals = {"seek": 0.0, "all frames": 0.0}
    for task in videos:
        start = time.perf_counter()
        plan = plan_video(task.path, config.grid(), SamplerConfig(budget=config.budget))
        coarse_s = time.perf_counter() - start
        seek = seek_plan_for(plan.kept, config.grid(), plan.signals, config.flow != "none", config.seek_min_s)
        line = []
        for name, seek_plan in (("seek", seek), ("all frames", None)):
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                with VideoDecoder(task.path, config.decode_config(), seek_plan) as decoder:
                    for _chunk in decoder.chunks():
                        pass
                    result = decoder.result
                runs.append(time.perf_counter() - start)
            totals[name] += statistics.median(runs)
            line.append(f"{name}: {statistics.median(runs):.2f} s, {result.source_frames} frames decoded, {result.seeks} seeks")
        print(f"  {task.video_id}: {seek.wanted.mean() * 100:.1f}% of {len(seek.wanted)} frames needed; coarse pass "
              f"{coarse_s:.2f} s; " + "; ".join(line))  # fmt: skip
    print(f"  total: seek {totals['seek']:.2f} s, all frames {totals['all frames']:.2f} s "
          f"(ratio {totals['seek'] / totals['all frames']:.3f})\n")


def same_features(a: Path, b: Path) -> bool:
    from wsal.features.store import FeatureStore

    with FeatureStore(a) as sa, FeatureStore(b) as sb:
        return sa.video_ids == sb.video_ids and all(
            np.array_equal(sa.read(v).features, sb.read(v).features) for v in sa.video_ids
        )


if __name__ == "__main__":
    main()
