"""Training speed, data loading and peak memory on a THUMOS-14-sized store; the recipe's projected time.

The store: synthetic features (wsal.synthetic) with 2048 columns (I3D rgb + flow). By default 200
training videos of ``--snippets`` each (every video as long as num_snippets: no padding to save);
with ``--timeline-gt GT.json`` the videos, durations and actions of that ground truth (the real
THUMOS-14 one, ``thumos14_official_gt.json``: 200 training videos of 8 s to 25 min, so most
batches hold short videos). ``--store S --annotations G`` reuses an existing pair instead (then
only the training runs are timed; the script also runs against an older wsal for comparisons,
since it sets no config key that wsal did not always have, unless ``--set`` does).

Two training runs through ``wsal.train.train`` exactly as ``wsal train`` does (data loading
included): the default model (``changepoint.enabled = false``: the attention MIL, with background
suppression unless ``--set mil.suppression=false``) and the joint model (the same + the
change-point detector, ``changepoint.enabled = true``). For each: steps/s over the log rows after the first (each row
``--log-every`` steps; the first includes warm-up; the rows' total steps over their total time, as
batch widths vary from step to step), the wall time of the call, peak CUDA memory,
and the projected time of ``--recipe-steps`` steps (experiments/thumos14.toml: 5000). Then, with
``--loading``, the data path alone: the one-time preload and the per-step batch time when
preloaded and when read from the store (median of 20 batches, synchronised).

    python bench/train_speed.py --steps 20
    python bench/train_speed.py --timeline-gt thumos14_official_gt.json --steps 60 --device cuda --loading
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from wsal.config import ExperimentConfig, load_config
from wsal.synthetic import make_synthetic_dataset
from wsal.devices import resolve_device
from wsal.train import train


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_loading(store: Path, gt: Path, config: ExperimentConfig, device: torch.device, batches: int = 20) -> list[str]:
    """Preload once, then time ``batches`` batches both ways (the same keys); lines to print."""
    from wsal.data import GROUP_BATCHES, ResidentVideos, StepBatchSampler, WeakVideoDataset, collate_batch
    from wsal.annotations import load_ground_truth

    dc, tc = config.data, config.train
    ds = WeakVideoDataset(store, load_ground_truth(gt), dc.train_subset, dc.num_snippets, dc.sampling)
    keys = list(StepBatchSampler(len(ds), tc.batch_size, tc.seed, 0, batches, ds.lengths, GROUP_BATCHES))
    start = time.perf_counter()
    resident = ResidentVideos(ds, device)
    _sync(device)
    preload_s = time.perf_counter() - start
    timings: dict[str, list[float]] = {"preloaded": [], "store read": []}
    widths = []
    for step_keys in keys:
        start = time.perf_counter()
        batch = resident.batch(step_keys)
        _sync(device)
        timings["preloaded"].append(time.perf_counter() - start)
        widths.append(batch.features.shape[1])
        start = time.perf_counter()
        batch = collate_batch([ds[k] for k in step_keys]).to(device)
        _sync(device)
        timings["store read"].append(time.perf_counter() - start)
    ds.close()
    lines = [f"preload            {len(ds)} videos, {ResidentVideos.size_bytes(ds) / 2**30:.2f} GiB to {device} in {preload_s:.1f} s"]
    for name, values in timings.items():
        lines.append(f"batch ({name:<10}) {1000 * statistics.median(values):.1f} ms per batch (median of {batches})")
    lines.append(f"batch width        mean {statistics.mean(widths):.0f} snippets of num_snippets {dc.num_snippets} "
                 f"(pools of {GROUP_BATCHES} batches)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps to time (default 20)")
    parser.add_argument("--log-every", type=int, default=5, help="steps per log row, i.e. per rate sample (default 5)")
    parser.add_argument("--videos", type=int, default=200, help="training videos in the store (default 200)")
    parser.add_argument("--snippets", type=int, default=750, help="snippets per video and num_snippets (default 750)")
    parser.add_argument("--feature-dim", type=int, default=2048, help="feature columns (default 2048)")
    parser.add_argument("--timeline-gt", default=None, help="time the synthetic videos by this GT file (real durations)")
    parser.add_argument("--store", default=None, help="an existing feature store (with --annotations): no generation")
    parser.add_argument("--annotations", default=None, help="the GT of --store")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    parser.add_argument("--recipe-steps", type=int, default=5000, help="steps of the recipe to project (default 5000)")
    parser.add_argument("--runs", nargs="+", default=["mil", "joint"], choices=["mil", "joint"],
                        help="which models to time: mil (detector off: the default model), joint (with the detector)")
    parser.add_argument("--loading", action="store_true", help="also time the data path alone (needs this wsal)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config overrides, e.g. mil.embed_dim=512")
    parser.add_argument("--workdir", default=None, help="where to put the store (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated store and run folders")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="wsal_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        if args.store:
            if not args.annotations:
                raise SystemExit("train_speed: --store needs --annotations")
            store, gt = Path(args.store), Path(args.annotations)
            source = f"{store}"
        else:
            store, gt = make_synthetic_dataset(
                work / "data",
                seed=0,
                num_train_videos=args.videos,
                num_test_videos=0,
                num_classes=20,
                feature_dim=args.feature_dim,
                snippets=(args.snippets, args.snippets),
                timeline_gt=args.timeline_gt,
                show_progress=True,
            )
            source = f"timed by {args.timeline_gt}" if args.timeline_gt else f"{args.videos} videos x {args.snippets} snippets"
        gen_s = time.perf_counter() - start
        runs = {}
        config = None
        for name in args.runs:
            config = load_config(
                ExperimentConfig,
                None,
                [
                    f"data.num_snippets={args.snippets}",
                    f"train.batch_size={args.batch_size}",
                    f"train.max_steps={args.steps}",
                    f"train.log_every={args.log_every}",
                    f"train.checkpoint_every={args.steps + 1}",
                    f"changepoint.enabled={'true' if name == 'joint' else 'false'}",
                    *args.overrides,
                ],
            )
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            run_dir = work / f"run_{name}"
            start = time.perf_counter()
            train(config, store, gt, run_dir, device=str(device))
            train_s = time.perf_counter() - start
            with (run_dir / "log.csv").open(newline="") as fh:
                rates = [float(row["steps_per_s"]) for row in csv.DictReader(fh)]
            timed = rates[1:] if len(rates) > 1 else rates
            rate = len(timed) / sum(1.0 / r for r in timed)  # steps / time over those rows (batch widths vary)
            peak_cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
            # the call's time outside the timed steps (start-up, preload, first row's warm-up) plus the recipe's steps
            overhead_s = max(0.0, train_s - (args.steps - args.log_every) / rate)
            runs[name] = (rate, rates[0], train_s, peak_cuda, overhead_s + args.recipe_steps / rate)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print()
        gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
        print(f"device             {device}{gpu}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
        print(f"store              {source}, {args.feature_dim if not args.store else '?'} dims "
              f"({store.stat().st_size / 2**30:.2f} GiB, ready in {gen_s:.0f} s)")
        assert config is not None
        print(f"config             batch {config.train.batch_size}, num_snippets {config.data.num_snippets}, "
              f"embed_dim {config.mil.embed_dim}, mixed_precision {config.train.mixed_precision}, overrides {args.overrides}")
        labels = {"mil": "MIL (default)", "joint": "MIL + detector"}
        for name, (rate, first, train_s, peak_cuda, recipe_s) in runs.items():
            print(f"{labels[name]:<18} {rate:.3f} steps/s = {1000 / rate:.1f} ms/step (rows 2..; first row "
                  f"{first:.3f} steps/s); train() wall {train_s:.1f} s"
                  + (f"; peak CUDA {peak_cuda:.0f} MiB" if peak_cuda is not None else "")
                  + f"; {args.recipe_steps} steps projected {recipe_s / 60:.1f} min")
        if len(runs) == 2:
            print(f"step-time ratio    MIL + detector / MIL only = {runs['mil'][0] / runs['joint'][0]:.2f}x")
        print(f"peak RSS           {peak_rss_mb:.0f} MiB")
        if args.loading and config is not None:
            for line in time_loading(store, gt, config, device):
                print(line)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
