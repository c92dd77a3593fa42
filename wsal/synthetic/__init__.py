"""THUMOS-timed synthetic features for the demo, tests and benchmarks (a store + a GT JSON): the easy preset.

Each snippet's feature row is ``[rgb | flow]`` (half the columns each, as I3D two-stream stores):

* every class c has an appearance prototype ``A_c`` (rgb columns) and a motion prototype ``M_c``
  (flow columns); every video has a scene vector ``S_v`` (rgb columns), one of a small pool of
  scenes shared by videos of all classes plus a little per-video jitter -- so the scene says
  nothing about the class and cannot be memorised per video as a shortcut to its label;
* action snippets of class c: ``rgb = S_v + A_c``, ``flow = M_c``;
* context snippets, a few snippets before and after each action: ``rgb = S_v + A_c`` but no
  motion -- the class's scene without the action (what the context attention view is for);
* background: ``rgb = S_v``; short bursts of distractor motion (prototypes that belong to no class)
  in the flow columns;
* boundaries are blurred (the action / context indicators are smoothed with a Gaussian of
  ``boundary_sigma`` snippets, so strength ramps over about two snippets) and Gaussian noise of
  std ``noise`` is added to every value.

Variant, ``core_fraction`` < 1 (default 1: off): the class motion ``M_c`` covers only the central
``core_fraction`` of each action instance (at least one snippet); the rest of the instance moves
with one *generic* motion prototype ``G`` shared by all classes (a run-up looks alike in every
sport), appearance ``A_c`` throughout. The ground truth is the whole instance. A classifier
trained from video labels then finds class evidence mostly in the core: the incomplete
activation that weakly-supervised localization meets on real video.

Timing: either a built-in seeded random timeline (default: 40 "validation" + 20 "test" videos,
5 classes, 100-300 snippets each, actions of 4-25 snippets, i.e. 2.6-16 s; video i's main class
is i mod num_classes, so every class occurs in a subset with at least num_classes videos) or the videos,
subsets, durations and labelled segments of a given GT file (e.g. the real THUMOS-14 GT), turned
into snippets on the 25 fps / 16-frame grid (wsal.timeline). The GT written next to the store has
subsets "validation" (training) and "test" for the built-in timeline, or the given file's subsets.
With ``num_heldout_videos`` > 0 the built-in timeline also gets a subset "heldout": videos drawn
like the others (same classes, prototypes and scenes) that training never sees and that are not
the test subset -- the place to choose post-processing settings (bench/accuracy_synthetic.py).

Everything is drawn from one ``numpy.random.Generator(seed)`` in a fixed order: the same seed
gives the same store and GT, bit for bit. The held-out videos come from a second generator
(seeded with ``(seed, 1)``) drawn after all others, so adding them leaves the training and test
videos bit for bit what they are without them.

This package's module :mod:`wsal.synthetic.hard` is the *hard* preset: real timing, context
confusion, partial class evidence, look-alike and multi-modal classes, distractors, I3D-like
statistics. This easy generator stays what the demo and the fast tests use.

What this module does not do: train or evaluate; it knows nothing of the model.
"""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from wsal.annotations import load_ground_truth, write_ground_truth
from wsal.errors import WsalError
from wsal.features.store import StoreMeta, StoreWriter
from wsal.timeline import SnippetGrid

GRID = SnippetGrid(fps=25.0, clip_len_frames=16, stride_frames=16)


@dataclass(frozen=True)
class Prototypes:
    appearance: NDArray[np.float32]  # (C, D_rgb) class appearance
    motion: NDArray[np.float32]  # (C, D_flow) class motion
    distractor: NDArray[np.float32]  # (K, D_flow) motion that belongs to no class
    scenes: NDArray[np.float32]  # (S, D_rgb) scene pool, shared by all classes


@dataclass(frozen=True)
class Instance:
    """One action instance on the snippet axis (``first..last`` inclusive)."""

    label_index: int
    first: int
    last: int


@dataclass
class RenderedVideo:
    features: NDArray[np.float32]  # (T, D)
    action: NDArray[np.float32]  # (T, C) blurred action strength per class
    context: NDArray[np.float32]  # (T, C) blurred context strength per class
    distractor: NDArray[np.float32]  # (T,) distractor motion strength


def make_prototypes(
    rng: np.random.Generator,
    num_classes: int,
    rgb_dim: int,
    flow_dim: int,
    scale: float,
    num_distractors: int = 3,
    num_scenes: int = 6,
    scene_scale: float = 1.0,
) -> Prototypes:
    return Prototypes(
        appearance=(scale * rng.standard_normal((num_classes, rgb_dim))).astype(np.float32),
        motion=(scale * rng.standard_normal((num_classes, flow_dim))).astype(np.float32),
        distractor=(scale * rng.standard_normal((num_distractors, flow_dim))).astype(np.float32),
        scenes=(scene_scale * rng.standard_normal((num_scenes, rgb_dim))).astype(np.float32),
    )


def blur(indicator: NDArray[np.floating], sigma: float) -> NDArray[np.float32]:
    """Gaussian smoothing along axis 0 (zeros beyond the ends), clipped to [0, 1].

    >>> blur(np.array([0.0, 1.0, 1.0, 1.0, 0.0]), 0.0).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    >>> [round(v, 2) for v in blur(np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0]), 1.0).tolist()]
    [0.06, 0.3, 0.7, 0.94, 0.94, 0.7]
    """
    x = np.asarray(indicator, dtype=np.float64)
    if sigma <= 0:
        return np.clip(x, 0.0, 1.0).astype(np.float32)
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    flat = np.pad(x.reshape(x.shape[0], -1), ((radius, radius), (0, 0)))  # zeros beyond the ends
    out = np.stack([np.convolve(flat[:, j], kernel, mode="valid") for j in range(flat.shape[1])], axis=1)
    return np.clip(out.reshape(x.shape), 0.0, 1.0).astype(np.float32)


def render_video(
    rng: np.random.Generator,
    prototypes: Prototypes,
    num_snippets: int,
    instances: list[Instance],
    *,
    scene_jitter: float = 0.2,
    noise: float = 1.0,
    boundary_sigma: float = 0.8,
    context_snippets: tuple[int, int] = (2, 6),
    distractor_rate: float = 1 / 40,
    core_fraction: float = 1.0,
    generic_motion: NDArray[np.float32] | None = None,
) -> RenderedVideo:
    """Features (T, D) of one video with the given action instances (module docstring).

    ``core_fraction`` < 1 needs ``generic_motion`` (D_flow,), the motion of the non-core part of
    every instance. No random draw depends on ``core_fraction``.
    """
    if not 0.0 < core_fraction <= 1.0:
        raise WsalError(f"synthetic core_fraction must be in (0, 1], got {core_fraction}")
    if core_fraction < 1.0 and generic_motion is None:
        raise WsalError("synthetic core_fraction < 1 needs a generic motion prototype")
    t_count = num_snippets
    num_classes, rgb_dim = prototypes.appearance.shape
    flow_dim = prototypes.motion.shape[1]
    action = np.zeros((t_count, num_classes))
    core = np.zeros((t_count, num_classes))  # where the class motion is (all of each instance at core_fraction 1)
    context = np.zeros((t_count, num_classes))
    for inst in instances:
        action[inst.first : inst.last + 1, inst.label_index] = 1.0
        length = inst.last - inst.first + 1
        core_length = max(1, int(round(core_fraction * length)))
        core_first = inst.first + (length - core_length) // 2
        core[core_first : core_first + core_length, inst.label_index] = 1.0
    for inst in instances:
        before = int(rng.integers(context_snippets[0], context_snippets[1] + 1))
        after = int(rng.integers(context_snippets[0], context_snippets[1] + 1))
        context[max(0, inst.first - before) : inst.first, inst.label_index] = 1.0
        context[inst.last + 1 : inst.last + 1 + after, inst.label_index] = 1.0
    any_action = action.max(axis=1) > 0  # (T,)
    context[any_action] = 0.0  # an action snippet is never context
    distractor = np.zeros(t_count)
    distractor_id = np.zeros(t_count, dtype=np.int64)
    for _ in range(int(rng.poisson(distractor_rate * t_count))):
        start = int(rng.integers(0, t_count))
        length = int(rng.integers(2, 9))
        which = int(rng.integers(0, prototypes.distractor.shape[0]))
        span = slice(start, min(t_count, start + length))
        distractor[span] = 1.0
        distractor_id[span] = which
    distractor[any_action] = 0.0
    action_s = blur(action, boundary_sigma)  # (T, C)
    core_s = action_s if core_fraction == 1.0 else blur(core, boundary_sigma)  # (T, C)
    context_s = blur(context, boundary_sigma) * (1.0 - action_s.max(axis=1, keepdims=True))  # (T, C)
    distractor_s = blur(distractor, boundary_sigma) * (1.0 - action_s.max(axis=1))  # (T,)
    scene_id = int(rng.integers(0, prototypes.scenes.shape[0]))
    scene = prototypes.scenes[scene_id] + scene_jitter * rng.standard_normal(rgb_dim)  # (D_rgb,)
    rgb = scene[None, :] + (action_s + context_s) @ prototypes.appearance  # (T, D_rgb)
    flow = core_s @ prototypes.motion + distractor_s[:, None] * prototypes.distractor[distractor_id]  # (T, D_flow)
    if generic_motion is not None and core_fraction < 1.0:
        outside_core = np.clip(action_s - core_s, 0.0, None).max(axis=1)  # (T,) instance but not core
        flow = flow + outside_core[:, None] * generic_motion[None, :]
    features = np.concatenate([rgb, flow], axis=1) + noise * rng.standard_normal((t_count, rgb_dim + flow_dim))
    return RenderedVideo(
        features=features.astype(np.float32),
        action=action_s,
        context=context_s,
        distractor=distractor_s.astype(np.float32),
    )


def random_timeline(
    rng: np.random.Generator,
    num_snippets: int,
    num_classes: int,
    main_class: int | None = None,
    *,
    instance_snippets: tuple[int, int] = (4, 25),
    max_instances: int = 4,
    gap_snippets: int = 4,
) -> list[Instance]:
    """1 class (80 %) or 2 classes per video, 1..max_instances non-overlapping instances each.

    ``main_class`` (random when None) is always one of the video's classes.
    """
    main = int(rng.integers(0, num_classes)) if main_class is None else main_class
    video_classes = [main]
    if num_classes > 1 and rng.random() >= 0.8:
        video_classes.append(int(rng.choice([c for c in range(num_classes) if c != main])))
    taken = np.zeros(num_snippets, dtype=bool)
    instances: list[Instance] = []
    for c in sorted(int(x) for x in video_classes):
        wanted = int(rng.integers(1, max_instances + 1))
        placed = 0
        for _ in range(50 * wanted):
            if placed == wanted:
                break
            length = int(rng.integers(instance_snippets[0], instance_snippets[1] + 1))
            if length > num_snippets:
                continue
            first = int(rng.integers(0, num_snippets - length + 1))
            last = first + length - 1
            if taken[max(0, first - gap_snippets) : last + 1 + gap_snippets].any():
                continue
            taken[first : last + 1] = True
            instances.append(Instance(c, first, last))
            placed += 1
    return sorted(instances, key=lambda i: i.first)


def instances_from_gt(segments_s: NDArray[np.float64], labels: tuple[str, ...], classes: tuple[str, ...], t_count: int) -> list[Instance]:
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for (start_s, end_s), label in zip(segments_s, labels):
        first = min(int(GRID.snippet_at(start_s)), t_count - 1)
        last = int(np.ceil(float(GRID.seconds_to_position(end_s)) - 1e-9)) - 1
        out.append(Instance(index[label], first, int(np.clip(last, first, t_count - 1))))
    return out


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    num_train_videos: int = 40,
    num_test_videos: int = 20,
    num_heldout_videos: int = 0,
    num_classes: int = 5,
    feature_dim: int = 2048,
    snippets: tuple[int, int] = (100, 300),
    timeline_gt: str | os.PathLike | None = None,
    prototype_scale: float = 0.5,
    noise: float = 1.0,
    core_fraction: float = 1.0,
    store_name: str = "features.h5",
    gt_name: str = "gt.json",
    show_progress: bool = False,
) -> tuple[Path, Path]:
    """Write ``out_dir/store_name`` (feature store) and ``out_dir/gt_name`` (GT JSON); returns both paths.

    With ``timeline_gt`` the videos and segments of that GT file are used (``num_*_videos``,
    ``num_classes`` and ``snippets`` are then ignored). Existing output files are replaced.
    ``num_heldout_videos`` adds the subset "heldout"; ``core_fraction`` < 1 the incomplete-motion
    variant (module docstring; its generic prototype comes from a generator seeded ``(seed, 2)``,
    so every other draw is what it is at ``core_fraction`` 1).
    """
    if feature_dim < 2:
        raise WsalError(f"synthetic feature_dim must be >= 2, got {feature_dim}")
    if not 0.0 < core_fraction <= 1.0:
        raise WsalError(f"synthetic core_fraction must be in (0, 1], got {core_fraction}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store_path, gt_path = out / store_name, out / gt_name
    rng = np.random.default_rng(seed)
    rgb_dim = feature_dim // 2
    flow_dim = feature_dim - rgb_dim

    plan: list[tuple[str, str, int, list[Instance], dict]] = []  # video, subset, T, instances, GT entry
    if timeline_gt is not None:
        gt = load_ground_truth(timeline_gt)
        classes = gt.classes
        if not classes:
            raise WsalError(f"{timeline_gt}: no labelled segments to time synthetic actions with")
        for vid in gt.video_ids():
            v = gt.videos[vid]
            duration_s = v.duration_s if v.duration_s is not None else float(v.segments_s[:, 1].max(initial=0.0)) + 5.0
            t_count = max(1, GRID.num_full_snippets(int(round(duration_s * GRID.fps))))
            entry = {
                "subset": v.subset,
                "duration": duration_s,
                "fps": GRID.fps,
                "annotations": [{"segment": [float(s), float(e)], "label": l} for (s, e), l in zip(v.segments_s, v.labels)],
                "ambiguous": [[float(s), float(e)] for s, e in v.ambiguous_s],
            }
            plan.append((vid, v.subset, t_count, instances_from_gt(v.segments_s, v.labels, classes, t_count), entry))
    else:
        if num_classes < 1 or num_train_videos < 1 or num_test_videos < 0 or num_heldout_videos < 0:
            raise WsalError(
                "synthetic data needs num_classes >= 1, num_train_videos >= 1, num_test_videos >= 0, num_heldout_videos >= 0"
            )
        classes = tuple(f"Action{i:02d}" for i in range(num_classes))
        for subset, count in (("validation", num_train_videos), ("test", num_test_videos)):
            plan += _random_plan(rng, subset, count, classes, snippets)

    prototypes = make_prototypes(rng, len(classes), rgb_dim, flow_dim, prototype_scale)
    generic_motion = None  # the variant's shared motion; drawn only for it, from its own generator
    if core_fraction < 1.0:
        generic_motion = (prototype_scale * np.random.default_rng([seed, 2]).standard_normal(flow_dim)).astype(np.float32)
    heldout_rng = np.random.default_rng([seed, 1])
    heldout = [] if timeline_gt is not None else _random_plan(heldout_rng, "heldout", num_heldout_videos, classes, snippets)
    meta = StoreMeta(
        fps=GRID.fps,
        clip_len_frames=GRID.clip_len_frames,
        stride_frames=GRID.stride_frames,
        streams=("rgb", "flow"),
        stream_dims=(rgb_dim, flow_dim),
        backbone=f"synthetic(seed={seed})" if core_fraction == 1.0 else f"synthetic(seed={seed}, core_fraction={core_fraction})",
    )
    store_path.unlink(missing_ok=True)
    shutil.rmtree(Path(str(store_path) + ".parts"), ignore_errors=True)
    items = plan
    if show_progress:
        from tqdm import tqdm

        items = tqdm(plan, desc="synthetic videos", unit="video")
    with StoreWriter(store_path, meta) as writer:
        for (vid, _subset, t_count, instances, entry), video_rng in itertools.chain(
            zip(items, itertools.repeat(rng)), zip(heldout, itertools.repeat(heldout_rng))
        ):
            video = render_video(
                video_rng, prototypes, t_count, instances, noise=noise, core_fraction=core_fraction, generic_motion=generic_motion
            )
            writer.add(
                vid,
                video.features,
                num_frames=int(round(float(entry["duration"]) * GRID.fps)),
                duration_s=float(entry["duration"]),
                source="synthetic",
            )
    write_ground_truth({vid: entry for vid, _s, _t, _i, entry in plan + heldout}, gt_path)
    return store_path, gt_path


def _random_plan(
    rng: np.random.Generator, subset: str, count: int, classes: tuple[str, ...], snippets: tuple[int, int]
) -> list[tuple[str, str, int, list[Instance], dict]]:
    """``count`` videos of the built-in timeline: (video id, subset, T, instances, GT entry) each."""
    plan = []
    for i in range(count):
        t_count = int(rng.integers(snippets[0], snippets[1] + 1))
        instances = random_timeline(rng, t_count, len(classes), main_class=i % len(classes))
        entry = {
            "subset": subset,
            "duration": float(t_count * GRID.stride_s),
            "fps": GRID.fps,
            "annotations": [
                {"segment": [float(GRID.start_s(inst.first)), float(GRID.end_s(inst.last))], "label": classes[inst.label_index]}
                for inst in instances
            ],
        }
        plan.append((f"synthetic_{subset}_{i:04d}", subset, t_count, instances, entry))
    return plan
