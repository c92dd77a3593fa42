"""Post-processing of both boundary modes chosen on HELD-OUT videos, then reported on the test subset.

Reads finished ``bench/accuracy_synthetic.py --modes threshold changepoint`` output folders (one
or more, e.g. one per seed run in parallel): for every seed, the raw network outputs on the
choice subset -- ``seed_S/raw_heldout.h5`` (videos not trained on and not in the test subset;
``--choose-on training`` uses ``seed_S/raw_validation.h5``, the training videos, instead) -- and
on the test videos (``seed_S/raw.h5``). Each mode gets a small grid of its own settings, scored
by post-processing the choice-subset raw files (no network) against their GT:

* threshold: ``localize.signal`` x ``localize.act_thresholds`` (3 x 3 points);
* changepoint: ``localize.signal`` (the rows proposals are scored on) x ``localize.cp_select``
  ("attention": ``cp_attention`` lists; "signal": the ``act_thresholds`` on the class signals) x
  ``localize.cp_merge`` (single values and lists);
* both: x ``localize.class_threshold`` (which classes of a video get segments) x
  ``localize.outer_ratio`` (the outer band of the outer-inner contrast score).

Per mode, the setting with the best mean (over seeds) average mAP on the choice subset is chosen,
and only that setting is then evaluated on the test subset, next to both modes at their defaults
(the figures accuracy_synthetic prints, recomputed from the same raw files, so folders of separate
runs combine into one table). Both modes get the same treatment; no choice looks at the test subset.

    python bench/changepoint_grid.py runs/accuracy_synthetic [more folders ...] [--choose-on heldout|training]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

from wsal.annotations import load_ground_truth
from wsal.eval.report import TIOU_PRESETS
from research.multiseed import SeedResult, evaluate_raw, format_summary, seed_folders, summarize
from wsal.raw import RawReader

SIGNALS = ("both", "cas_x_attention", "cas")
ACT_THRESHOLDS = (
    (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
)
ATTENTION = ((0.3,), (0.4,), (0.3, 0.4, 0.5, 0.6, 0.7), (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8))
MERGE = (0.8, 0.9, 1.0, (0.6, 0.8, 1.0))
CLASS_THRESHOLDS = (0.2, 0.1, 0.05)
OUTER_RATIOS = (0.25, 0.5)
CHOICE_FILES = {"heldout": "raw_heldout.h5", "training": "raw_validation.h5"}


def _value(v: object) -> str:
    """An override value: a list for tuples, the number otherwise."""
    return str(list(v)) if isinstance(v, tuple) else str(v)


def candidates() -> list[tuple[str, list[str]]]:
    """(mode, overrides) for every grid point of both modes."""
    out = [
        ("threshold", [f"localize.class_threshold={ct}", f"localize.outer_ratio={ratio}", "localize.boundaries=threshold",
                       f"localize.signal={sig}", f"localize.act_thresholds={list(act)}"])
        for ct, ratio, sig, act in itertools.product(CLASS_THRESHOLDS, OUTER_RATIOS, SIGNALS, ACT_THRESHOLDS)
    ]  # fmt: skip
    selections = [["localize.cp_select=attention", f"localize.cp_attention={list(att)}"] for att in ATTENTION]
    selections += [["localize.cp_select=signal"]]
    for ct, ratio, sig, sel, merge in itertools.product(CLASS_THRESHOLDS, OUTER_RATIOS, SIGNALS, selections, MERGE):
        out.append(("changepoint", [f"localize.class_threshold={ct}", f"localize.outer_ratio={ratio}",
                                    "localize.boundaries=changepoint", f"localize.signal={sig}",
                                    *sel, f"localize.cp_merge={_value(merge)}"]))  # fmt: skip
    return out


def evaluate(raw: Path, gt_path: Path, overrides: list[str], seed: int, label: str, tiou: list[float], tmp: Path) -> SeedResult:
    """mAP of ``raw`` post-processed with ``overrides``, against the GT of the subset it holds."""
    with RawReader(raw) as reader:
        subset = reader.header.subset
    return evaluate_raw(raw, load_ground_truth(gt_path).subset(subset), tmp / f"{seed}_{label}.json", overrides, seed, label, tiou)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="output folder(s) of bench/accuracy_synthetic.py")
    parser.add_argument("--choose-on", choices=sorted(CHOICE_FILES), default="heldout",
                        help="subset the settings are chosen on (default: %(default)s)")
    args = parser.parse_args()
    tiou = list(TIOU_PRESETS["thumos"])
    choice_file = CHOICE_FILES[args.choose_on]
    folders = seed_folders(args.runs, choice_file)  # seed -> its accuracy_synthetic folder
    seeds = sorted(folders)
    if not seeds:
        raise SystemExit(f"{args.runs}: no seed_S/{choice_file} (run bench/accuracy_synthetic.py with --heldout)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        best: dict[str, tuple[float, list[str]]] = {}
        for mode, overrides in candidates():
            rows = [
                evaluate(folders[s] / f"seed_{s}" / choice_file, folders[s] / f"data_{s}" / "gt.json", overrides, s, "c", tiou, tmp)
                for s in seeds
            ]
            score = float(np.mean([r.average_mAP for r in rows]))
            print(f"{args.choose_on} subset: {' '.join(o.removeprefix('localize.') for o in overrides)}: "
                  f"average mAP {100 * score:.2f}", flush=True)
            if mode not in best or score > best[mode][0]:
                best[mode] = (score, overrides)
        for mode, (score, overrides) in best.items():
            print(f"chosen on the {args.choose_on} subset for {mode}: {' '.join(overrides)} ({100 * score:.2f})")
        results = []
        for subset_file, name in ((choice_file, args.choose_on.upper()), ("raw.h5", "TEST")):
            rows = []
            for s in seeds:
                raw, gt = folders[s] / f"seed_{s}" / subset_file, folders[s] / f"data_{s}" / "gt.json"
                for mode in ("threshold", "changepoint"):
                    rows.append(evaluate(raw, gt, [f"localize.boundaries={mode}"], s, f"{mode} (defaults)", tiou, tmp))
                    rows.append(evaluate(raw, gt, best[mode][1], s, f"{mode} (chosen)", tiou, tmp))
            results.append((name, rows))
    for name, rows in results:
        print(f"\n{name} subset, mAP (%) mean ± std over seeds\n{format_summary(summarize(rows))}")


if __name__ == "__main__":
    main()
