"""The hard synthetic benchmark: real timing, and the properties that make WTAL fail on real video.

wsal.synthetic (the easy generator) became too easy to tell methods apart: every model scores
95-97 average mAP there. This generator keeps the real timing of a benchmark (each synthetic video
copies one real video's duration and labelled instances from a GT file, e.g. THUMOS-14 or
ActivityNet) and builds its features from what is known to mislead weakly-supervised localization.
Each property is one switch of :class:`HardSpec` (on by default), so its effect can be measured
alone:

* ``partial`` -- *partial localization*: the class-discriminative motion covers only a random
  share (``core_fraction``) of each instance, at a random place inside it; a *generic* motion
  ``G``, shared by all classes (a run-up looks alike in every sport), covers the whole instance.
  The ground truth is the whole instance.
* ``context`` -- *context confusion*: the scene of a video is specific to its main class (a pool,
  a track) and lasts the whole video, and the class appearance (an athlete at the start line) is
  there for a few seconds before and after each instance, without the action's motion.
* ``lookalike`` -- *look-alike classes*: classes 2i and 2i+1 share most of their prototypes
  (correlation ``lookalike``; 0 = independent).
* ``modes`` -- *multi-modal classes*: each class has this many motion and appearance prototypes;
  every instance shows one of them (1 = one prototype per class).
* ``distractors`` -- bursts of generic motion (``G`` itself or one of a few other shared motions)
  outside the actions, in videos of every class.
* ``shots`` -- the scene changes at shot cuts (every 10-40 s) without any action: change points
  that are not action boundaries.
* ``i3d_like`` -- features are non-negative and sparse (a rectified linear map of the latent
  signal: about half the values are 0) with a per-stream L2 norm of about
  :data:`STREAM_NORM` per snippet. The value is an estimate for Kinetics I3D features of
  THUMOS-14 videos: no real features could be inspected here, so only the form (rectified,
  sparse, per-stream scale) is claimed, not the exact statistics.

Every snippet also gets Gaussian noise, and every indicator (action, core, context, distractor) is
blurred with a Gaussian of ``boundary_sigma`` snippets, so boundaries ramp.

Splits: the training subset ``"train"`` copies the timing of the GT's ``train_subset`` videos
(THUMOS-14: its 200 validation videos); the videos of ``eval_subset`` (THUMOS-14: the 213 test
videos), sorted by id, go alternately to ``"tuning"`` (where settings are chosen) and ``"test"``
(reported). The split is the same for every seed, so no timing is ever shared between a subset
where settings are chosen and the one that is reported. A seed changes the prototypes, the
scenes, the cores, the distractors and the noise, never which videos are where.

Determinism: the prototypes come from ``numpy.random.default_rng(seed)``, video number i (in the
order train, tuning, test) from ``default_rng([seed, 3, i])``: the same seed gives the same store
and GT, and a smaller ``max_videos`` leaves the kept videos as they are.

What this module does not do: train, evaluate, or choose any setting. wsal.synthetic stays the
easy generator of the demo and the fast tests.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from wsal.annotations import load_ground_truth, write_ground_truth
from wsal.errors import WsalError
from wsal.features.store import StoreMeta, StoreWriter
from wsal.synthetic import GRID, Instance, blur, instances_from_gt

STREAM_NORM = 25.0  # per-stream L2 norm of a 1024-value snippet (i3d_like); an estimate, see the module docstring
STREAM_NORM_DIM = 1024  # a stream of d values gets norm STREAM_NORM * sqrt(d / 1024): the same size per value
SUBSETS: tuple[str, str, str] = ("train", "tuning", "test")


@dataclass(frozen=True)
class HardSpec:
    """What the hard benchmark contains (module docstring); strengths are per-value std, noise is 1.

    The default strengths were calibrated so that a plain baseline (the BaS-Net re-implementation,
    400 steps) scores about 28 average mAP on the tuning subset of seed 0
    (experiments/notes/2026-12-05-hard-benchmark.md); the test subset played no part.
    """

    partial: bool = True
    core_fraction: tuple[float, float] = (0.3, 0.7)  # share of an instance with class motion, drawn per instance
    context: bool = True
    context_s: tuple[float, float] = (2.0, 10.0)  # class appearance before and after each instance, per side
    lookalike: float = 0.8  # correlation of the prototypes of classes 2i and 2i+1 (0: independent)
    modes: int = 2  # prototypes per class
    distractors: bool = True
    distractor_every_s: float = 30.0  # mean time between distractor bursts
    distractor_s: tuple[float, float] = (1.0, 6.0)  # burst length
    shots: bool = True
    shot_s: tuple[float, float] = (10.0, 40.0)  # shot length
    i3d_like: bool = True
    boundary_sigma: float = 1.0  # snippets
    noise: float = 1.0
    motion_strength: float = 1.0  # class motion (flow)
    generic_strength: float = 0.4  # generic motion: non-core parts of instances, distractors (flow)
    appearance_strength: float = 0.5  # class appearance: instances and their context (rgb)
    scene_strength: float = 0.4  # the video's scene (rgb)

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.core_fraction[0] <= self.core_fraction[1] <= 1.0:
            problems.append(f"core_fraction must satisfy 0 < low <= high <= 1, got {self.core_fraction}")
        if not 0.0 <= self.lookalike < 1.0:
            problems.append(f"lookalike must be in [0, 1), got {self.lookalike}")
        if self.modes < 1:
            problems.append(f"modes must be >= 1, got {self.modes}")
        for name in ("context_s", "distractor_s", "shot_s"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high:
                problems.append(f"{name} must satisfy 0 < low <= high, got {(low, high)}")
        if self.distractor_every_s <= 0 or self.noise < 0 or self.boundary_sigma < 0:
            problems.append("distractor_every_s must be > 0, noise and boundary_sigma >= 0")
        strengths = (self.motion_strength, self.generic_strength, self.appearance_strength, self.scene_strength)
        if min(strengths) < 0:
            problems.append("strengths must be >= 0")
        if problems:
            raise WsalError("hard synthetic spec: " + "; ".join(problems))

    @staticmethod
    def from_switches(off: list[str] | tuple[str, ...] = ()) -> "HardSpec":
        """The default spec with the named properties turned off (``partial``, ``context``,
        ``lookalike``, ``modes``, ``distractors``, ``shots``, ``i3d_like``)."""
        switches = {"partial": False, "context": False, "lookalike": 0.0, "modes": 1,
                    "distractors": False, "shots": False, "i3d_like": False}  # fmt: skip
        unknown = sorted(set(off) - set(switches))
        if unknown:
            raise WsalError(f"hard synthetic: unknown property {unknown[0]!r} (known: {', '.join(switches)})")
        return HardSpec(**{name: switches[name] for name in off})

    def describe(self) -> str:
        """One line: every field and its value."""
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


@dataclass(frozen=True)
class HardPrototypes:
    motion: NDArray[np.float32]  # (C, K, D_flow) class motion, K modes
    appearance: NDArray[np.float32]  # (C, K, D_rgb) class appearance
    scenes: NDArray[np.float32]  # (C, 2, D_rgb) class-specific scenes, two per class
    neutral_scenes: NDArray[np.float32]  # (6, D_rgb) scenes of no class (context off, or no action)
    generic: NDArray[np.float32]  # (4, D_flow) shared motions; row 0 is G, the non-core motion of instances


def _paired(rng: np.random.Generator, shape: tuple[int, ...], rho: float) -> NDArray[np.float64]:
    """Unit-variance Gaussian rows (C, ...): row 2i+1 has correlation ``rho`` with row 2i."""
    x = rng.standard_normal(shape)
    if rho > 0:
        x[1::2] = rho * x[0 : shape[0] - shape[0] % 2 : 2] + np.sqrt(1.0 - rho**2) * x[1::2]
    return x


def make_hard_prototypes(rng: np.random.Generator, num_classes: int, rgb_dim: int, flow_dim: int, spec: HardSpec) -> HardPrototypes:
    """All prototypes, unit variance per value (strengths are applied when rendering)."""

    def with_modes(dim: int) -> NDArray[np.float64]:
        base = _paired(rng, (num_classes, 1, dim), spec.lookalike)
        if spec.modes == 1:
            return base
        own = _paired(rng, (num_classes, spec.modes, dim), spec.lookalike)
        return np.sqrt(0.4) * base + np.sqrt(0.6) * own  # modes share 40 % of their variance

    motion = with_modes(flow_dim)
    appearance = with_modes(rgb_dim)
    scenes = _paired(rng, (num_classes, 2, rgb_dim), spec.lookalike)
    neutral = rng.standard_normal((6, rgb_dim))
    generic = rng.standard_normal((4, flow_dim))
    return HardPrototypes(*(a.astype(np.float32) for a in (motion, appearance, scenes, neutral, generic)))


@dataclass
class HardVideo:
    features: NDArray[np.float32]  # (T, D) rgb columns, then flow
    action: NDArray[np.float32]  # (T,) blurred: inside any instance
    core: NDArray[np.float32]  # (T,) blurred: class motion present
    context: NDArray[np.float32]  # (T,) blurred: class appearance without any motion
    distractor: NDArray[np.float32]  # (T,) blurred: generic motion outside instances


def _seconds_to_snippets(seconds: float) -> int:
    return max(1, int(round(seconds / GRID.stride_s)))


def render_hard_video(
    rng: np.random.Generator, prototypes: HardPrototypes, num_snippets: int, instances: list[Instance], spec: HardSpec
) -> HardVideo:
    """Latent (T, D) signal of one video (module docstring), before the i3d_like map; see :func:`i3d_like`."""
    t_count = num_snippets
    num_classes, num_modes, flow_dim = prototypes.motion.shape
    rgb_dim = prototypes.appearance.shape[2]
    sigma = spec.boundary_sigma
    rgb = np.zeros((t_count, rgb_dim))
    flow = np.zeros((t_count, flow_dim))
    action = np.zeros(t_count)
    core_all = np.zeros(t_count)
    context_all = np.zeros(t_count)
    for inst in instances:
        length = inst.last - inst.first + 1
        mode = int(rng.integers(0, num_modes))
        extent = np.zeros(t_count)
        extent[inst.first : inst.last + 1] = 1.0
        core = extent.copy()
        if spec.partial:
            share = float(rng.uniform(*spec.core_fraction))
            core_length = max(1, int(round(share * length)))
            core_first = inst.first + int(rng.integers(0, length - core_length + 1))
            core = np.zeros(t_count)
            core[core_first : core_first + core_length] = 1.0
        seen = extent.copy()  # where the class appearance shows
        if spec.context:
            before = _seconds_to_snippets(float(rng.uniform(*spec.context_s)))
            after = _seconds_to_snippets(float(rng.uniform(*spec.context_s)))
            seen[max(0, inst.first - before) : inst.last + 1 + after] = 1.0
        extent_s, core_s, seen_s = blur(extent, sigma), blur(core, sigma), blur(seen, sigma)
        rgb += spec.appearance_strength * np.outer(seen_s, prototypes.appearance[inst.label_index, mode])
        flow += spec.motion_strength * np.outer(core_s, prototypes.motion[inst.label_index, mode])
        if spec.partial:
            flow += spec.generic_strength * np.outer(extent_s, prototypes.generic[0])
        action = np.maximum(action, extent)
        core_all = np.maximum(core_all, core)
        context_all = np.maximum(context_all, seen)
    context_all = np.clip(context_all - action, 0.0, 1.0)

    distractor = np.zeros(t_count)
    if spec.distractors:
        bursts = int(rng.poisson(t_count * GRID.stride_s / spec.distractor_every_s))
        for _ in range(bursts):
            length = _seconds_to_snippets(float(rng.uniform(*spec.distractor_s)))
            start = int(rng.integers(0, t_count))
            which = int(rng.integers(0, prototypes.generic.shape[0]))
            burst = np.zeros(t_count)
            burst[start : start + length] = 1.0
            burst *= 1.0 - action  # never inside an instance
            distractor = np.maximum(distractor, burst)
            flow += spec.generic_strength * np.outer(blur(burst, sigma), prototypes.generic[which])

    labels = [inst.label_index for inst in instances]
    if spec.context and labels:
        main = max(set(labels), key=labels.count)
        scene_pool = prototypes.scenes[main]  # (2, D_rgb)
    else:
        scene_pool = prototypes.neutral_scenes
    scene = scene_pool[int(rng.integers(0, scene_pool.shape[0]))] + 0.3 * rng.standard_normal(rgb_dim)  # (D_rgb,)
    scene_rows = np.repeat(scene[None, :], t_count, axis=0)  # (T, D_rgb)
    if spec.shots:
        start = 0
        while start < t_count:
            length = _seconds_to_snippets(float(rng.uniform(*spec.shot_s)))
            scene_rows[start : start + length] = scene + 0.6 * rng.standard_normal(rgb_dim)  # a new camera view
            start += length
    rgb += spec.scene_strength * scene_rows
    latent = np.concatenate([rgb, flow], axis=1) + spec.noise * rng.standard_normal((t_count, rgb_dim + flow_dim))
    return HardVideo(
        features=latent.astype(np.float32),
        action=blur(action, sigma),
        core=blur(core_all, sigma),
        context=blur(context_all, sigma),
        distractor=blur(distractor, sigma),
    )


def i3d_scale(spec: HardSpec, dim: int) -> tuple[float, float]:
    """(offset, scale) of the i3d_like map ``scale * max(latent - offset, 0)`` for one stream of ``dim`` values.

    The offset is 0.1 of the noise std (about half the values become 0); the scale makes the
    expected L2 norm of a pure-noise snippet ``STREAM_NORM * sqrt(dim / 1024)`` (computed in
    closed form, so it depends on nothing drawn).
    """
    from math import erf, exp, pi, sqrt

    std = max(spec.noise, 1e-6)
    a = 0.1  # offset in noise std
    tail = 0.5 * (1.0 - erf(a / sqrt(2.0)))  # P(z > a), z ~ N(0, 1)
    density = exp(-0.5 * a * a) / sqrt(2.0 * pi)
    second_moment = (1.0 + a * a) * tail - a * density  # E[max(z - a, 0)^2]
    scale = STREAM_NORM / (std * sqrt(STREAM_NORM_DIM * second_moment))
    return a * std, scale


def i3d_like(latent: NDArray[np.floating], rgb_dim: int, spec: HardSpec) -> NDArray[np.float32]:
    """Rectified, scaled features per stream: (T, D) latent -> (T, D) non-negative float32."""
    out = np.empty(latent.shape, dtype=np.float32)
    for cols in (slice(0, rgb_dim), slice(rgb_dim, latent.shape[1])):
        offset, scale = i3d_scale(spec, latent[:, cols].shape[1])
        out[:, cols] = scale * np.maximum(latent[:, cols] - offset, 0.0)
    return out


def hard_splits(
    timeline_gt: str | os.PathLike, train_subset: str, eval_subset: str, max_videos: int | None = None
) -> dict[str, list[str]]:
    """Video ids of "train", "tuning" and "test" (module docstring); at most ``max_videos`` each,
    evenly spaced over the sorted ids, the same for every seed."""
    gt = load_ground_truth(timeline_gt)
    train = sorted(v for v in gt.video_ids() if gt.videos[v].subset == train_subset)
    pool = sorted(v for v in gt.video_ids() if gt.videos[v].subset == eval_subset)
    if not train or len(pool) < 2:
        raise WsalError(
            f"{timeline_gt}: the hard benchmark needs videos in subset {train_subset!r} and at least 2 in {eval_subset!r}"
        )
    splits = {"train": train, "tuning": pool[0::2], "test": pool[1::2]}
    if max_videos is not None:
        if max_videos < 1:
            raise WsalError(f"max_videos must be >= 1, got {max_videos}")
        splits = {k: [ids[int(i)] for i in np.linspace(0, len(ids) - 1, min(max_videos, len(ids)))] for k, ids in splits.items()}
    return splits


def make_hard_dataset(
    out_dir: str | os.PathLike,
    timeline_gt: str | os.PathLike,
    *,
    seed: int = 0,
    spec: HardSpec = HardSpec(),
    feature_dim: int = 512,
    train_subset: str = "validation",
    eval_subset: str = "test",
    max_videos: int | None = None,
    store_name: str = "features.h5",
    gt_name: str = "gt.json",
    show_progress: bool = False,
) -> tuple[Path, Path]:
    """Write ``out_dir/store_name`` and ``out_dir/gt_name`` (subsets "train", "tuning", "test"); returns both paths.

    ``timeline_gt`` gives the timing (durations, instances, classes); ``train_subset`` /
    ``eval_subset`` are its subsets the splits come from (THUMOS-14: "validation" / "test";
    ActivityNet: "training" / "validation"). Existing output files are replaced.
    """
    if feature_dim < 2:
        raise WsalError(f"hard synthetic feature_dim must be >= 2, got {feature_dim}")
    gt = load_ground_truth(timeline_gt)
    classes = gt.classes
    if not classes:
        raise WsalError(f"{timeline_gt}: no labelled segments to time synthetic actions with")
    splits = hard_splits(timeline_gt, train_subset, eval_subset, max_videos)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store_path, gt_path = out / store_name, out / gt_name
    rgb_dim = feature_dim // 2
    prototypes = make_hard_prototypes(np.random.default_rng(seed), len(classes), rgb_dim, feature_dim - rgb_dim, spec)
    meta = StoreMeta(
        fps=GRID.fps,
        clip_len_frames=GRID.clip_len_frames,
        stride_frames=GRID.stride_frames,
        streams=("rgb", "flow"),
        stream_dims=(rgb_dim, feature_dim - rgb_dim),
        backbone=f"synthetic-hard(seed={seed})",
    )
    plan = [(subset, vid) for subset in SUBSETS for vid in splits[subset]]
    items = enumerate(plan)
    if show_progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(plan), desc="hard synthetic videos", unit="video")
    store_path.unlink(missing_ok=True)
    shutil.rmtree(Path(str(store_path) + ".parts"), ignore_errors=True)
    database = {}
    with StoreWriter(store_path, meta) as writer:
        for index, (subset, vid) in items:
            v = gt.videos[vid]
            duration_s = v.duration_s if v.duration_s is not None else float(v.segments_s[:, 1].max(initial=0.0)) + 5.0
            t_count = max(1, GRID.num_full_snippets(int(round(duration_s * GRID.fps))))
            instances = instances_from_gt(v.segments_s, v.labels, classes, t_count)
            video = render_hard_video(np.random.default_rng([seed, 3, index]), prototypes, t_count, instances, spec)
            features = i3d_like(video.features, rgb_dim, spec) if spec.i3d_like else video.features
            writer.add(vid, features, num_frames=int(round(duration_s * GRID.fps)), duration_s=duration_s, source="synthetic-hard")
            database[vid] = {
                "subset": subset,
                "duration": duration_s,
                "fps": GRID.fps,
                "annotations": [{"segment": [float(s), float(e)], "label": l} for (s, e), l in zip(v.segments_s, v.labels)],
                "ambiguous": [[float(s), float(e)] for s, e in v.ambiguous_s],
            }
    write_ground_truth(database, gt_path)
    return store_path, gt_path
