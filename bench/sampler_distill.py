"""Learned sampler distilled from a trained localizer vs the motion sampler, on held-out videos.

The end-to-end experiment of the learned sampler (features/README.md, section Sampler):

1. **Videos** (:func:`research.synthetic_video.write_event_video`): ``--train-videos``
   training videos (GT subset "validation") and ``--test-videos`` held-out videos (subset "test"),
   ``--seconds`` long, ``--size``, 25 fps, sensor noise ``--noise``. Each shows one action class,
   ``disc`` or ``square`` (alternating over videos), in 2-3 instances covering about
   ``--action-share`` of the time, and 1-2 *distractors* covering about ``--distractor-share``:
   camera shake or a brightness flicker, which move the whole picture but are no action. Layouts
   and backgrounds are drawn per video from ``--seed``; training and held-out videos share none.
   ``GT.json`` (ActivityNet form, labels "Disc" / "Square") holds both subsets.
2. **Features** of the training videos with ``wsal extract`` (every snippet, no sampler; Farneback
   flow by default, small ``--resize`` / ``--crop``). I3D has random weights, but an I3D with
   random weights and batch-norm statistics left at their initial values (mean 0, variance 1)
   gives features that hardly vary between snippets (run with ``--no-bn-calibration`` to see it:
   the mean per-dimension std over snippets is printed). So the bench *calibrates* the batch-norm
   statistics before saving the checkpoints: the random-weight networks run once in training mode
   (cumulative running averages) over ``--calibration-clips`` clips taken evenly from the first
   ``--calibration-videos`` training videos (several backgrounds, so that the statistics fit the
   other videos too),
   decoded and turned into flow by the extractor's own code (:func:`process_video`). The
   convolution weights stay random; ``wsal extract`` loads the saved checkpoints like any other.
3. **Teacher**: ``wsal train`` (a small config, :data:`TRAIN_CONFIG`, ``--steps``) on the training
   videos with their video labels only, then ``wsal localize --subset validation --save-raw RAW.h5``
   on the same training videos; ``wsal evaluate`` on them (training-set mAP, a sanity check, not a
   result) and the teacher's mean attention per kind of snippet (action, distractor, still).
4. **Distillation**: ``wsal sampler-fit TRAIN_DIR --raw RAW.h5 --out skim.pt`` (its defaults).
5. **Comparison on the held-out videos** at each ``--budgets``: one coarse pass per video
   (``coarse_signals`` with the skim model's coarse settings, which are the defaults), then the
   same policy (``select_snippets``, default guards) on the motion score (``snippet_scores``, what
   ``--sampler motion`` keeps) and on the skim model's score (what ``--sampler learned`` keeps),
   next to uniform subsampling with the same count, measured with the metrics of ``wsal
   sampler-report`` (``video_totals``): kept share, action time, instances, boundaries, plus the
   share of distractor snippets kept. Two reference rows, neither a sampler one would deploy:
   the skim model fitted to the training videos' *ground truth* (1 on action snippets, else 0:
   what the cheap signals allow with a perfect teacher), and, unless ``--no-teacher-on-test``, the
   teacher's own attention on the held-out videos (extracted and localized for it: needs the full
   fine pass; what a perfect distillation of this teacher would reach). A teacher whose attention
   is almost constant on the training videos is reported as degenerate.

Nothing is tuned on the held-out videos: every setting is fixed above or a command default.

Run:  python bench/sampler_distill.py [--train-videos 24 --test-videos 12 --seconds 30 --steps 400
                                      --budgets 0.3 0.5 0.7 --threads 1 --keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from wsal.features.sampler import SamplerConfig
    from wsal.features.skim import Skim
    from wsal.timeline import SnippetGrid

FPS = 25.0
LABELS = {"disc": "Disc", "square": "Square"}
DEGENERATE_STD = 0.02  # a teacher whose attention varies less than this over the training snippets learned nothing

# Deltas over the ExperimentConfig defaults, like `wsal demo`'s DEMO_CONFIG (a small model, a
# higher learning rate); num_snippets covers a whole 30 s video (47 snippets).
TRAIN_CONFIG = """\
name = "sampler-distill"
[data]
train_subset = "validation"
test_subset = "test"
num_snippets = 64
[train]
batch_size = 8
lr = 1e-3
log_every = 50
checkpoint_every = 100000
[mil]
embed_dim = 128
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-videos", type=int, default=24)
    parser.add_argument("--test-videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each video")
    parser.add_argument("--size", default="128x96", help="WIDTHxHEIGHT of the generated videos")
    parser.add_argument("--action-share", type=float, default=0.25)
    parser.add_argument("--distractor-share", type=float, default=0.15, help="0 = no distractors")
    parser.add_argument("--noise", type=float, default=2.0, help="sensor-noise std of the frames, grey levels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resize", type=int, default=64, help="extract --resize")
    parser.add_argument("--crop", type=int, default=64, help="extract --crop")
    parser.add_argument("--flow", default="farneback", choices=["farneback", "dis", "tvl1"])
    parser.add_argument("--workers", type=int, default=1, help="extract --workers")
    parser.add_argument("--batch-size", type=int, default=16, help="extract --batch-size")
    parser.add_argument("--calibration-clips", type=int, default=48, help="clips for the I3D batch-norm statistics")
    parser.add_argument("--calibration-videos", type=int, default=6, help="training videos the clips are taken from")
    parser.add_argument("--no-bn-calibration", action="store_true", help="save I3D with untouched batch-norm statistics")
    parser.add_argument("--steps", type=int, default=400, help="wsal train steps")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--no-teacher-on-test", action="store_true", help="skip extracting and localizing the held-out videos")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    parser.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.keep is not None:
        work = Path(args.keep)
        if work.exists() and any(work.iterdir()):
            sys.exit(f"{work}: not empty")
        work.mkdir(parents=True, exist_ok=True)
        run_bench(args, work)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run_bench(args, Path(tmp))
    print(f"\nwall time {time.perf_counter() - start:.0f} s")


def run_bench(args: argparse.Namespace, work: Path) -> None:
    t0 = time.perf_counter()
    layouts = write_videos(args, work)
    print(f"[1/5] {len(layouts)} videos written in {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    weights = save_i3d(args, work)
    print(f"[2/5] I3D checkpoints ({'random weights' if args.no_bn_calibration else 'random weights, calibrated batch norm'}) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    extract = ["--rgb-weights", str(weights["rgb"]), "--flow-weights", str(weights["flow"]), "--flow", args.flow,
               "--resize", str(args.resize), "--crop", str(args.crop), "--workers", str(args.workers),
               "--batch-size", str(args.batch_size), "--device", "cpu"]  # fmt: skip
    store = work / "train.h5"
    t0 = time.perf_counter()
    wsal("extract", str(work / "train"), "--out", str(store), *extract)
    print(f"      extract (training videos) {time.perf_counter() - t0:.1f} s; {feature_spread(store)}", flush=True)

    t0 = time.perf_counter()
    (work / "config.toml").write_text(TRAIN_CONFIG)
    gt = work / "GT.json"
    wsal("train", "--config", str(work / "config.toml"), "--features", str(store), "--annotations", str(gt),
         "--set", f"train.max_steps={args.steps}", "--set", f"train.seed={args.seed}", "--out", str(work / "run"),
         "--device", "cpu")  # fmt: skip
    raw = work / "raw_train.h5"
    wsal("localize", "--checkpoint", str(work / "run" / "model.pt"), "--features", str(store), "--annotations", str(gt),
         "--subset", "validation", "--out", str(work / "pred_train.json"), "--save-raw", str(raw), "--device", "cpu")  # fmt: skip
    print(f"[3/5] teacher trained and run on the training videos in {time.perf_counter() - t0:.1f} s", flush=True)
    wsal("evaluate", "--ground-truth", str(gt), "--predictions", str(work / "pred_train.json"), "--subset", "validation")
    print("teacher's mean attention on the training videos, by what a snippet shows (most of its frames):")
    by_kind = attention_by_kind(raw, layouts)
    print(format_attention(by_kind))
    spread = float(np.std(np.concatenate(list(by_kind.values()))))
    degenerate = spread < DEGENERATE_STD
    if degenerate:
        print(f"WARNING: the teacher's attention is almost constant on the training videos (std {spread:.4f} < "
              f"{DEGENERATE_STD}): the localizer did not learn, the skim model is fitted to nothing, and the "
              "learned sampler's row below is arbitrary")  # fmt: skip

    t0 = time.perf_counter()
    skim_path = work / "skim.pt"
    wsal("sampler-fit", str(work / "train"), "--raw", str(raw), "--out", str(skim_path))
    print(f"[4/5] skim model distilled in {time.perf_counter() - t0:.1f} s", flush=True)

    teacher_raw = None
    if not args.no_teacher_on_test:
        t0 = time.perf_counter()
        test_store, teacher_raw = work / "test.h5", work / "raw_test.h5"
        wsal("extract", str(work / "test"), "--out", str(test_store), *extract)
        wsal("localize", "--checkpoint", str(work / "run" / "model.pt"), "--features", str(test_store), "--annotations",
             str(gt), "--subset", "test", "--out", str(work / "pred_test.json"), "--save-raw", str(teacher_raw),
             "--device", "cpu")  # fmt: skip
        print(f"      held-out videos extracted and localized (teacher reference) in {time.perf_counter() - t0:.1f} s")
        wsal("evaluate", "--ground-truth", str(gt), "--predictions", str(work / "pred_test.json"), "--subset", "test")

    t0 = time.perf_counter()
    rows = compare(args, work, layouts, skim_path, teacher_raw)
    print(f"[5/5] held-out comparison in {time.perf_counter() - t0:.1f} s\n")
    print(format_table(rows, args, degenerate))


def wsal(*argv: str) -> None:
    """Run one `wsal` command in this process (printed as a command line); stop the bench if it fails."""
    from wsal.cli import main as wsal_main

    print("$ wsal " + " ".join(argv), flush=True)
    code = wsal_main(list(argv))
    if code != 0:
        sys.exit(f"wsal {argv[0]} failed with exit status {code}")


def write_videos(args: argparse.Namespace, work: Path) -> dict[str, list]:
    """The training and held-out videos and GT.json; returns each video's events."""
    from wsal.annotations import write_ground_truth
    from research.synthetic_video import ACTION_KINDS, event_layout, write_event_video

    width, height = (int(v) for v in args.size.split("x"))
    num_frames = int(round(args.seconds * FPS))
    layouts, database = {}, {}
    for subset, folder, count, stream in (("validation", "train", args.train_videos, 0), ("test", "test", args.test_videos, 1)):
        rng = np.random.default_rng([args.seed, stream])
        (work / folder).mkdir()
        for v in range(count):
            vid = f"{folder}_{v:03d}"
            kind = ACTION_KINDS[v % len(ACTION_KINDS)]
            events = event_layout(num_frames, kind, args.action_share, args.distractor_share, rng)
            write_event_video(work / folder / f"{vid}.mp4", num_frames, events, fps=FPS, size=(width, height),
                              seed=1000 * (stream + 1) + v + 100000 * args.seed, noise_std=args.noise)  # fmt: skip
            layouts[vid] = events
            actions = [{"segment": [e.start / FPS, e.end / FPS], "label": LABELS[e.kind]} for e in events if e.is_action]
            database[vid] = {"subset": subset, "duration": num_frames / FPS, "fps": FPS, "annotations": actions}
    write_ground_truth(database, work / "GT.json")
    return layouts


def save_i3d(args: argparse.Namespace, work: Path) -> dict[str, Path]:
    """Random-weight I3D checkpoints (pytorch-i3d layout), batch norm calibrated unless told not to."""
    import torch

    from research.i3d_calibration import calibrate_batch_norm
    from wsal.features.extract import ExtractConfig, Snippets, find_videos, process_video
    from wsal.features.i3d import InceptionI3d

    torch.manual_seed(args.seed)
    models = {"rgb": InceptionI3d(3), "flow": InceptionI3d(2)}
    if not args.no_bn_calibration:
        config = ExtractConfig(resize_short=args.resize, crop=args.crop, flow=args.flow, workers=0)
        tasks = find_videos([work / "train"])[: args.calibration_videos]
        per_video = -(-args.calibration_clips // len(tasks))  # ceil
        rgb, flow = [], []
        for task in tasks:
            messages = [m for m in process_video(task, config) if isinstance(m, Snippets)]
            video_rgb, video_flow = np.concatenate([m.rgb for m in messages]), np.concatenate([m.flow for m in messages])
            pick = np.linspace(0, len(video_rgb) - 1, min(per_video, len(video_rgb))).round().astype(int)
            rgb.append(video_rgb[pick])
            flow.append(video_flow[pick])
        clips = {
            # (n, L, H, W, C) -> (n, C, L, H, W) in [-1, 1], as the extractor feeds I3D
            "rgb": torch.from_numpy(np.concatenate(rgb)).permute(0, 4, 1, 2, 3).float() / 127.5 - 1,
            "flow": torch.from_numpy(np.concatenate(flow)).permute(0, 4, 1, 2, 3).float(),
        }
        for stream, model in models.items():
            calibrate_batch_norm(model, clips[stream])
    paths = {}
    for stream, model in models.items():
        paths[stream] = work / f"i3d_{stream}.pt"
        torch.save(model.state_dict(), paths[stream])
    return paths


def feature_spread(store: Path) -> str:
    """Mean over feature dimensions of the std over all snippets, per stream: near 0 = features carry nothing."""
    from wsal.features.store import FeatureStore

    with FeatureStore(store) as reader:
        feats = np.concatenate([reader.read(vid).features for vid in reader.video_ids])  # (S, 2048)
    half = feats.shape[1] // 2
    rgb, flow = feats[:, :half].std(0).mean(), feats[:, half:].std(0).mean()
    return f"feature spread (mean per-dimension std over {len(feats)} snippets): rgb {rgb:.3g}, flow {flow:.3g}"


def fit_skim_to_ground_truth(work: Path, layouts: dict[str, list], grid: "SnippetGrid", config: "SamplerConfig") -> "Skim":
    """The skim model fitted (``wsal sampler-fit``'s defaults) to 1 on the training videos' action snippets, else 0.

    A reference for what the cheap signals allow with a perfect teacher (segment-level labels, which
    the weakly-supervised localizer never sees).
    """
    from wsal.features.sampler import SkimFitConfig, coarse_signals
    from wsal.features.skim import fit_skim, skim_inputs
    from research.synthetic_video import ACTION_KINDS

    inputs, targets = [], []
    for vid, events in layouts.items():
        if vid.startswith("train_"):
            signals = coarse_signals(work / "train" / f"{vid}.mp4", grid, config)
            inputs.append(skim_inputs(signals))
            targets.append(np.isin(snippet_kinds(events, len(signals.motion), grid), ACTION_KINDS).astype(np.float32))
    return fit_skim(inputs, targets, grid, config, SkimFitConfig())


def snippet_kinds(events: list, num_snippets: int, grid: "SnippetGrid") -> np.ndarray:
    """(T,) what each snippet shows in most of its frames: an event kind or "still"."""
    starts = np.arange(num_snippets) * grid.stride_frames
    kinds = np.full(num_snippets, "still", dtype=object)
    for event in events:
        inside = np.minimum(event.end, starts + grid.clip_len_frames) - np.maximum(event.start, starts)
        kinds[2 * inside >= grid.clip_len_frames] = event.kind
    return kinds


def attention_by_kind(raw: Path, layouts: dict[str, list]) -> dict[str, np.ndarray]:
    """The teacher's attention values of all snippets, grouped by what the snippet shows."""
    from wsal.raw import RawReader

    values: dict[str, list[float]] = {}
    with RawReader(raw) as reader:
        for vid in reader.video_ids:
            attention = reader.read(vid).attention
            for kind, a in zip(snippet_kinds(layouts[vid], len(attention), reader.header.grid), attention):
                values.setdefault(str(kind), []).append(float(a))
    return {kind: np.array(v) for kind, v in sorted(values.items())}


def format_attention(by_kind: dict[str, np.ndarray]) -> str:
    return "\n".join(
        f"  {kind:8s} {len(v):5d} snippets  mean {np.mean(v):.3f}  (10% {np.quantile(v, 0.1):.3f}, 90% {np.quantile(v, 0.9):.3f})"
        for kind, v in by_kind.items()
    )


def compare(
    args: argparse.Namespace, work: Path, layouts: dict[str, list], skim_path: Path, teacher_raw: Path | None
) -> list[dict]:
    """Kept masks of each sampler at each budget on the held-out videos, pooled over videos."""
    from wsal.annotations import load_ground_truth
    from wsal.features.sampler import coarse_signals, max_kept, select_snippets, snippet_scores, spread
    from wsal.features.sampler_metrics import SamplerTotals, video_totals
    from wsal.features.skim import attention_targets, load_skim
    from research.synthetic_video import DISTRACTOR_KINDS, motion_snippets
    from wsal.raw import RawReader

    skim = load_skim(skim_path)
    config, grid = skim.sampler, skim.grid
    gt = load_ground_truth(work / "GT.json").subset("test")
    gt_skim = fit_skim_to_ground_truth(work, layouts, grid, config)
    samplers = ["motion", "learned", "uniform", "gt-skim"] + (["teacher"] if teacher_raw is not None else [])
    totals = {(s, b): SamplerTotals() for s in samplers for b in args.budgets}
    distractor = {(s, b): [0, 0] for s in samplers for b in args.budgets}  # kept, all distractor snippets
    teacher: dict[str, np.ndarray] = {}
    if teacher_raw is not None:
        with RawReader(teacher_raw) as reader:
            teacher = {vid: reader.read(vid).attention for vid in reader.video_ids}
    for vid in gt.video_ids():
        signals = coarse_signals(work / "test" / f"{vid}.mp4", grid, config)
        num = len(signals.motion)
        scores = {"motion": snippet_scores(signals, config), "learned": skim.scores(signals), "gt-skim": gt_skim.scores(signals)}
        if teacher_raw is not None:
            scores["teacher"] = attention_targets(teacher[vid], num)
        spans = [(e.start, e.end) for e in layouts[vid] if e.kind in DISTRACTOR_KINDS]
        distracting = motion_snippets(spans, np.arange(num) * grid.stride_frames, grid.clip_len_frames)
        for budget in args.budgets:
            for name in samplers:
                if name == "uniform":
                    kept = np.zeros(num, bool)
                    kept[spread(0, num, max_kept(num, budget))] = True
                else:
                    kept = select_snippets(scores[name], signals.cuts, budget, config.neighbours, config.coverage_snippets)
                totals[name, budget] += video_totals(kept, gt.videos[vid].segments_s, grid)
                distractor[name, budget][0] += int((kept & distracting).sum())
                distractor[name, budget][1] += int(distracting.sum())
    return [
        {"budget": b, "sampler": s, "totals": totals[s, b],
         "distractor_kept": distractor[s, b][0] / distractor[s, b][1] if distractor[s, b][1] else float("nan")}
        for b in args.budgets
        for s in samplers
    ]  # fmt: skip


SAMPLER_NOTES = {
    "motion": "motion (`--sampler motion`)",
    "learned": "learned (`--sampler learned`, distilled)",
    "uniform": "uniform subsampling",
    "gt-skim": "reference: skim model fitted to the training GT",
    "teacher": "reference: teacher's attention (needs the full pass)",
}


def format_table(rows: list[dict], args: argparse.Namespace, degenerate: bool) -> str:
    notes = dict(SAMPLER_NOTES)
    if degenerate:
        notes["learned"] += " - DEGENERATE TEACHER, arbitrary"
    lines = [
        f"held-out videos: {args.test_videos} x {args.seconds:g} s; pooled over videos",
        "",
        "| budget | sampler | kept | action time kept | instances kept | boundaries kept | distractor snippets kept |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        t = row["totals"]
        lines.append(
            f"| {row['budget']:g} | {notes[row['sampler']]} | {100 * t.kept_share:.1f}% | {100 * t.action_recall:.1f}% | "
            f"{100 * t.instance_recall:.1f}% ({t.kept_instances}/{t.instances}) | {100 * t.boundary_recall:.1f}% | "
            f"{100 * row['distractor_kept']:.1f}% |"
        )
    lines.append("")
    for budget in args.budgets:
        recall = {r["sampler"]: r["totals"].action_recall for r in rows if r["budget"] == budget}
        verdict = "tie" if abs(recall["learned"] - recall["motion"]) < 0.005 else (
            "learned wins" if recall["learned"] > recall["motion"] else "motion wins")  # fmt: skip
        lines.append(f"budget {budget:g}: {verdict} on action time kept (learned {100 * recall['learned']:.1f}%, "
                     f"motion {100 * recall['motion']:.1f}%)")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
