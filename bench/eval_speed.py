"""Times detection mAP at ActivityNet-1.3 scale: wsal.eval.detection vs plain per-prediction loops.

Synthetic, seeded data shaped like ActivityNet-1.3 validation: 4,926 videos, 200 classes, 1-3
ground-truth segments per video (one class per video, sometimes a second), 100 predictions per
video of which 80 carry a ground-truth class of the video (boundaries jittered around a
ground-truth segment or random) and 20 a random class, scores uniform; the 10 thresholds of the
official evaluator (the ``activitynet`` preset). Three implementations run on the same data in
this process: the fast path, wsal's plain loop (``reference_per_class_ap``) and a plain loop of
the official evaluator's matching written from its definition (``official_activitynet_ap``; the
official code itself, with pandas rows, is slower still, so its ratio is a lower bound). The
script checks that every per-class AP agrees to 1e-9 and prints the times (wall clock and process
CPU time; the CPU time is the steadier figure on a busy machine) and the ratios.

One-core figures: ``taskset -c 0 python bench/eval_speed.py`` (it also sets OMP/BLAS threads to 1).
``--skip-reference`` times only the fast path; ``--videos`` scales the data set down or up.

    python bench/eval_speed.py [--videos 4926] [--skip-reference]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from wsal.annotations import GroundTruth, VideoGT  # noqa: E402
from wsal.eval.detection import detection_map  # noqa: E402
from wsal.eval.io import Predictions  # noqa: E402
from wsal.eval.reference import official_activitynet_ap, reference_per_class_ap  # noqa: E402
from wsal.eval.report import TIOU_PRESETS  # noqa: E402


def synthetic_activitynet(num_videos: int, num_classes: int, preds_per_video: int, seed: int) -> tuple[GroundTruth, Predictions]:
    rng = np.random.default_rng(seed)
    classes = [f"class_{c:03d}" for c in range(num_classes)]
    videos: dict[str, VideoGT] = {}
    cols: dict[str, list] = {"vid": [], "label": [], "start": [], "end": []}
    for v in range(num_videos):
        vid = f"video_{v:05d}"
        duration_s = float(rng.uniform(20, 240))
        n_gt = int(rng.integers(1, 4))
        video_classes = rng.choice(num_classes, size=1 + int(rng.random() < 0.1), replace=False)
        gt_cls = rng.choice(video_classes, size=n_gt)
        length = rng.uniform(0.05, 0.6, n_gt) * duration_s
        start = rng.uniform(0, duration_s - length)
        segs = np.stack([start, start + length], axis=1)
        videos[vid] = VideoGT(vid, "validation", duration_s, None, segs, tuple(classes[c] for c in gt_cls), np.zeros((0, 2)))
        n_on = int(round(0.8 * preds_per_video))
        pick = rng.integers(0, n_gt, n_on)
        jitter = rng.normal(0, 0.15, (n_on, 2)) * length[pick, None]
        on = np.sort(segs[pick] + jitter, axis=1)
        rand_len = rng.uniform(0.02, 0.8, preds_per_video - n_on) * duration_s
        rand_start = rng.uniform(0, duration_s - rand_len)
        off = np.stack([rand_start, rand_start + rand_len], axis=1)
        seg = np.clip(np.concatenate([on, off]), 0, duration_s)
        label = np.concatenate([gt_cls[pick], rng.integers(0, num_classes, preds_per_video - n_on)])
        cols["vid"].extend([vid] * preds_per_video)
        cols["label"].extend(classes[c] for c in label)
        cols["start"].append(seg[:, 0])
        cols["end"].append(seg[:, 1])
    gt = GroundTruth(videos, tuple(sorted({lab for v in videos.values() for lab in v.labels})), "synthetic")
    num = len(cols["vid"])
    preds = Predictions(
        video_ids=np.asarray(cols["vid"], dtype=str),
        labels=np.asarray(cols["label"], dtype=str),
        start_s=np.concatenate(cols["start"]),
        end_s=np.concatenate(cols["end"]),
        scores=rng.random(num),
        path="synthetic",
    )
    return gt, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4926)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--preds-per-video", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="fast-path runs; the best time is printed")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    thresholds = np.asarray(TIOU_PRESETS["activitynet"])
    gt, preds = synthetic_activitynet(args.videos, args.classes, args.preds_per_video, args.seed)
    print(f"data: {len(gt.videos)} videos, {len(gt.classes)} classes, {gt.num_instances()} GT segments, "
          f"{len(preds)} predictions, {len(thresholds)} thresholds {thresholds[0]}:{thresholds[-1]}")
    fast_s, fast_cpu_s = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = detection_map(gt, preds, thresholds)
        fast_s.append(time.perf_counter() - t0)
        fast_cpu_s.append(time.process_time() - c0)
    print(f"wsal.eval.detection.detection_map: {min(fast_s):.3f} s wall, {min(fast_cpu_s):.3f} s CPU "
          f"(best of {args.repeat}; wall: {', '.join(f'{t:.3f}' for t in fast_s)})  average mAP {result.average_mAP:.4f}")
    if args.skip_reference:
        return
    # the official code stops at a label without ground truth; wsal drops those predictions, so the
    # official loop gets the file without them (the per-class APs are the same either way)
    known = np.isin(preds.labels, np.asarray(result.classes))
    official_preds = Predictions(preds.video_ids[known], preds.labels[known], preds.start_s[known], preds.end_s[known],
                                 preds.scores[known], preds.path)  # fmt: skip
    for name, loop, rows in (("reference_per_class_ap (wsal's rules)", reference_per_class_ap, preds),
                             ("official_activitynet_ap (official matching)", official_activitynet_ap, official_preds)):
        t0, c0 = time.perf_counter(), time.process_time()
        reference = loop(gt, rows, thresholds.tolist())
        ref_s, ref_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        worst = max(float(np.max(np.abs(np.asarray(reference[c]) - result.per_class_AP[c]))) for c in reference)
        if set(reference) != set(result.classes) or worst > 1e-9:
            raise SystemExit(f"MISMATCH with {name}: largest per-class AP difference {worst:.3g}")
        print(f"plain loop {name}: {ref_s:.3f} s wall, {ref_cpu_s:.3f} s CPU; speed-up {ref_s / min(fast_s):.1f}x wall, "
              f"{ref_cpu_s / min(fast_cpu_s):.1f}x CPU; per-class APs agree (largest difference {worst:.2g})")


if __name__ == "__main__":
    main()
