"""Change-point post-processing chosen on the TRAINING subset, then reported on the test subset.

Reads finished ``bench/accuracy_synthetic.py --modes threshold changepoint`` output folders (one
or more, e.g. one per seed run in parallel): for every seed, ``seed_S/raw_validation.h5`` (network outputs on the training videos) and
``seed_S/raw.h5`` (the test videos). For each point of a small grid of ``localize.cp_attention``
x ``localize.cp_merge`` it post-processes the training raw files (no network) and evaluates
against the training GT; the setting with the best mean (over seeds) average mAP is chosen there,
and only that setting is then evaluated on the test subset, next to both modes at their defaults
(the figures accuracy_synthetic prints, recomputed from the same raw files, so folders of separate
runs combine into one table). No choice looks at the test subset.

    python bench/changepoint_grid.py runs/accuracy_synthetic [more folders ...]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

from wsal.commands.localize import localize_from_raw
from wsal.eval.detection import detection_map
from wsal.eval.io import load_ground_truth, load_predictions
from wsal.eval.report import TIOU_PRESETS
from wsal.multiseed import SeedResult, format_summary, summarize
from wsal.raw import RawReader

ATTENTION = ((0.3,), (0.4,), (0.5,), (0.6,), (0.7,), (0.3, 0.4, 0.5, 0.6, 0.7), (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8))
MERGE = (0.5, 0.7, 0.8, 0.9, 1.0)
LEVELS = ((),)  # --levels adds level subsets, e.g. --levels 1,2 2


def evaluate(raw: Path, gt_path: Path, overrides: list[str], seed: int, label: str, tiou: list[float], tmp: Path) -> SeedResult:
    with RawReader(raw) as reader:
        subset = reader.header.subset
    pred = tmp / f"{seed}_{label}.json"
    localize_from_raw(raw, pred, overrides)
    r = detection_map(load_ground_truth(gt_path).subset(subset), load_predictions(pred), tiou)
    return SeedResult(seed, label, tuple(tiou), r.mAP, r.average_mAP, r.num_predictions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="output folder(s) of bench/accuracy_synthetic.py")
    parser.add_argument("--levels", nargs="*", default=[], metavar="L,L",
                        help="also try these subsets of detector levels (localize.cp_levels), e.g. 1,2 2")
    parser.add_argument("--attention", nargs="*", default=None, metavar="A,A",
                        help="cp_attention lists to try, e.g. 0.3 0.4 0.3,0.4,0.5 (default: a built-in grid)")
    parser.add_argument("--merge", nargs="*", type=float, default=None, help="cp_merge values to try")
    args = parser.parse_args()
    level_sets = LEVELS + tuple(tuple(int(v) for v in text.split(",")) for text in args.levels)
    attention_sets = ATTENTION if args.attention is None else tuple(tuple(float(v) for v in t.split(",")) for t in args.attention)
    merges = MERGE if args.merge is None else tuple(args.merge)
    tiou = list(TIOU_PRESETS["thumos"])
    folders = {}  # seed -> its accuracy_synthetic folder
    for folder in args.runs:
        for p in folder.glob("seed_*"):
            if (p / "raw_validation.h5").is_file():
                folders[int(p.name.removeprefix("seed_"))] = folder
    seeds = sorted(folders)
    if not seeds:
        raise SystemExit(f"{args.runs}: no seed_S/raw_validation.h5")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        grid = {}
        for levels, att, merge in itertools.product(level_sets, attention_sets, merges):
            overrides = ["localize.boundaries=changepoint", f"localize.cp_attention={list(att)}", f"localize.cp_merge={merge}",
                         f"localize.cp_levels={list(levels)}"]
            rows = [
                evaluate(folders[s] / f"seed_{s}" / "raw_validation.h5", folders[s] / f"data_{s}" / "gt.json", overrides, s, "cp", tiou, tmp)
                for s in seeds
            ]
            grid[(levels, att, merge)] = float(np.mean([r.average_mAP for r in rows]))
            print(f"training subset: cp_levels {list(levels)} cp_attention {list(att)} cp_merge {merge}: "
                  f"average mAP {100 * grid[(levels, att, merge)]:.1f}", flush=True)
        best = max(grid, key=grid.get)
        print(f"chosen on the training subset: cp_levels {list(best[0])}, cp_attention {list(best[1])}, cp_merge {best[2]} "
              f"({100 * grid[best]:.1f})")
        chosen = ["localize.boundaries=changepoint", f"localize.cp_levels={list(best[0])}",
                  f"localize.cp_attention={list(best[1])}", f"localize.cp_merge={best[2]}"]
        results = []
        for subset_file, name in (("raw_validation.h5", "TRAINING"), ("raw.h5", "TEST")):
            rows = []
            for s in seeds:
                raw, gt = folders[s] / f"seed_{s}" / subset_file, folders[s] / f"data_{s}" / "gt.json"
                rows.append(evaluate(raw, gt, ["localize.boundaries=threshold"], s, "threshold", tiou, tmp))
                rows.append(evaluate(raw, gt, ["localize.boundaries=changepoint"], s, "changepoint (defaults)", tiou, tmp))
                rows.append(evaluate(raw, gt, chosen, s, f"changepoint {list(best[0])}/{list(best[1])}/{best[2]}", tiou, tmp))
            results.append((name, rows))
    for name, rows in results:
        print(f"\n{name} subset, mAP (%) mean ± std over seeds\n{format_summary(summarize(rows))}")


if __name__ == "__main__":
    main()
