"""Detection mAP on the synthetic THUMOS-timed set: 3 seeds, mean ± std per tIoU 0.1..0.7.

For each seed S: a synthetic set drawn with seed S (wsal.synthetic: 40 training videos, 20 test
videos, 5 classes, ``--feature-dim`` columns), training with ``train.seed = S`` for ``--steps``
steps using the demo's small model (wsal.commands.demo.DEMO_CONFIG), localization of the test
subset, then one evaluation per boundary mode from the same raw outputs (wsal.multiseed). A mode
is one row of the table: ``threshold`` now; pass ``--modes threshold changepoint`` once the
change-point mode exists. Wall time and process CPU time are printed (CPU time is the steadier
figure on a shared machine).

    python bench/accuracy_synthetic.py [--seeds 0 1 2] [--steps 300] [--out runs/accuracy_synthetic] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from wsal.commands.demo import DEMO_CONFIG, SYNTHETIC_FEATURE_DIM
from wsal.config import ExperimentConfig, config_from_dict
from wsal.eval.report import TIOU_PRESETS
from wsal.multiseed import format_per_seed, format_summary, run_seed, summarize
from wsal.synthetic import make_synthetic_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--feature-dim", type=int, default=SYNTHETIC_FEATURE_DIM)
    parser.add_argument("--modes", nargs="+", default=["threshold"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/accuracy_synthetic")
    args = parser.parse_args()

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty: choose another --out")
    config = config_from_dict(ExperimentConfig, DEMO_CONFIG, "demo config")
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=args.steps))
    tiou = list(TIOU_PRESETS["thumos"])
    results = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for seed in args.seeds:
        store, gt = make_synthetic_dataset(out / f"data_{seed}", seed=seed, feature_dim=args.feature_dim)
        results += run_seed(config, store, gt, out, seed, tiou, args.modes, "test", args.device)
        print(format_per_seed(results[-len(args.modes):]), flush=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    text = (
        f"synthetic THUMOS-timed set, feature_dim {args.feature_dim}, {args.steps} steps, seeds {args.seeds}, "
        f"device {args.device}\n{format_per_seed(results)}\n\nmAP (%) mean ± std (sample std over seeds)\n"
        f"{format_summary(summarize(results))}\n\nwall {wall:.0f} s, process CPU {cpu:.0f} s\n"
    )
    print(text)
    (out / "summary.md").write_text(text)


if __name__ == "__main__":
    main()
