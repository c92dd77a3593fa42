"""Run one experiment with several training seeds; print mean and std of mAP per tIoU threshold.

    python experiments/seeds.py --config experiments/thumos14.toml \
        --features thumos14_i3d.h5 --annotations thumos14_gt.json \
        --seeds 0 1 2 --tiou thumos --out runs/thumos14_seeds

Each seed trains into OUT/seed_S (wsal.train), localizes the test subset (raw outputs kept in
OUT/seed_S/raw.h5) and is evaluated; the same config for every seed, nothing is selected on the
test score. Writes OUT/summary.md (per-seed lines and the mean ± std table) and OUT/summary.json.
``--modes`` lists the localize.boundaries modes to evaluate from the same raw outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # research helpers: not installed

from wsal.config import ExperimentConfig, load_config
from wsal.errors import WsalError
from wsal.eval.report import TIOU_PRESETS
from research.multiseed import format_per_seed, format_summary, run_seed, summarize


def parse_tiou(tokens: list[str]) -> list[float]:
    if len(tokens) == 1 and tokens[0] in TIOU_PRESETS:
        return list(TIOU_PRESETS[tokens[0]])
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise WsalError(f"--tiou expects {' or '.join(TIOU_PRESETS)} or numbers, got {' '.join(tokens)}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="experiment TOML (defaults when omitted)")
    parser.add_argument("--features", required=True, metavar="STORE.h5")
    parser.add_argument("--annotations", required=True, metavar="GT.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tiou", nargs="+", default=["thumos"], help="thumos | activitynet | numbers (default: thumos)")
    parser.add_argument("--modes", nargs="+", default=["threshold"], help="localize.boundaries modes (default: threshold)")
    parser.add_argument("--subset", default=None, help="test subset (default: the config's data.test_subset)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True, metavar="DIR")
    args = parser.parse_args(argv)
    try:
        config = load_config(ExperimentConfig, args.config, args.overrides)
        tiou = parse_tiou(args.tiou)
        out = Path(args.out)
        results = []
        for seed in args.seeds:
            print(f"== seed {seed}", flush=True)
            results += run_seed(config, args.features, args.annotations, out, seed, tiou, args.modes, args.subset, args.device)
    except WsalError as err:
        print(f"seeds.py: error: {err}", file=sys.stderr)
        return 2
    summaries = summarize(results)
    text = f"{format_per_seed(results)}\n\nmAP (%) mean ± std over seeds {args.seeds}\n{format_summary(summaries)}\n"
    print(text)
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(
        json.dumps(
            {
                "seeds": args.seeds,
                "tiou": tiou,
                "per_seed": [{"seed": r.seed, "mode": r.mode, "mAP": r.mAP.tolist(), "average_mAP": r.average_mAP} for r in results],
                "summary": [
                    {"mode": s.mode, "mean": s.mean.tolist(), "std": s.std.tolist(), "average_mean": s.average_mean, "average_std": s.average_std}
                    for s in summaries
                ],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
