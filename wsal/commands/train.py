"""`wsal train`: train the attention-MIL model on a feature store with video-level labels."""

from __future__ import annotations

import argparse

from wsal.config import TrainConfig


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train the model (fixed step schedule; writes RUN/model.pt, log.csv, config.toml)",
        description=(
            "Train on the videos of data.train_subset with their video-level labels only. "
            "No test data is looked at during training; RUN/model.pt is the last step."
        ),
    )
    parser.add_argument(
        "--config",
        metavar="CFG.toml",
        help="experiment config (TOML); default: RUN/config.toml with --resume, else the built-in defaults",
    )
    parser.add_argument("--features", metavar="STORE.h5", help="feature store (overrides data.features)")
    parser.add_argument("--annotations", metavar="GT.json", help="ground truth JSON (overrides data.annotations)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.max_steps=100 (repeatable)",
    )
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder to create (or continue with --resume)")
    parser.add_argument("--resume", action="store_true", help="continue RUN from its latest checkpoint")
    parser.add_argument(
        "--skip-missing", action="store_true",
        help="train without the training videos the store lacks, listed on stderr (data.skip_missing; default: error)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help=f"auto | cpu | cuda | cuda:N (overrides train.device, default {TrainConfig.device!r})",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wsal.config import ExperimentConfig, load_config
    from wsal.train import train

    from wsal.outputs import check_writable_folder

    check_writable_folder(args.out, "run")
    config_path = args.config
    saved = config_path is None and args.resume and (Path(args.out) / "config.toml").is_file()
    if saved:
        config_path = Path(args.out) / "config.toml"
    overrides = [*args.overrides, *(["data.skip_missing=true"] if args.skip_missing else [])]
    config = load_config(ExperimentConfig, config_path, overrides, saved=saved)
    # train() ends with the one summary line (steps, time, final loss, model path) or says why nothing was trained
    train(config, args.features, args.annotations, args.out, resume=args.resume, device=args.device)
    return 0
