"""Several training seeds of one experiment: train, localize, evaluate each, then mean and std of mAP.

For each seed s: ``train`` with ``train.seed = s`` into ``OUT/seed_s``, localize the test subset
once through the network (raw outputs kept in ``OUT/seed_s/raw.h5``), then post-process that raw
file once per requested boundary mode (``localize.boundaries``) and evaluate each. A mode the
model cannot serve yet raises like ``wsal localize`` would. std is the sample standard deviation
(ddof = 1; 0 for a single seed).

Used by experiments/seeds.py and bench/accuracy_synthetic.py.

What this module does not do: choose settings by test score (every seed runs the same config),
or create data.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from wsal.config import ExperimentConfig

if TYPE_CHECKING:
    from wsal.annotations import GroundTruth


@dataclass(frozen=True)
class SeedResult:
    seed: int
    mode: str  # localize.boundaries used for post-processing
    tiou: tuple[float, ...]
    mAP: np.ndarray  # (K,)
    average_mAP: float
    num_predictions: int


def run_seed(
    config: ExperimentConfig,
    features: str | os.PathLike,
    annotations: str | os.PathLike,
    out_dir: str | os.PathLike,
    seed: int,
    tiou: Sequence[float],
    modes: Sequence[str] = ("threshold",),
    subset: str | None = None,
    device: str = "auto",
) -> list[SeedResult]:
    """Train one seed, localize once, evaluate each boundary mode; one result per mode."""
    from wsal.train import train

    run_dir = Path(out_dir) / f"seed_{seed}"
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
    checkpoint = train(config, features, annotations, run_dir, device=device)
    subset_name = subset or config.data.test_subset
    return localize_and_evaluate(
        checkpoint, features, annotations, subset_name, run_dir / "raw.h5", run_dir / "pred_", seed, tiou, modes, device
    )


def seed_folders(runs_dirs: Sequence[str | os.PathLike], raw_name: str) -> dict[int, Path]:
    """Seed -> the output folder (one of ``runs_dirs``) holding ``seed_S/<raw_name>``; a later folder wins.

    Several folders combine one experiment whose seeds ran as separate processes.
    """
    folders: dict[int, Path] = {}
    for runs_dir in map(Path, runs_dirs):
        for p in runs_dir.glob("seed_*"):
            if (p / raw_name).is_file():
                folders[int(p.name.removeprefix("seed_"))] = runs_dir
    return folders


def localize_and_evaluate(
    checkpoint: str | os.PathLike,
    features: str | os.PathLike,
    annotations: str | os.PathLike,
    subset: str,
    raw: Path,
    pred_prefix: Path,
    seed: int,
    tiou: Sequence[float],
    modes: Sequence[str],
    device: str = "auto",
) -> list[SeedResult]:
    """Localize ``subset`` once through the network (raw outputs kept in ``raw``), then post-process
    that raw file once per boundary mode and evaluate each; predictions go to ``{pred_prefix}{mode}.json``.
    """
    from wsal.inference import localize_from_network
    from wsal.annotations import load_ground_truth

    localize_from_network(
        checkpoint=Path(checkpoint),
        features=Path(features),
        annotations=Path(annotations),
        subset=subset,
        out=Path(f"{pred_prefix}network.json"),
        overrides=[],
        save_raw=raw,
        skip_missing=False,
        device=device,
    )
    gt = load_ground_truth(annotations).subset(subset)
    return [
        evaluate_raw(raw, gt, Path(f"{pred_prefix}{mode}.json"), [f"localize.boundaries={mode}"], seed, mode, tiou)
        for mode in modes
    ]


def evaluate_raw(
    raw: Path, gt: "GroundTruth", pred: Path, overrides: Sequence[str], seed: int, label: str, tiou: Sequence[float]
) -> SeedResult:
    """Post-process the raw file ``raw`` with ``overrides`` (localize.* keys) into ``pred``; its mAP on ``gt``."""
    from wsal.inference import localize_from_raw
    from wsal.eval.detection import detection_map
    from wsal.eval.io import load_predictions

    localize_from_raw(raw, pred, list(overrides))
    r = detection_map(gt, load_predictions(pred), tiou)
    return SeedResult(seed, label, tuple(float(t) for t in tiou), r.mAP, r.average_mAP, r.num_predictions)


class RawScorer:
    """One raw file held in memory, scored at any number of post-processing settings: for every
    ``overrides`` the same :class:`SeedResult` as :func:`evaluate_raw` (the same post-processing,
    wsal.inference.post_process, and the same scorer), without reading the raw file and writing and
    reading a predictions file each time, which was most of a grid search's time. Holds every
    video's outputs in memory, about the raw file's size (tens of MB for 400 videos of 100 classes)."""

    def __init__(self, raw: Path, gt: "GroundTruth", seed: int, label: str, tiou: Sequence[float]) -> None:
        from wsal.raw import RawReader

        with RawReader(raw) as reader:
            self.header = reader.header
            self.videos = list(reader)
        self.raw, self.gt, self.seed, self.label, self.tiou = raw, gt, seed, label, tuple(float(t) for t in tiou)

    def __call__(self, overrides: Sequence[str]) -> SeedResult:
        from wsal.eval.detection import detection_map
        from wsal.eval.io import predictions_from_results
        from wsal.inference import post_process, with_localize_overrides

        config = with_localize_overrides(self.header.config, list(overrides), f"{self.raw}: config").localize
        results = {v.video_id: post_process(v, self.header.grid, self.header.classes, config) for v in self.videos}
        r = detection_map(self.gt, predictions_from_results(results, str(self.raw)), self.tiou)
        return SeedResult(self.seed, self.label, self.tiou, r.mAP, r.average_mAP, r.num_predictions)


@dataclass(frozen=True)
class SeedSummary:
    mode: str
    seeds: tuple[int, ...]
    tiou: tuple[float, ...]
    mean: np.ndarray  # (K,) mean mAP per threshold
    std: np.ndarray  # (K,) sample std per threshold
    average_mean: float
    average_std: float


def summarize(results: Sequence[SeedResult]) -> list[SeedSummary]:
    """Mean and sample std over seeds, one summary per boundary mode (in first-seen order).

    >>> rs = [SeedResult(s, "threshold", (0.5,), np.array([m]), m, 1) for s, m in ((0, 0.4), (1, 0.6))]
    >>> s = summarize(rs)[0]
    >>> s.mean.round(3).tolist(), s.std.round(4).tolist(), round(s.average_std, 4)
    ([0.5], [0.1414], 0.1414)
    """
    out = []
    for mode in dict.fromkeys(r.mode for r in results):
        rows = [r for r in results if r.mode == mode]
        maps = np.stack([r.mAP for r in rows])  # (S, K)
        avgs = np.array([r.average_mAP for r in rows])  # (S,)
        ddof = 1 if len(rows) > 1 else 0
        out.append(
            SeedSummary(
                mode=mode,
                seeds=tuple(r.seed for r in rows),
                tiou=rows[0].tiou,
                mean=maps.mean(axis=0),
                std=maps.std(axis=0, ddof=ddof),
                average_mean=float(avgs.mean()),
                average_std=float(avgs.std(ddof=ddof)),
            )
        )
    return out


def format_summary(summaries: Sequence[SeedSummary], first_column: str = "mode (seeds)") -> str:
    """Markdown table, mAP in % as mean ± std, one row per boundary mode.

    >>> s = SeedSummary("threshold", (0, 1), (0.5,), np.array([0.5]), np.array([0.1]), 0.5, 0.1)
    >>> print(format_summary([s]))
    | mode (seeds) | 0.5 | avg |
    |---|---|---|
    | threshold (0, 1) | 50.0 ± 10.0 | 50.0 ± 10.0 |
    """
    if not summaries:
        return "(no results)"
    header = [first_column] + [f"{t:g}" for t in summaries[0].tiou] + ["avg"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        cells = [f"{s.mode} ({', '.join(map(str, s.seeds))})"]
        cells += [f"{100 * m:.1f} ± {100 * d:.1f}" for m, d in zip(s.mean, s.std)]
        cells.append(f"{100 * s.average_mean:.1f} ± {100 * s.average_std:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_per_seed(results: Sequence[SeedResult]) -> str:
    """One line per (seed, mode): mAP in % per threshold and the average."""
    return "\n".join(
        f"seed {r.seed} {r.mode}: " + " ".join(f"{100 * m:.1f}" for m in r.mAP) + f" | avg {100 * r.average_mAP:.1f}"
        for r in results
    )
