"""The hard synthetic benchmark with peer baselines: train, tune on "tuning", report "test".

Used by ``bench/accuracy_synthetic.py --preset hard`` (see there for the command line). For every
seed: one hard synthetic set (wsal.synthetic.hard, real timing from ``--timeline``), then for every
method and every learning rate of ``--lrs`` the same training config (:data:`HARD_CONFIG` + the
method's overrides + ``--set``), with a checkpoint every ``--eval-every`` steps. Raw network
outputs of the final model are kept for the tuning and test subsets.

The learning rate and the post-processing are chosen per method on the tuning subset only: every
learning rate x every point of :func:`localize_grid` is scored on every seed's tuning raw file,
and the pair with the best mean average mAP over seeds is the method's setting (a method whose
training collapses at a high rate simply gets a lower one). Only then is the test subset
evaluated, once per method, at that setting. The convergence columns evaluate every saved checkpoint on the test
subset at the chosen setting: a reported curve, never a choice (the final model is always the
last step).

What this module does not do: choose anything on the test subset, or draw data of its own.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from wsal.config import ExperimentConfig, apply_overrides, config_from_dict
from wsal.eval.io import load_ground_truth
from wsal.multiseed import SeedResult, evaluate_raw, format_summary, summarize

# Training config of every method on the hard benchmark: THUMOS-like batches (16 videos of at
# most 320 snippets), a 128-channel embedding for 2-core CPUs; the learning rate is chosen per
# method on the tuning subset from ``--lrs`` (the papers' 1e-4 for BaS-Net and CoLA is one of them).
HARD_CONFIG: dict = {
    "name": "hard-benchmark",
    "data": {"train_subset": "train", "test_subset": "test", "num_snippets": 320},
    "mil": {"embed_dim": 128},
    "train": {"batch_size": 16, "lr": 1e-4, "log_every": 50},
}

# Method name -> overrides: the default model, wsal's three-view attention MIL without background
# suppression and without the detector (the model before suppression), and the two peers.
METHODS: dict[str, list[str]] = {
    "wsal": [],
    "attention-mil": ["mil.suppression=false", "changepoint.enabled=false"],
    "basnet": ["mil.method=basnet"],
    "cola": ["mil.method=cola"],
}

SIGNALS = ("cas", "cas_x_attention", "both")
ACT_THRESHOLDS = (
    (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2),
)
CLASS_THRESHOLDS = (0.05, 0.2)


def localize_grid() -> list[list[str]]:
    """Every post-processing setting tried on the tuning subset (threshold boundaries)."""
    return [
        [f"localize.signal={sig}", f"localize.act_thresholds={list(act)}", f"localize.class_threshold={ct}"]
        for sig, act, ct in itertools.product(SIGNALS, ACT_THRESHOLDS, CLASS_THRESHOLDS)
    ]


@dataclass
class MethodRun:
    method: str
    seed: int
    run_dir: Path
    gt: Path
    train_s: float  # wall time of training
    steps: int
    lr: float


def method_config(method: str, steps: int, eval_every: int, overrides: Sequence[str]) -> ExperimentConfig:
    """HARD_CONFIG + the method's overrides + ``overrides``, ``steps`` steps, a checkpoint every ``eval_every``."""
    config = config_from_dict(ExperimentConfig, apply_overrides(HARD_CONFIG, [*METHODS[method], *overrides]), "hard config")
    train = dataclasses.replace(config.train, max_steps=steps, checkpoint_every=eval_every)
    return dataclasses.replace(config, train=train)


def train_method(method: str, seed: int, store: Path, gt: Path, out: Path, steps: int, eval_every: int,
                 overrides: Sequence[str], device: str, lr: float | None = None) -> MethodRun:  # fmt: skip
    """Train one method on one seed's set (at ``lr``, default HARD_CONFIG's); keep raw outputs of
    the final model on tuning and test."""
    from wsal.train import train

    config = method_config(method, steps, eval_every, overrides)
    lr = config.train.lr if lr is None else lr
    run_dir = out / f"{method}_lr{lr:g}_seed_{seed}"
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed, lr=lr))
    t0 = time.perf_counter()
    checkpoint = train(config, store, gt, run_dir, device=device)
    train_s = time.perf_counter() - t0
    for subset in ("tuning", "test"):
        raw_for(checkpoint, store, gt, subset, run_dir / f"raw_{subset}_step_{steps}.h5", device)
    return MethodRun(method, seed, run_dir, gt, train_s, steps, lr)


def raw_for(checkpoint: Path, store: Path, gt: Path, subset: str, raw: Path, device: str) -> Path:
    """Raw outputs of ``checkpoint`` on ``subset`` (written once; kept next to the run)."""
    from wsal.commands.localize import localize_from_network

    if not raw.is_file():
        localize_from_network(checkpoint=checkpoint, features=store, annotations=gt, subset=subset,
                              out=raw.with_suffix(".json"), overrides=[], save_raw=raw, skip_missing=False, device=device)  # fmt: skip
    return raw


def choose_setting(runs: Sequence[MethodRun], tiou: Sequence[float], tmp: Path) -> tuple[list[str], float]:
    """The grid point with the best mean (over the runs' seeds) tuning average mAP: (overrides, score)."""
    best: tuple[list[str], float] = ([], -1.0)
    gts = [load_ground_truth(r.gt).subset("tuning") for r in runs]  # read once, scored at every grid point
    for overrides in localize_grid():
        scores = [
            evaluate_raw(r.run_dir / f"raw_tuning_step_{r.steps}.h5", gt, tmp / "tuning.json", overrides, r.seed, r.method, tiou).average_mAP
            for r, gt in zip(runs, gts)
        ]
        score = float(np.mean(scores))
        if score > best[1]:
            best = (overrides, score)
    return best


def test_results(run: MethodRun, overrides: list[str], tiou: Sequence[float], tmp: Path) -> SeedResult:
    gt = load_ground_truth(run.gt).subset("test")
    return evaluate_raw(run.run_dir / f"raw_test_step_{run.steps}.h5", gt, tmp / "test.json", overrides, run.seed, run.method, tiou)


def convergence(run: MethodRun, store: Path, overrides: list[str], tiou: Sequence[float], tmp: Path, device: str,
                final: SeedResult) -> list[tuple[int, float]]:  # fmt: skip
    """(step, test average mAP) at every saved checkpoint, then the final step's (``final``, from
    :func:`test_results`), at the chosen setting."""
    gt = load_ground_truth(run.gt).subset("test")
    points = []
    steps = sorted(int(p.stem.removeprefix("step_")) for p in (run.run_dir / "checkpoints").glob("step_*.pt"))
    for step in steps:
        raw = raw_for(run.run_dir / "checkpoints" / f"step_{step}.pt", store, run.gt, "test",
                      run.run_dir / f"raw_test_step_{step}.h5", device)  # fmt: skip
        points.append((step, evaluate_raw(raw, gt, tmp / "curve.json", overrides, run.seed, run.method, tiou).average_mAP))
    points.append((run.steps, final.average_mAP))
    return points


def steps_to_fraction(points: Sequence[tuple[int, float]], fraction: float = 0.95) -> int:
    """The first step whose score reaches ``fraction`` of the final score.

    >>> steps_to_fraction([(100, 0.1), (200, 0.29), (300, 0.3)])
    200
    """
    final = points[-1][1]
    return next(step for step, score in points if score >= fraction * final)


def format_convergence(rows: dict[str, list[tuple[int, float]]]) -> str:
    """Markdown: per method, steps and training seconds to 95 % of the final score (mean ± std over seeds)."""
    lines = ["| method | steps to 95 % of final (mean ± std) | training time to 95 % (s) | s/step |", "|---|---|---|---|"]
    for method, per_seed in rows.items():
        steps = np.array([s for s, _ in per_seed], dtype=float)
        rates = np.array([r for _, r in per_seed], dtype=float)
        ddof = 1 if len(steps) > 1 else 0
        lines.append(f"| {method} | {steps.mean():.0f} ± {steps.std(ddof=ddof):.0f} | "
                     f"{(steps * rates).mean():.0f} | {rates.mean():.3f} |")  # fmt: skip
    return "\n".join(lines)


def run_hard(out: Path, timeline: Path, seeds: Sequence[int], steps: int, eval_every: int, methods: Sequence[str],
             feature_dim: int, spec, overrides: Sequence[str], device: str, tiou: Sequence[float],
             timeline_subsets: tuple[str, str] = ("validation", "test"), lrs: Sequence[float] = (1e-4,),
             max_videos: int | None = None) -> str:  # fmt: skip
    """The whole benchmark (module docstring); returns the text of the summary (also in OUT/summary.md)."""
    import tempfile

    from wsal.synthetic.hard import make_hard_dataset

    wall0 = time.perf_counter()
    runs: dict[tuple[str, float], list[MethodRun]] = {(m, lr): [] for m in methods for lr in lrs}
    stores: dict[int, Path] = {}
    for seed in seeds:
        store, gt = make_hard_dataset(out / f"data_{seed}", timeline, seed=seed, spec=spec, feature_dim=feature_dim,
                                       train_subset=timeline_subsets[0], eval_subset=timeline_subsets[1],
                                       max_videos=max_videos)
        stores[seed] = store
        for method in methods:
            for lr in lrs:
                runs[method, lr].append(train_method(method, seed, store, gt, out, steps, eval_every, overrides, device, lr))
                print(f"trained {method} at lr {lr:g}, seed {seed}, in {runs[method, lr][-1].train_s:.0f} s", flush=True)
    results: list[SeedResult] = []
    chosen: dict[str, tuple[float, list[str], float]] = {}  # method -> (lr, overrides, tuning score)
    curves: dict[str, list[tuple[int, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for method in methods:
            for lr in lrs:
                setting, score = choose_setting(runs[method, lr], tiou, tmp)
                print(f"{method} at lr {lr:g}: best on tuning {' '.join(setting)} ({100 * score:.2f})", flush=True)
                if method not in chosen or score > chosen[method][2]:
                    chosen[method] = (lr, setting, score)
        for method in methods:
            lr, setting, _ = chosen[method]
            per_seed = []
            for r in runs[method, lr]:
                results.append(test_results(r, setting, tiou, tmp))
                points = convergence(r, stores[r.seed], setting, tiou, tmp, device, results[-1])
                (r.run_dir / "test_curve.json").write_text(json.dumps(points))
                per_seed.append((steps_to_fraction(points), r.train_s / r.steps))
            curves[method] = per_seed
    text = (
        f"hard synthetic benchmark, timeline {timeline}, feature_dim {feature_dim}, {steps} steps, seeds {list(seeds)}, "
        f"device {device}, overrides {list(overrides)}, learning rates tried {list(lrs)}\nspec: {spec.describe()}\n\n"
        f"TEST subset, mAP (%) mean ± std over seeds (learning rate and post-processing chosen on the tuning subset per method)\n"
        f"{format_summary(summarize(results), 'method (seeds)')}\n\n"
        + "".join(f"{m}: lr {chosen[m][0]:g}, {' '.join(o.removeprefix('localize.') for o in chosen[m][1])} "
                  f"(tuning avg {100 * chosen[m][2]:.2f})\n" for m in methods)
        + f"\nConvergence on the test subset (checkpoints every {eval_every} steps, at the chosen setting)\n"
        + format_convergence(curves)
        + f"\n\nwall {time.perf_counter() - wall0:.0f} s\n"
    )
    (out / "summary.md").write_text(text)
    return text
