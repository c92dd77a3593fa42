"""The hard synthetic benchmark with peer baselines: train, tune on "tuning", report "test".

Used by ``bench/accuracy_synthetic.py --preset hard`` (see there for the command line). For every
seed: one hard synthetic set (wsal.synthetic.hard, real timing from ``--timeline``), then for every
method and every optimisation setting (a learning rate of ``--lrs`` with a constant rate, or one
of ``--cosine-lrs`` with cosine decay, train.lr_schedule) the same training config
(:data:`HARD_CONFIG` + the method's overrides + ``--set``), with a checkpoint every
``--eval-every`` steps. Raw network outputs of the final model are kept for the tuning and test
subsets. ``--resume`` reuses the runs already in OUT (a finished run is checked against the config
and not trained again; an unfinished one continues from its last checkpoint).

The optimisation setting and the post-processing are chosen per method on the tuning subset only,
by the same rule for every method: every setting x every point of :func:`localize_grid` is scored
on every seed's tuning raw file, then ``localize.extend_ratio`` (:data:`EXTEND_RATIOS`) with either
NMS, each without and (for methods whose raw files hold a plain CAS: wsal, BaS-Net) with
``localize.base_proposals``, at each of the :data:`GRID_BEAM` best points, then ``localize.video_score_weight``
(:data:`VIDEO_SCORE_WEIGHTS`) at the best of those, and each setting keeps its best post-processing (mean average mAP over seeds). Settings
within :data:`SCORE_TOLERANCE` of the method's best tuning score count as equally accurate (a
method whose training collapses at a high rate falls out here); among them the one that reaches
95 % of its final tuning score in the fewest steps (mean over seeds, every saved checkpoint scored
on tuning) is the method's setting, a tie going to the higher score. Only then
is the test subset evaluated, once per method, at that setting. The convergence columns evaluate
every saved checkpoint on the test subset at the chosen setting: a reported curve, never a choice
(the final model is always the last step). A per-seed table gives each seed's test average and its
steps to 95 %.

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

from wsal.annotations import load_ground_truth
from wsal.config import ExperimentConfig, LocalizeConfig, apply_overrides, config_from_dict
from research.multiseed import RawScorer, SeedResult, format_summary, summarize

# Training config of every method on the hard benchmark: THUMOS-like batches (16 videos of at
# most 320 snippets), a 128-channel embedding for 2-core CPUs; the learning rate is chosen per
# method on the tuning subset with the schedule from ``--lrs`` / ``--cosine-lrs`` (the papers' constant
# 1e-4 for BaS-Net and CoLA is one of them).
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

# Tuning scores closer than this (0.5 points of average mAP) to a method's best count as equally
# accurate when its optimisation setting is chosen: well inside the seed spread (1-6 points).
SCORE_TOLERANCE = 0.005

SIGNALS = ("cas", "cas_x_attention", "both")
ACT_THRESHOLDS = (
    (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2),
    (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05),
)
CLASS_THRESHOLDS = (0.05, 0.2)
# Class-wise NMS (wsal.localize, step 6): hard suppression, the default, first (a tie keeps it), or
# Gaussian soft-NMS, which keeps overlapping runs at decayed scores: THUMOS-timed videos hold many
# short, close instances, and one hard pick per cluster drops the neighbours.
NMS_MODES = ("hard", "soft")
# Proposal extensions tried at the best grid point (wsal.localize, step 3) with either NMS, chosen
# second, for every method alike: 8 more scorings instead of 5 times the grid. The best thresholds can move with the
# ratio (at 0.3 and 0.5 they did for wsal on a 512-column ActivityNet-timed tuning set), so a joint
# choice could score a little higher for some method.
EXTEND_RATIOS = (0.0, 0.1, 0.2, 0.3, 0.5)
# Proposals from the plain CAS (wsal.localize, step 2), tried with every extension and NMS at the
# best grid point, for every method whose raw files hold one (BaS-Net's base branch, wsal's
# unsuppressed CAS); off first, so a tie keeps the grid's answer.
BASE_PROPOSALS = (False, True)
# The later stages (plain-CAS proposals, extension, NMS) run at this many of the grid's best points,
# not at its best alone: plain-CAS proposals can lift a point the grid ranked second or third
# above the grid's best (with THUMOS timing they did for wsal once segments were no longer capped
# at 100 per video: experiments/notes/2026-12-07-segments-per-video.md).
GRID_BEAM = 3
# The video score's weight in a proposal's score (localize.video_score_weight; wsal.localize,
# step 4), tried last at the chosen setting, for every method alike; the default first, so a tie
# keeps it. With many classes and long actions the video-level ranking can cost more than it adds.
VIDEO_SCORE_WEIGHTS = (0.2, 0.0, 0.1, 0.5)
# Localization keys scored at today's default, not chosen: a run reused with --resume saved the
# defaults of the wsal that trained it, and would otherwise score as that wsal did.
FIXED_LOCALIZE = (f"localize.max_per_video={LocalizeConfig().max_per_video}",)


def localize_grid() -> list[list[str]]:
    """Every post-processing setting tried on the tuning subset (threshold boundaries): the
    hard-NMS points first, in the order of the other settings, then the same with soft-NMS.

    Plain-CAS proposals are off on the grid (:data:`BASE_PROPOSALS` is tried afterwards); every
    point starts with :data:`FIXED_LOCALIZE`, which the later stages keep.

    >>> grid = localize_grid()
    >>> len(grid), len({tuple(p) for p in grid}), grid[0][-2:], grid[-1][-1]
    (48, 48, ['localize.base_proposals=false', 'localize.nms=hard'], 'localize.nms=soft')
    """
    return [
        [*FIXED_LOCALIZE, f"localize.signal={sig}", f"localize.act_thresholds={list(act)}", f"localize.class_threshold={ct}",
         "localize.base_proposals=false", f"localize.nms={nms}"]
        for nms, sig, act, ct in itertools.product(NMS_MODES, SIGNALS, ACT_THRESHOLDS, CLASS_THRESHOLDS)
    ]  # fmt: skip


@dataclass(frozen=True)
class Optim:
    """One optimisation setting: learning rate and schedule (train.lr, train.lr_schedule)."""

    lr: float
    schedule: str = "constant"

    def label(self) -> str:
        return f"lr {self.lr:g}" + (f" {self.schedule}" if self.schedule != "constant" else "")


@dataclass
class MethodRun:
    method: str
    seed: int
    run_dir: Path
    gt: Path
    train_s: float  # training time: the sum of the log's step intervals (steps / steps_per_s per row)
    steps: int
    optim: Optim


def method_config(method: str, steps: int, eval_every: int, overrides: Sequence[str]) -> ExperimentConfig:
    """HARD_CONFIG + the method's overrides + ``overrides``, ``steps`` steps, a checkpoint every ``eval_every``."""
    config = config_from_dict(ExperimentConfig, apply_overrides(HARD_CONFIG, [*METHODS[method], *overrides]), "hard config")
    train = dataclasses.replace(config.train, max_steps=steps, checkpoint_every=eval_every)
    return dataclasses.replace(config, train=train)


def run_folder(out: Path, method: str, optim: Optim, seed: int) -> Path:
    """OUT/<method>_lr<lr>[_<schedule>]_seed_<seed> (constant-rate runs keep the plain name)."""
    schedule = "" if optim.schedule == "constant" else f"_{optim.schedule}"
    return out / f"{method}_lr{optim.lr:g}{schedule}_seed_{seed}"


def training_seconds(log_csv: Path) -> float:
    """Training time of a run from its log.csv: each row's steps divided by its steps_per_s."""
    import csv

    with log_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    total, previous = 0.0, 0
    for row in rows:
        step = int(row["step"])
        total += (step - previous) / float(row["steps_per_s"])
        previous = step
    return total


def train_method(method: str, seed: int, store: Path, gt: Path, out: Path, steps: int, eval_every: int,
                 overrides: Sequence[str], device: str, optim: Optim, resume: bool = False) -> MethodRun:  # fmt: skip
    """Train one method on one seed's set at ``optim``; keep raw outputs of the final model on
    tuning and test. ``resume``: continue or reuse what the run folder already holds."""
    from wsal.train import latest_checkpoint, train

    config = method_config(method, steps, eval_every, overrides)
    run_dir = run_folder(out, method, optim, seed)
    train_cfg = dataclasses.replace(config.train, seed=seed, lr=optim.lr, lr_schedule=optim.schedule)
    config = dataclasses.replace(config, train=train_cfg)
    checkpoint = train(config, store, gt, run_dir, resume=resume and latest_checkpoint(run_dir) is not None, device=device)
    for subset in ("tuning", "test"):
        raw_for(checkpoint, store, gt, subset, run_dir / f"raw_{subset}_step_{steps}.h5", device)
    return MethodRun(method, seed, run_dir, gt, training_seconds(run_dir / "log.csv"), steps, optim)


def raw_for(checkpoint: Path, store: Path, gt: Path, subset: str, raw: Path, device: str) -> Path:
    """Raw outputs of ``checkpoint`` on ``subset`` (written once; kept next to the run)."""
    from wsal.inference import localize_from_network

    if not raw.is_file():
        localize_from_network(checkpoint=checkpoint, features=store, annotations=gt, subset=subset,
                              out=raw.with_suffix(".json"), overrides=[], save_raw=raw, skip_missing=False, device=device)  # fmt: skip
    return raw


def choose_setting(runs: Sequence[MethodRun], tiou: Sequence[float]) -> tuple[list[str], float]:
    """The post-processing with the best mean (over the runs' seeds) tuning average mAP: every
    point of :func:`localize_grid`, then at the thresholds, signal and class threshold of each of
    its :data:`GRID_BEAM` best points, best first, every combination of :data:`BASE_PROPOSALS` x
    :data:`EXTEND_RATIOS` x :data:`NMS_MODES` (an extension can change which NMS is best;
    plain-CAS proposals only where every raw file holds a plain CAS; a tie keeps the earlier:
    the grid's best point, then the better grid point, then without plain-CAS proposals, then the
    smaller ratio, then hard NMS); last, at the best of all that, each of
    :data:`VIDEO_SCORE_WEIGHTS` (a tie keeps the default). Returns (overrides, score)."""
    scorers = [
        RawScorer(r.run_dir / f"raw_tuning_step_{r.steps}.h5", load_ground_truth(r.gt).subset("tuning"), r.seed, r.method, tiou)
        for r in runs
    ]  # each raw file read once, scored at every setting

    def score(overrides: list[str]) -> float:
        return float(np.mean([scorer(overrides).average_mAP for scorer in scorers]))

    def keep_best(best: tuple[list[str], float], candidates) -> tuple[list[str], float]:
        """``best``, or the first candidate scoring higher than it and every earlier one (a tie keeps the earlier)."""
        for overrides in candidates:
            s = score(overrides)
            if s > best[1]:
                best = (overrides, s)
        return best

    grid = localize_grid()
    grid_scores = [score(overrides) for overrides in grid]
    ranked = sorted(range(len(grid)), key=lambda i: -grid_scores[i])  # stable: a tie keeps grid order
    best = (grid[ranked[0]], grid_scores[ranked[0]])
    has_base = all(v.base_probs is not None for scorer in scorers for v in scorer.videos)
    # the beam's points without their NMS and plain-CAS settings, best first: two points that differ
    # only there (hard and soft NMS at one threshold set) refine to the same candidates, scored once
    points = dict.fromkeys(
        tuple(o for o in grid[i] if not o.startswith(("localize.nms=", "localize.base_proposals="))) for i in ranked[:GRID_BEAM]
    )
    for point in points:
        best = keep_best(best, (
            [*point, f"localize.base_proposals={str(base).lower()}", f"localize.nms={nms}", f"localize.extend_ratio={ratio}"]
            for base, ratio, nms in itertools.product(BASE_PROPOSALS if has_base else (False,), EXTEND_RATIOS, NMS_MODES)
            if base or ratio != 0.0  # the grid scored the rest
        ))
    # every setting so far ran at the default weight, VIDEO_SCORE_WEIGHTS[0]: its score is best's
    chosen = best[0]
    return keep_best(([*chosen, f"localize.video_score_weight={VIDEO_SCORE_WEIGHTS[0]}"], best[1]),
                     ([*chosen, f"localize.video_score_weight={w}"] for w in VIDEO_SCORE_WEIGHTS[1:]))


def tuning_steps_to_95(runs: Sequence[MethodRun], store_of: dict[int, Path], overrides: list[str],
                       tiou: Sequence[float], device: str) -> float:  # fmt: skip
    """Mean over the runs' seeds of the steps to 95 % of the final score, every checkpoint scored on tuning."""
    found = []
    for run in runs:
        gt = load_ground_truth(run.gt).subset("tuning")
        points = checkpoint_curve(run, store_of[run.seed], "tuning", gt, overrides, tiou, device)
        final = run.run_dir / f"raw_tuning_step_{run.steps}.h5"
        points.append((run.steps, RawScorer(final, gt, run.seed, run.method, tiou)(overrides).average_mAP))
        found.append(steps_to_fraction(points))
    return float(np.mean(found))


def checkpoint_curve(run: MethodRun, store: Path, subset: str, gt, overrides: list[str], tiou: Sequence[float],
                     device: str) -> list[tuple[int, float]]:  # fmt: skip
    """(step, average mAP on ``subset``) at every saved intermediate checkpoint (``gt``: that subset's ground truth)."""
    points = []
    for step in checkpoint_steps(run):
        raw = raw_for(run.run_dir / "checkpoints" / f"step_{step}.pt", store, run.gt, subset,
                      run.run_dir / f"raw_{subset}_step_{step}.h5", device)  # fmt: skip
        points.append((step, RawScorer(raw, gt, run.seed, run.method, tiou)(overrides).average_mAP))
    return points


def checkpoint_steps(run: MethodRun) -> list[int]:
    """Steps of the run's saved intermediate checkpoints, ascending."""
    return sorted(int(p.stem.removeprefix("step_")) for p in (run.run_dir / "checkpoints").glob("step_*.pt"))


def choose_optim(method: str, runs: dict[Optim, list[MethodRun]], store_of: dict[int, Path], tiou: Sequence[float],
                 device: str, log=print) -> tuple[Optim, list[str], float, float | None]:  # fmt: skip
    """The method's setting by the module docstring's rule: (optim, post-processing, tuning score,
    tuning steps to 95 % or None when only one setting was close enough to need it)."""
    scored = {}
    for optim, per_seed in runs.items():
        scored[optim] = choose_setting(per_seed, tiou)
        log(f"{method} at {optim.label()}: best on tuning {' '.join(scored[optim][0])} ({100 * scored[optim][1]:.2f})")
    best = max(score for _, score in scored.values())
    close = [o for o in runs if scored[o][1] >= best - SCORE_TOLERANCE]
    if len(close) == 1:
        return close[0], scored[close[0]][0], scored[close[0]][1], None
    speed = {o: tuning_steps_to_95(runs[o], store_of, scored[o][0], tiou, device) for o in close}
    for o in close:
        log(f"{method} at {o.label()}: within {100 * SCORE_TOLERANCE:g} of the best, {speed[o]:.0f} steps to 95 % on tuning")
    chosen = min(close, key=lambda o: (speed[o], -scored[o][1]))
    return chosen, scored[chosen][0], scored[chosen][1], speed[chosen]


def test_results(run: MethodRun, overrides: list[str], tiou: Sequence[float]) -> SeedResult:
    gt = load_ground_truth(run.gt).subset("test")
    return RawScorer(run.run_dir / f"raw_test_step_{run.steps}.h5", gt, run.seed, run.method, tiou)(overrides)


def convergence(run: MethodRun, store: Path, overrides: list[str], tiou: Sequence[float], device: str,
                final: SeedResult) -> list[tuple[int, float]]:  # fmt: skip
    """(step, test average mAP) at every saved checkpoint, then the final step's (``final``, from
    :func:`test_results`), at the chosen setting."""
    points = checkpoint_curve(run, store, "test", load_ground_truth(run.gt).subset("test"), overrides, tiou, device)
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


def format_per_seed(results: Sequence[SeedResult], steps: dict[str, dict[int, int]]) -> str:
    """Markdown: per method (rows) and seed (columns), the test average mAP (%) and, in brackets,
    the steps to 95 % of that seed's final score (``steps[method][seed]``): what a mean ± std hides,
    such as one seed on which a peer is ahead or converges later.

    >>> rs = [SeedResult(s, m, (0.5,), np.array([v]), v, 1) for s, m, v in ((0, "a", 0.6), (1, "a", 0.5), (0, "b", 0.4))]
    >>> print(format_per_seed(rs, {"a": {0: 200, 1: 300}, "b": {0: 400}}))
    | method | seed 0 | seed 1 |
    |---|---|---|
    | a | 60.0 (200) | 50.0 (300) |
    | b | 40.0 (400) |  |
    """
    seeds = sorted({r.seed for r in results})
    lines = ["| " + " | ".join(["method", *(f"seed {s}" for s in seeds)]) + " |", "|" + "---|" * (len(seeds) + 1)]
    for method in dict.fromkeys(r.mode for r in results):
        mine = {r.seed: r for r in results if r.mode == method}
        cells = [f"{100 * mine[s].average_mAP:.1f} ({steps[method][s]})" if s in mine else "" for s in seeds]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_leads(results: Sequence[SeedResult], first: str) -> str:
    """Markdown: the lead of method ``first`` over each other method, paired by seed (every method
    of a seed trains and is tested on the same generated sets): per tIoU and on average, the mean ±
    std over seeds of the per-seed difference in mAP (%), and its smallest value in brackets. A
    positive smallest value means ``first`` was ahead on every seed.

    >>> rs = [SeedResult(s, m, (0.5,), np.array([v]), v, 1) for s, m, v in ((0, "a", 0.6), (1, "a", 0.5), (0, "b", 0.4), (1, "b", 0.45))]
    >>> print(format_leads(rs, "a"))
    | a minus (seeds) | 0.5 | avg |
    |---|---|---|
    | b (0, 1) | 12.5 ± 10.6 (5.0) | 12.5 ± 10.6 (5.0) |
    """
    mine = {r.seed: r for r in results if r.mode == first}
    others = [m for m in dict.fromkeys(r.mode for r in results) if m != first]
    if not mine or not others:
        return "(no other method)"
    tiou = next(iter(mine.values())).tiou
    lines = ["| " + " | ".join([f"{first} minus (seeds)", *(f"{t:g}" for t in tiou), "avg"]) + " |", "|" + "---|" * (len(tiou) + 2)]
    for other in others:
        pairs = [(mine[r.seed], r) for r in results if r.mode == other and r.seed in mine]
        diff = np.array([np.append(a.mAP, a.average_mAP) - np.append(b.mAP, b.average_mAP) for a, b in pairs]) * 100  # (S, K+1)
        std = diff.std(axis=0, ddof=1 if len(pairs) > 1 else 0)
        cells = [f"{m:.1f} ± {d:.1f} ({lo:.1f})" for m, d, lo in zip(diff.mean(axis=0), std, diff.min(axis=0))]
        lines.append(f"| {other} ({', '.join(str(a.seed) for a, _ in pairs)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_hard(out: Path, timeline: Path, seeds: Sequence[int], steps: int, eval_every: int, methods: Sequence[str],
             feature_dim: int, spec, overrides: Sequence[str], device: str, tiou: Sequence[float],
             timeline_subsets: tuple[str, str] = ("validation", "test"), optims: Sequence[Optim] = (Optim(1e-4),),
             max_videos: int | None = None, resume: bool = False) -> str:  # fmt: skip
    """The whole benchmark (module docstring); returns the text of the summary (also in OUT/summary.md)."""
    from wsal.synthetic.hard import make_hard_dataset

    wall0 = time.perf_counter()
    runs: dict[str, dict[Optim, list[MethodRun]]] = {m: {o: [] for o in optims} for m in methods}
    stores: dict[int, Path] = {}
    for seed in seeds:
        store, gt = make_hard_dataset(out / f"data_{seed}", timeline, seed=seed, spec=spec, feature_dim=feature_dim,
                                       train_subset=timeline_subsets[0], eval_subset=timeline_subsets[1],
                                       max_videos=max_videos)
        stores[seed] = store
        for method in methods:
            for optim in optims:
                run = train_method(method, seed, store, gt, out, steps, eval_every, overrides, device, optim, resume)
                runs[method][optim].append(run)
                print(f"trained {method} at {optim.label()}, seed {seed}, in {run.train_s:.0f} s", flush=True)
    results: list[SeedResult] = []
    chosen: dict[str, tuple[Optim, list[str], float, float | None]] = {}
    curves: dict[str, list[tuple[int, float]]] = {}
    seed_steps: dict[str, dict[int, int]] = {}
    for method in methods:
        chosen[method] = choose_optim(method, runs[method], stores, tiou, device, log=lambda line: print(line, flush=True))
    for method in methods:
        optim, setting, _, _ = chosen[method]
        per_seed = []
        for r in runs[method][optim]:
            results.append(test_results(r, setting, tiou))
            points = convergence(r, stores[r.seed], setting, tiou, device, results[-1])
            (r.run_dir / "test_curve.json").write_text(json.dumps(points))
            per_seed.append((steps_to_fraction(points), r.train_s / r.steps))
            seed_steps.setdefault(method, {})[r.seed] = per_seed[-1][0]
        curves[method] = per_seed
    text = (
        f"hard synthetic benchmark, timeline {timeline}, feature_dim {feature_dim}, {steps} steps, seeds {list(seeds)}, "
        f"device {device}, overrides {list(overrides)}, optimisation settings tried {[o.label() for o in optims]}\n"
        f"spec: {spec.describe()}\n\n"
        f"TEST subset, mAP (%) mean ± std over seeds (optimisation setting and post-processing chosen on the tuning subset per method)\n"
        f"{format_summary(summarize(results), 'method (seeds)')}\n\n"
        + "".join(f"{m}: {o.label()}, {' '.join(s.removeprefix('localize.') for s in ov)} (tuning avg {100 * sc:.2f}"
                  + (f", {sp:.0f} steps to 95 % on tuning" if sp is not None else "") + ")\n"
                  for m, (o, ov, sc, sp) in chosen.items())
        + (f"\nLead of {methods[0]} on the test subset, paired by seed: mean ± std of the per-seed difference (smallest)\n"
           f"{format_leads(results, methods[0])}\n" if len(methods) > 1 else "")
        + f"\nConvergence on the test subset (checkpoints every {eval_every} steps, at the chosen setting)\n"
        + format_convergence(curves)
        + "\n\nPer seed on the test subset: average mAP (%) and, in brackets, steps to 95 % of that seed's final score\n"
        + format_per_seed(results, seed_steps)
        + f"\n\nwall {time.perf_counter() - wall0:.0f} s\n"
    )
    (out / "summary.md").write_text(text)
    return text
