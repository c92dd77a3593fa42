"""`wsal demo`: the whole chain on a small synthetic set, in well under a minute on a CPU (see experiments/README.md for the measured time).

1. ``DIR/data``: a seeded synthetic THUMOS-timed set (wsal.synthetic; 40 "validation" videos to
   train on, 20 "test" videos, 5 classes, 256-dim features so a CPU trains it quickly);
2. ``DIR/run``: ``wsal train`` for ``--steps`` steps with :data:`DEMO_CONFIG` (a small model);
3. ``DIR/predictions.json`` and ``DIR/raw.h5``: ``wsal localize`` on the test subset;
4. ``DIR/report``: ``wsal evaluate`` with the THUMOS tIoU preset (table printed, report.md,
   per-class CSV, plots) and ``DIR/eval.json``;
5. ``DIR/timelines/<video>.png``: ground truth, predictions, attention and CAS for a few test videos.

Re-running with the same ``--out`` replaces an earlier demo there (recognised by its
``DIR/wsal-demo.json`` marker); any other non-empty folder is refused.

What this module does not do: anything with real data (experiments/README.md has that chain).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from wsal.errors import WsalError
from wsal.outputs import check_writable_folder

if TYPE_CHECKING:
    from wsal.annotations import GroundTruth

DEFAULT_OUT = "wsal-demo"
DEFAULT_STEPS = 300
DEFAULT_SEED = 0
MARKER = "wsal-demo.json"
NUM_TIMELINES = 6
SYNTHETIC_FEATURE_DIM = 256

# Deltas over the ExperimentConfig defaults: a small model and a higher learning rate, so a few
# hundred steps on two CPU cores suffice; everything else (localize settings included) is default.
DEMO_CONFIG: dict = {
    "name": "demo",
    "data": {"train_subset": "validation", "test_subset": "test", "num_snippets": 300},
    "train": {"batch_size": 8, "lr": 1e-3, "log_every": 25, "checkpoint_every": 100000},
    "mil": {"embed_dim": 128},
}


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="synthetic data -> train -> localize -> evaluate, with figures (about 20 s on a 2-core CPU)",
        description=(
            "Build a small synthetic set, train on it, localize its test videos, evaluate (THUMOS tIoU "
            "preset) and draw per-video timelines. Everything goes into --out."
        ),
    )
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default: ./{DEFAULT_OUT})")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"training steps (default: {DEFAULT_STEPS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of data and training (default: {DEFAULT_SEED})")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise WsalError(f"--steps must be >= 1, got {args.steps}")
    out = check_writable_folder(args.out, "demo")
    prepare_folder(out)
    timings = run_demo(out, steps=args.steps, seed=args.seed, device=args.device)
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"demo folder: {out}  (report: {out / 'report' / 'report.md'}, timelines: {out / 'timelines'})")
    return 0


def prepare_folder(out: Path) -> None:
    """Make ``out`` ready: new or empty, or an earlier demo (whose contents are removed)."""
    if out.exists() and not out.is_dir():
        raise WsalError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise WsalError(f"{out}: folder is not empty and holds no earlier demo ({MARKER}); choose another --out")
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def run_demo(out: Path, *, steps: int, seed: int, device: str) -> dict[str, float]:
    """Steps 1-5 of the module docstring; returns wall-clock seconds per stage."""
    import dataclasses

    from wsal.inference import localize_from_network
    from wsal.config import ExperimentConfig, config_from_dict
    from wsal.eval.detection import detection_map
    from wsal.eval.io import load_predictions
    from wsal.annotations import load_ground_truth
    from wsal.outputs import write_json_atomic
    from wsal.eval.report import TIOU_PRESETS, Run, format_table, summary_json, write_report
    from wsal.synthetic import make_synthetic_dataset
    from wsal.train import train

    (out / MARKER).write_text(json.dumps({"steps": steps, "seed": seed}) + "\n")
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    print(f"[1/5] synthetic data -> {out / 'data'}")
    store, gt_path = make_synthetic_dataset(out / "data", seed=seed, feature_dim=SYNTHETIC_FEATURE_DIM, show_progress=True)
    timings["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    print(f"[2/5] train {steps} steps -> {out / 'run'}")
    config = config_from_dict(ExperimentConfig, DEMO_CONFIG, "demo config")
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=steps, seed=seed))
    checkpoint = train(config, store, gt_path, out / "run", device=device)
    timings["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    print("[3/5] localize the test subset")
    pred_path, raw_path = out / "predictions.json", out / "raw.h5"
    summary = localize_from_network(
        checkpoint=checkpoint,
        features=store,
        annotations=gt_path,
        subset="test",
        out=pred_path,
        overrides=[],
        save_raw=raw_path,
        skip_missing=False,
        device=device,
    )
    print(summary.line())
    timings["localize"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    print("[4/5] evaluate (THUMOS tIoU preset)")
    gt = load_ground_truth(gt_path).subset("test")
    result = detection_map(gt, load_predictions(pred_path), TIOU_PRESETS["thumos"])
    runs = [Run(name="demo", path=str(pred_path), result=result)]
    print(format_table(runs, "thumos"))
    write_json_atomic(summary_json(runs[0], "test", "thumos"), out / "eval.json")
    write_report(out / "report", runs, str(gt_path), "test", "thumos")
    timings["evaluate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    print(f"[5/5] timelines -> {out / 'timelines'}")
    draw_timelines(raw_path, pred_path, gt, out / "timelines", NUM_TIMELINES)
    timings["figures"] = time.perf_counter() - t0
    return timings


def draw_timelines(raw_path: Path, pred_path: Path, gt: GroundTruth, folder: Path, limit: int) -> list[Path]:
    """One timeline PNG for each of the first ``limit`` videos of the raw file."""
    from wsal.figures import draw_timeline
    from wsal.raw import RawReader

    results = json.loads(pred_path.read_text())["results"]
    with RawReader(raw_path) as reader:
        return [
            draw_timeline(folder, reader.read(vid), reader.header.grid, reader.header.classes, results.get(vid, []), gt.videos[vid])
            for vid in reader.video_ids[:limit]
        ]
