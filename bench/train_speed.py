"""Training speed and peak memory on a THUMOS-14-sized synthetic store.

Default shape: 200 training videos of T = 750 snippets, 2048-d features (I3D rgb + flow), batch
16, num_snippets 750, default model (MILConfig). The store (about 1.2 GB at the defaults) is
generated in a temporary folder and deleted afterwards (``--keep`` keeps it). Training runs
through ``wsal.train.train`` exactly as ``wsal train`` does (data loading included).

Two runs on the same store: the attention MIL alone (``changepoint.enabled = false``) and the
joint model (MIL + hierarchical change-point detector, ``changepoint.enabled = true``, detector
defaults). For each: steps/s (median over the steps after the first, which includes warm-up) and
the wall time of the training call; then the joint / MIL-only step-time ratio (issue 6 asks for
<= 3x), peak resident memory of this process, and peak CUDA memory when on a GPU.

    python bench/train_speed.py --steps 20
    python bench/train_speed.py --steps 50 --device cuda
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wsal.config import ExperimentConfig, load_config
from wsal.synthetic import make_synthetic_dataset
from wsal.train import resolve_device, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps to time (default 20)")
    parser.add_argument("--videos", type=int, default=200, help="training videos in the store (default 200)")
    parser.add_argument("--snippets", type=int, default=750, help="snippets per video and num_snippets (default 750)")
    parser.add_argument("--feature-dim", type=int, default=2048, help="feature columns (default 2048)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config overrides, e.g. mil.embed_dim=512")
    parser.add_argument("--workdir", default=None, help="where to put the store (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated store and run folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="wsal_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        store, gt = make_synthetic_dataset(
            work / "data",
            seed=0,
            num_train_videos=args.videos,
            num_test_videos=0,
            num_classes=20,
            feature_dim=args.feature_dim,
            snippets=(args.snippets, args.snippets),
            show_progress=True,
        )
        gen_s = time.perf_counter() - start
        runs = {}
        for name, enabled in (("MIL only", "false"), ("MIL + detector", "true")):
            config = load_config(
                ExperimentConfig,
                None,
                [
                    f"data.num_snippets={args.snippets}",
                    f"data.num_workers={args.workers}",
                    f"train.batch_size={args.batch_size}",
                    f"train.max_steps={args.steps}",
                    "train.log_every=1",
                    f"train.checkpoint_every={args.steps + 1}",
                    f"changepoint.enabled={enabled}",
                    *args.overrides,
                ],
            )
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            run_dir = work / f"run_{enabled}"
            start = time.perf_counter()
            train(config, store, gt, run_dir, device=str(device))
            train_s = time.perf_counter() - start
            with (run_dir / "log.csv").open(newline="") as fh:
                rates = [float(row["steps_per_s"]) for row in csv.DictReader(fh)]
            runs[name] = (float(np.median(rates[1:] if len(rates) > 1 else rates)), rates[0], train_s)
            peak_cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
            runs[name] += (peak_cuda,)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print()
        print(f"device             {device} ({torch.get_num_threads()} CPU threads)")
        print(f"store              {args.videos} videos x {args.snippets} snippets x {args.feature_dim} dims "
              f"({store.stat().st_size / 2**30:.2f} GiB, generated in {gen_s:.0f} s)")
        print(f"config             batch {config.train.batch_size}, num_snippets {config.data.num_snippets}, "
              f"embed_dim {config.mil.embed_dim}, mixed_precision {config.train.mixed_precision}")
        for name, (rate, first, train_s, peak_cuda) in runs.items():
            print(f"{name:<18} {rate:.3f} steps/s = {1 / rate:.2f} s/step (median of steps 2..{args.steps}; "
                  f"first step {first:.3f} steps/s); train() wall {train_s:.1f} s"
                  + (f"; peak CUDA {peak_cuda:.0f} MiB" if peak_cuda is not None else ""))
        ratio = runs["MIL only"][0] / runs["MIL + detector"][0]
        print(f"step-time ratio    MIL + detector / MIL only = {ratio:.2f}x (issue 6 bound: <= 3x)")
        print(f"peak RSS           {peak_rss_mb:.0f} MiB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
