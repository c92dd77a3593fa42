"""Detection mAP on the synthetic THUMOS-timed set: 3 seeds, mean ± std per tIoU 0.1..0.7.

For each seed S: a synthetic set drawn with seed S (wsal.synthetic: 40 training videos, 20 test
videos, 5 classes, ``--feature-dim`` columns), training with ``train.seed = S`` for ``--steps``
steps using the demo's small model (wsal.commands.demo.DEMO_CONFIG), localization of the test
subset, then one evaluation per boundary mode from the same raw outputs (research.multiseed). A mode
is one row of the table (``--modes threshold changepoint``; asking for ``changepoint`` trains the
joint model, ``changepoint.enabled = true``, for every mode, so both modes read the same network
outputs). ``--set KEY=VALUE`` changes the training config (e.g. ``changepoint.gamma=2``).
``--core-fraction F`` draws the incomplete-motion variant (class motion only in the central share F
of each action; wsal.synthetic).

Three tables are printed: the test subset (the reported figures), the held-out subset (``--heldout``
videos drawn like the others that neither training nor the test table sees: choices between modes
or post-processing settings are made here, see bench/changepoint_grid.py) and the training subset
("validation", the videos the model was trained on, weak labels only; an optimistic view, kept
for comparison). Nothing is chosen on the test table. Wall time and
process CPU time are printed (CPU time is the steadier figure on a shared machine). Seeds can
also run as separate processes (one ``--seeds S`` and ``--out`` each, ``--threads 1``);
``bench/changepoint_grid.py`` combines such folders into one table.

    python bench/accuracy_synthetic.py [--seeds 0 1 2] [--steps 300] [--modes threshold changepoint]
                                       [--heldout 100] [--out runs/accuracy_synthetic] [--device cpu]

``--preset hard`` runs the hard benchmark instead (wsal.synthetic.hard: real timing from
``--timeline``, default the THUMOS-14 GT in ../shared/data; subsets train / tuning / test), with
the training config and the per-method choice of post-processing on the tuning subset described
in bench/hard_benchmark.py. ``--baselines`` trains the peers next to the default model (the
attention MIL alone, BaS-Net, CoLA) and prints the method x tIoU table on the test subset, mean
± std over seeds, the default's lead over each peer paired by seed, the steps and training time
each needs to reach 95 % of its final score, and each seed's average and steps.
``--off partial context ...`` turns properties of the hard set off, one at a time or together;
``--lrs`` (constant rates) and ``--cosine-lrs`` (rates with cosine decay) are the optimisation
settings every method chooses from on its tuning subset (the rule: bench/hard_benchmark.py);
``--lrs`` with no value leaves the cosine rates alone (``--lrs --cosine-lrs 2e-3 --methods wsal``:
one setting of one method, what a screen of a change needs);
``--resume`` reuses the runs already in ``--out``; ``--methods`` trains only the named methods (to
re-measure the ones a change touches: each method's choice and figures depend on its own runs only).
ActivityNet timing: ``--timeline .../anet1.2_trainval_gt_from_wtalc_npy.json --timeline-subsets
training validation --max-videos 400`` (a subset of its thousands of videos, evenly spaced).

    python bench/accuracy_synthetic.py --preset hard --baselines [--seeds 0 1 2] [--steps 800]
                                       [--eval-every 100] [--lrs 1e-4 3e-4 1e-3] [--cosine-lrs 1e-3 2e-3]
                                       [--feature-dim 256] [--off PROPERTY ...] [--resume]
                                       [--methods wsal attention-mil basnet cola]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from hard_benchmark import METHODS, Optim, run_hard

from wsal.commands.demo import DEMO_CONFIG, SYNTHETIC_FEATURE_DIM
from wsal.config import ExperimentConfig, apply_overrides, config_from_dict
from wsal.errors import WsalError
from wsal.eval.report import TIOU_PRESETS
from research.multiseed import format_per_seed, format_summary, localize_and_evaluate, run_seed, summarize
from wsal.synthetic import make_synthetic_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--feature-dim", type=int, default=SYNTHETIC_FEATURE_DIM)
    parser.add_argument("--modes", nargs="+", default=["threshold"])
    parser.add_argument("--heldout", type=int, default=100,
                        help="held-out videos per seed, for choosing settings (0: none; the others do not change)")
    parser.add_argument("--core-fraction", type=float, default=1.0,
                        help="class motion only in this central share of each action (wsal.synthetic; default 1: whole action)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default 0: torch's choice; 1 is much faster on a loaded machine)")
    parser.add_argument("--out", default="runs/accuracy_synthetic")
    parser.add_argument("--preset", choices=("easy", "hard"), default="easy",
                        help="easy: wsal.synthetic (default); hard: wsal.synthetic.hard with real timing")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=None, metavar="METHOD",
                        help=f"hard preset: train and report these methods only ({', '.join(METHODS)}; "
                             "default: wsal, or all with --baselines)")
    parser.add_argument("--baselines", action="store_true",
                        help="hard preset: also train the attention MIL alone, BaS-Net and CoLA; one table")
    parser.add_argument("--timeline", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/thumos14/derived/thumos14_official_gt.json",
                        help="hard preset: GT whose timing the videos copy (default: THUMOS-14 in ../shared/data)")
    parser.add_argument("--timeline-subsets", nargs=2, default=["validation", "test"], metavar=("TRAIN", "EVAL"),
                        help="hard preset: subsets of --timeline for training and for tuning + test (default: validation test)")
    parser.add_argument("--max-videos", type=int, default=None,
                        help="hard preset: at most this many videos per split, evenly spaced (e.g. for ActivityNet)")
    parser.add_argument("--eval-every", type=int, default=50,
                        help="hard preset: checkpoint interval of the convergence columns (default: %(default)s)")
    parser.add_argument("--lrs", type=float, nargs="*", default=[1e-4],
                        help="hard preset: constant learning rates tried for every method; each method gets the "
                             "setting its tuning subset prefers (bench/hard_benchmark.py) (default: %(default)s; "
                             "no value: none, only --cosine-lrs)")
    parser.add_argument("--cosine-lrs", type=float, nargs="*", default=[],
                        help="hard preset: learning rates tried with cosine decay (train.lr_schedule=cosine) too")
    parser.add_argument("--resume", action="store_true",
                        help="hard preset: reuse the runs already in --out (checked against the config) and train the rest")
    parser.add_argument("--off", nargs="*", default=[], metavar="PROPERTY",
                        help="hard preset: properties turned off (partial context lookalike modes distractors shots i3d_like)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="training config override, repeatable, e.g. changepoint.gamma=2")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (args.resume and args.preset == "hard"):
        raise SystemExit(f"{out} is not empty: choose another --out" + (" or pass --resume" if args.preset == "hard" else ""))
    if args.preset == "hard":
        from wsal.synthetic.hard import HardSpec

        rates = args.lrs + args.cosine_lrs
        if not rates:
            raise SystemExit("accuracy_synthetic: no learning rate to try: give --lrs or --cosine-lrs a value")
        if args.eval_every < 1 or min(rates) <= 0:
            raise SystemExit(f"accuracy_synthetic: --eval-every must be >= 1 and learning rates > 0, "
                             f"got {args.eval_every}, {rates}")
        if not args.timeline.is_file():
            raise SystemExit(f"accuracy_synthetic: {args.timeline}: timeline GT not found (pass --timeline)")
        optims = [Optim(lr) for lr in args.lrs] + [Optim(lr, "cosine") for lr in args.cosine_lrs]
        try:
            spec = HardSpec.from_switches(args.off)
            text = run_hard(out, args.timeline, args.seeds, args.steps, args.eval_every,
                            args.methods or (list(METHODS) if args.baselines else ["wsal"]), args.feature_dim, spec, args.overrides,
                            args.device, list(TIOU_PRESETS["thumos"]), tuple(args.timeline_subsets), optims,
                            args.max_videos, args.resume)  # fmt: skip
        except WsalError as err:
            raise SystemExit(f"accuracy_synthetic: {err}") from None
        print(text)
        return
    overrides = list(args.overrides)
    if "changepoint" in args.modes:
        overrides.insert(0, "changepoint.enabled=true")
    config = config_from_dict(ExperimentConfig, apply_overrides(DEMO_CONFIG, overrides), "demo config")
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=args.steps))
    tiou = list(TIOU_PRESETS["thumos"])
    results: list = []
    other_subsets = (["heldout"] if args.heldout > 0 else []) + [config.data.train_subset]
    other_results: dict[str, list] = {subset: [] for subset in other_subsets}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for seed in args.seeds:
        try:
            store, gt = make_synthetic_dataset(
                out / f"data_{seed}", seed=seed, feature_dim=args.feature_dim, num_heldout_videos=args.heldout,
                core_fraction=args.core_fraction,
            )
        except WsalError as err:  # bad --feature-dim / --heldout / --core-fraction: one line, nothing written yet
            raise SystemExit(f"accuracy_synthetic: {err}") from None
        results += run_seed(config, store, gt, out, seed, tiou, args.modes, "test", args.device)
        print(format_per_seed(results[-len(args.modes):]), flush=True)
        run_dir = out / f"seed_{seed}"
        for subset in other_subsets:
            other_results[subset] += localize_and_evaluate(
                run_dir / "model.pt", store, gt, subset, run_dir / f"raw_{subset}.h5", run_dir / f"pred_{subset}_",
                seed, tiou, args.modes, args.device,
            )  # fmt: skip
            print(f"{subset} subset: " + format_per_seed(other_results[subset][-len(args.modes):]), flush=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    titles = {"heldout": "HELD-OUT subset (not trained on, not the test subset; choices are made here)",
              config.data.train_subset: f"TRAINING subset ({config.data.train_subset!r}, trained on: optimistic)"}
    text = (
        f"synthetic THUMOS-timed set, feature_dim {args.feature_dim}, core_fraction {args.core_fraction}, "
        f"{args.steps} steps, seeds {args.seeds}, "
        f"held-out videos {args.heldout}, device {args.device}, overrides {overrides}\n{format_per_seed(results)}\n\n"
        f"TEST subset: mAP (%) mean ± std (sample std over seeds)\n{format_summary(summarize(results))}\n\n"
        + "".join(f"{titles[subset]}:\n{format_summary(summarize(other_results[subset]))}\n\n" for subset in other_subsets)
        + f"wall {wall:.0f} s, process CPU {cpu:.0f} s\n"
    )
    print(text)
    (out / "summary.md").write_text(text)


if __name__ == "__main__":
    main()
