"""Change-point detection: step time of the learned detector, and boundary metrics vs a classical one.

Three parts (speed and metrics by default; ``--only speed|metrics|joint``):

* **speed** - forward + backward wall time on random (B, T, D) features (default THUMOS-sized,
  16 x 750 x 2048) of: the attention-MIL model alone (WsalModel + mil_losses, MILConfig
  defaults), the change-point detector alone (ChangePointConfig defaults), and the joint model
  (WsalModel with ``changepoint.enabled``, MIL + change-point loss) on the same batch; the ratio MIL+detector / MIL is what must stay under 3. Median of ``--repeats`` runs
  after one warm-up round; the four steps take turns (fair on a shared, loaded machine). Also the decision scan alone (the only sequential part) on arrays of the
  detector's shapes, and kernel CPD on one (T, D) piecewise-constant video.
* **metrics** - two synthetic data sets, each split into a *fit* set (the detector is fitted on
  it without labels for ``--fit-steps`` steps) and a *fresh* set (never seen):
  ``piecewise`` (research.piecewise: planted major and minor changes; instances = units between major
  changes) and ``thumos`` (wsal.synthetic videos: scenes, actions with context and distractors;
  boundaries = action starts and ends). For every detector level and for kernel CPD (RBF, PELT,
  penalty chosen on the fit set's labels from a small grid, max F1 at margin 2): change points
  per minute (0.64 s snippets), boundary precision / recall / F1 at margins 0.5 (the exact
  snippet boundary), 1, 2, 4 snippets,
  and the coverage bound at tIoU 0.5 / 0.7 (wsal.eval.changepoints).
* **joint** - the detector trained *jointly* with the attention MIL (``changepoint.enabled``) by
  ``bench/accuracy_synthetic.py``: ``--joint-runs DIR`` is that script's ``--out`` folder. For each
  seed, the change scores saved for the synthetic THUMOS-timed TEST subset (``seed_S/raw.h5``)
  give each level's change points (score > 0.5); kernel CPD runs on the same test features with
  its penalty chosen on the TRAINING subset (max pooled F1 at margin 2 over the grid), and, as the
  boundaries the MIL itself gives, the edges of its foreground attention at 0.5 (where
  ``attention > 0.5`` switches; threshold mode cuts at such edges of its signals). Same metrics,
  pooled over seeds. Reporting only: nothing is chosen on the test subset
  (``--joint-subset heldout`` or ``train`` scores the held-out or training videos instead, for choosing
  detector settings).

    python bench/changepoint.py                      # speed and metrics, defaults
    python bench/changepoint.py --only joint --joint-runs runs/accuracy_synthetic [more folders ...]
    python bench/changepoint.py --only speed --repeats 3
    python bench/changepoint.py --only metrics --fit-steps 300
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wsal.config import ChangePointConfig
from wsal.config import MILConfig
from wsal.eval.changepoints import (
    BoundaryCounts,
    best_cover_tiou,
    boundary_counts_at,
    coverage,
    gt_boundaries,
    points_from_mask,
)
from research.kernel_cpd import kcpd_fixed, kcpd_penalized, kernel_costs, penalized_from_costs
from wsal.model.changepoint import AVG_MOMENTUM, LATENT_DIM, ChangePointDetector, changepoint_loss
from wsal.model.decision_scan import scan_decisions_numpy
from wsal.model.losses import mil_losses
from wsal.model.wsal import WsalModel
from research.piecewise import piecewise_sequence
from wsal.synthetic import GRID, make_prototypes, random_timeline, render_video

MARGINS = (0.5, 1, 2, 4)  # 0.5: on the ground-truth boundary itself (positions are whole snippets)
PENALTIES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


# --------------------------------------------------------------------------- speed


def _interleaved_medians(steps: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, process CPU) seconds of each step; the steps take turns, so a load change on
    a shared machine hits all of them alike (one warm-up round first). CPU time is the steadier
    figure on a loaded machine (with --threads 1 it is the compute the step needs)."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for r in range(repeats + 1):
        for name, step in steps.items():
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            if r > 0:
                times[name].append((time.perf_counter() - w0, time.process_time() - c0))
    return {name: tuple(np.median(np.asarray(t), axis=0).tolist()) for name, t in times.items()}


def run_speed(batch: int, snippets: int, feature_dim: int, num_classes: int, repeats: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(batch, snippets, feature_dim)
    mask = torch.ones(batch, snippets, dtype=torch.bool)
    labels = torch.zeros(batch, num_classes)
    labels[:, 0] = 1.0
    mil_cfg, cp_cfg = MILConfig(), ChangePointConfig()
    mil = WsalModel(feature_dim, num_classes, mil_cfg).train()
    det = ChangePointDetector(feature_dim, cp_cfg).train()
    joint_cfg = dataclasses.replace(cp_cfg, enabled=True)
    joint = WsalModel(feature_dim, num_classes, mil_cfg, joint_cfg).train()  # the jointly trained model

    def mil_step() -> None:
        mil.zero_grad()
        mil_losses(mil(x, mask), labels, mask, mil_cfg)["loss/total"].backward()

    def det_step() -> None:
        det.zero_grad()
        changepoint_loss(det(x, mask).losses).backward()

    def both_step() -> None:
        joint.zero_grad()
        mil_losses(joint(x, mask), labels, mask, mil_cfg)["loss/total"].backward()

    rng = np.random.default_rng(0)
    z = LATENT_DIM
    mu, logvar = rng.normal(size=(batch, snippets, z)), rng.normal(-2.0, 0.1, (batch, snippets, z))
    cand = np.ones((batch, snippets), dtype=bool)
    cand[:, 0] = False

    def scan_step() -> None:
        for _ in range(cp_cfg.num_levels):  # upper levels see fewer candidates; this is the worst case
            scan_decisions_numpy(mu, logvar, np.full((batch, snippets), 1e9), cand, cp_cfg.gamma, AVG_MOMENTUM, True)

    n_mil = sum(p.numel() for p in mil.parameters())
    n_det = sum(p.numel() for p in det.parameters())
    print(f"speed: B={batch} T={snippets} D={feature_dim}, CPU threads={torch.get_num_threads()}, repeats={repeats}")
    print(f"  parameters: MIL {n_mil / 1e6:.2f} M, detector {n_det / 1e6:.2f} M")
    med = _interleaved_medians({"mil": mil_step, "det": det_step, "both": both_step, "scan": scan_step}, repeats)
    (w_mil, c_mil), (w_det, c_det), (w_both, c_both), (w_scan, c_scan) = (med[k] for k in ("mil", "det", "both", "scan"))
    print(f"  {'median seconds':<40} {'wall':>8} {'CPU':>8}")
    print(f"  {'MIL only fwd+bwd':<40} {w_mil:8.3f} {c_mil:8.3f}")
    print(f"  {'detector only fwd+bwd':<40} {w_det:8.3f} {c_det:8.3f}")
    print(f"  {'MIL + detector fwd+bwd':<40} {w_both:8.3f} {c_both:8.3f}")
    print(f"  {'decision scan, every snippet candidate':<40} {w_scan:8.3f} {c_scan:8.3f}")
    print(f"  ratio MIL+detector / MIL only: wall {w_both / w_mil:.2f}x, CPU {c_both / c_mil:.2f}x")
    video = piecewise_sequence(rng, num_snippets=snippets, feature_dim=feature_dim).features
    kcpd = _interleaved_medians(
        {
            "pelt": lambda: kcpd_penalized(video, penalty=1.0),
            "fixed": lambda: kcpd_fixed(video, 20),
        },
        repeats,
    )
    print(f"  kernel CPD, one ({snippets}, {feature_dim}) video, Gram included: PELT {kcpd['pelt'][0]:.3f} s wall, "
          f"DP with 20 points {kcpd['fixed'][0]:.3f} s wall")


# --------------------------------------------------------------------------- data


@dataclass
class Video:
    features: np.ndarray  # (T, D) float32
    boundaries: np.ndarray  # ground-truth boundary positions (snippets)
    instances: np.ndarray  # (N, 2) [start, end) positions


def piecewise_videos(rng: np.random.Generator, count: int, snippets: int, feature_dim: int) -> list[Video]:
    videos = []
    for _ in range(count):
        seq = piecewise_sequence(rng, num_snippets=snippets, feature_dim=feature_dim)
        edges = np.r_[0, seq.major_points, snippets]
        videos.append(Video(seq.features, seq.all_points.astype(np.float64), np.stack([edges[:-1], edges[1:]], 1)))
    return videos


def thumos_videos(rng: np.random.Generator, count: int, feature_dim: int, num_classes: int) -> list[Video]:
    protos = make_prototypes(rng, num_classes, feature_dim // 2, feature_dim - feature_dim // 2, 0.5)
    videos = []
    for i in range(count):
        t_count = int(rng.integers(100, 301))
        instances = random_timeline(rng, t_count, num_classes, main_class=i % num_classes)
        feats = render_video(rng, protos, t_count, instances).features
        seg = np.array([[inst.first, inst.last + 1] for inst in instances], dtype=np.float64)
        videos.append(Video(feats, gt_boundaries(seg, t_count), seg))
    return videos


def _pad(videos: list[Video]) -> tuple[torch.Tensor, torch.Tensor]:
    t_max = max(len(v.features) for v in videos)
    x = torch.zeros(len(videos), t_max, videos[0].features.shape[1])
    mask = torch.zeros(len(videos), t_max, dtype=torch.bool)
    for b, v in enumerate(videos):
        x[b, : len(v.features)] = torch.from_numpy(v.features)
        mask[b, : len(v.features)] = True
    return x, mask


# --------------------------------------------------------------------------- metrics


def _report(name: str, videos: list[Video], points: list[np.ndarray]) -> None:
    counts = {m: BoundaryCounts(0, 0, 0) for m in MARGINS}
    tious, minutes, n_points = [], 0.0, 0
    for v, p in zip(videos, points):
        for m, c in boundary_counts_at(p, v.boundaries, MARGINS).items():
            counts[m] = counts[m] + c
        tious.extend(best_cover_tiou(p, len(v.features), v.instances))
        minutes += GRID.end_s(len(v.features) - 1) / 60.0
        n_points += len(p)
    prf = "  ".join(f"@{m}: {c.precision:.2f}/{c.recall:.2f}/{c.f1:.2f}" for m, c in counts.items())
    cov = coverage(tious)
    print(f"    {name:<22} {n_points / minutes:6.1f}/min  P/R/F1 {prf}  cover@0.5 {cov[0.5]:.2f} @0.7 {cov[0.7]:.2f}")


def _detect(det: ChangePointDetector, videos: list[Video]) -> list[list[np.ndarray]]:
    """Per video, per level: change point indices (eval mode, whole padded batch)."""
    x, mask = _pad(videos)
    with torch.no_grad():
        cp = det.eval()(x, mask).change_points.numpy()
    return [[p[p < len(v.features)] for p in points_from_mask(cp[b])] for b, v in enumerate(videos)]


def _kcpd_costs(videos: list[Video]) -> list[np.ndarray]:
    return [kernel_costs(v.features, min_size=2) for v in videos]


def run_metrics(data: str, fit_videos: list[Video], fresh_videos: list[Video], fit_steps: int, hidden: int, seed: int) -> None:
    torch.manual_seed(seed)
    cfg = ChangePointConfig()
    det = ChangePointDetector(fit_videos[0].features.shape[1], cfg, hidden_dim=hidden)
    opt = torch.optim.Adam(det.parameters(), lr=3e-3)
    x, mask = _pad(fit_videos)
    t0 = time.perf_counter()
    for _ in range(fit_steps):
        loss = changepoint_loss(det.train()(x, mask).losses)
        opt.zero_grad()
        loss.backward()
        opt.step()
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_costs, fresh_costs = _kcpd_costs(fit_videos), _kcpd_costs(fresh_videos)
    best_pen = max(
        PENALTIES,
        key=lambda pen: sum(
            (boundary_counts_at(penalized_from_costs(c, pen), v.boundaries, (2,))[2] for c, v in zip(fit_costs, fit_videos)),
            BoundaryCounts(0, 0, 0),
        ).f1,
    )
    kcpd_s = (time.perf_counter() - t0) / (len(fit_videos) * (len(PENALTIES) + 1) + len(fresh_videos))
    d = fit_videos[0].features.shape[1]
    print(
        f"metrics [{data}]: D={d}, fit {len(fit_videos)} / fresh {len(fresh_videos)} videos, detector H={hidden} "
        f"fitted {fit_steps} steps in {fit_s:.1f} s; kernel CPD ~{kcpd_s:.2f} s per video and penalty, chosen {best_pen}"
    )
    for split, videos, costs in (("fit", fit_videos, fit_costs), ("fresh", fresh_videos, fresh_costs)):
        print(f"  {split} set")
        per_video = _detect(det, videos)
        for level in range(cfg.num_levels):
            _report(f"detector level {level}", videos, [pv[level] for pv in per_video])
        _report(f"kernel CPD (pen {best_pen})", videos, [penalized_from_costs(c, best_pen) for c in costs])


def _subset_videos(store, gt, subset: str) -> list[Video]:
    """Videos of one GT subset with their features; boundaries and instances in snippet positions."""
    videos = []
    for vid, entry in sorted(gt.subset(subset).videos.items()):
        feats = store.read(vid).features
        seg = np.asarray(GRID.seconds_to_position(entry.segments_s), dtype=np.float64).reshape(-1, 2)
        videos.append(Video(feats, gt_boundaries(seg, len(feats)), seg))
    return videos


def _choose_penalty(videos: list[Video], costs: list[np.ndarray]) -> float:
    """The penalty of PENALTIES with the best pooled F1 at margin 2 on ``videos``."""
    return max(
        PENALTIES,
        key=lambda pen: sum(
            (boundary_counts_at(penalized_from_costs(c, pen), v.boundaries, (2,))[2] for c, v in zip(costs, videos)),
            BoundaryCounts(0, 0, 0),
        ).f1,
    )


def run_joint(runs_dirs: list[Path], subset_kind: str = "test") -> None:
    from wsal.annotations import load_ground_truth
    from wsal.features.store import FeatureStore
    from research.multiseed import seed_folders
    from wsal.raw import RawReader

    raw_name = {"test": "raw.h5", "heldout": "raw_heldout.h5", "train": "raw_validation.h5"}[subset_kind]  # accuracy_synthetic's names
    folders = seed_folders(runs_dirs, raw_name)  # seed -> its accuracy_synthetic folder
    seeds = sorted(folders)
    if not seeds:
        raise SystemExit(f"{runs_dirs}: no seed_S/{raw_name} (run bench/accuracy_synthetic.py --modes threshold changepoint)")
    test_videos: list[Video] = []
    level_points: list[list[np.ndarray]] = []
    kcpd_points: list[np.ndarray] = []
    attention_points: list[np.ndarray] = []
    chosen = []
    for seed in seeds:
        runs_dir = folders[seed]
        data = runs_dir / f"data_{seed}"
        gt = load_ground_truth(data / "gt.json")
        with RawReader(runs_dir / f"seed_{seed}" / raw_name) as raw, FeatureStore(data / "features.h5") as store:
            config = raw.header.config
            if not config.changepoint.enabled:
                raise SystemExit(f"{runs_dir}/seed_{seed}: trained without changepoint.enabled")
            train_videos = _subset_videos(store, gt, config.data.train_subset)
            videos = _subset_videos(store, gt, raw.header.subset)
            pen = _choose_penalty(train_videos, _kcpd_costs(train_videos))
            chosen.append(pen)
            for v, vid in zip(videos, sorted(gt.subset(raw.header.subset).videos)):
                outputs = raw.read(vid)
                level_points.append([np.flatnonzero(level > 0.5) for level in outputs.change_scores])  # (L, T) scores
                attention_points.append(np.flatnonzero(np.diff(outputs.attention > 0.5)) + 1)
                kcpd_points.append(penalized_from_costs(kernel_costs(v.features, min_size=2), pen))
            test_videos += videos
            num_levels = config.changepoint.num_levels
    print(
        f"joint [{', '.join(map(str, runs_dirs))}]: seeds {seeds}, {len(test_videos)} {subset_kind} videos pooled; detector trained jointly with the MIL; "
        f"kernel CPD penalty chosen on the training subset per seed: {chosen}"
    )
    for level in range(num_levels):
        _report(f"detector level {level}", test_videos, [p[level] for p in level_points])
    _report("kernel CPD", test_videos, kcpd_points)
    _report("MIL attention > 0.5", test_videos, attention_points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("speed", "metrics", "joint"), help="run one part only")
    parser.add_argument("--joint-runs", type=Path, nargs="+", default=None,
                        help="joint: output folder(s) of bench/accuracy_synthetic.py (with --modes ... changepoint)")
    parser.add_argument("--joint-subset", choices=("test", "heldout", "train"), default="test",
                        help="joint: score the test subset (reporting), or the held-out or training subset (where choices are made)")
    parser.add_argument("--batch-size", type=int, default=16, help="speed: batch size (default 16)")
    parser.add_argument("--snippets", type=int, default=750, help="speed: T (default 750)")
    parser.add_argument("--feature-dim", type=int, default=2048, help="speed: D (default 2048)")
    parser.add_argument("--repeats", type=int, default=3, help="speed: timed runs after a warm-up (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    parser.add_argument("--fit-steps", type=int, default=200, help="metrics: unsupervised fit steps (default 200)")
    parser.add_argument("--videos", type=int, default=12, help="metrics: videos in the fit and in the fresh set (default 12)")
    parser.add_argument("--metric-dim", type=int, default=256, help="metrics: feature dim of the synthetic data (default 256)")
    parser.add_argument("--hidden-dim", type=int, default=64, help="metrics: detector hidden_dim for the short fit (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="data and model seed (default 0)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.only in (None, "speed"):
        run_speed(args.batch_size, args.snippets, args.feature_dim, num_classes=20, repeats=args.repeats)
    if args.only in (None, "metrics"):
        rng = np.random.default_rng(args.seed)
        for name, make in (
            ("piecewise", lambda: piecewise_videos(rng, 2 * args.videos, 300, args.metric_dim)),
            ("thumos", lambda: thumos_videos(rng, 2 * args.videos, args.metric_dim, num_classes=5)),
        ):
            videos = make()  # one data set (shared prototypes), split in two
            fit, fresh = videos[: args.videos], videos[args.videos :]
            run_metrics(name, fit, fresh, args.fit_steps, args.hidden_dim, args.seed)
    if args.only == "joint" or (args.only is None and args.joint_runs is not None):
        if args.joint_runs is None:
            raise SystemExit("--only joint needs --joint-runs DIR")
        run_joint(args.joint_runs, args.joint_subset)


if __name__ == "__main__":
    main()
