"""`wsal sampler-fit`: fit the learned sampler's skim model to a localizer's attention.

Reads the per-video foreground attention of a ``wsal localize --save-raw`` file, runs the
sampler's coarse pass on the same videos, fits the skim model of :mod:`wsal.features.skim` (cheap
per-snippet signals -> attention) and saves it for the learned sampler of the extractor
(``ExtractConfig(sampler="learned", sampler_model=M.pt)``; features/README.md, section Sampler).
Prints how well it fits (binary cross-entropy and correlation with the
attention on the training videos; no held-out figure: compare samplers with ``wsal
sampler-report --videos DIR --sampler-model M.pt`` on other videos).

What this module does not do: run the localizer or extract features.
"""

from __future__ import annotations

import argparse
import sys

from wsal.errors import WsalError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from wsal.features.sampler import SkimFitConfig as d  # light module; class attributes are the defaults

    parser = subparsers.add_parser(
        "sampler-fit",
        help="fit the learned sampler (skim model) to a localizer's attention from --save-raw",
        description=(
            "Fit a tiny model from the coarse pass's per-snippet signals (motion energy, appearance change, cuts) "
            "to the foreground attention a trained localizer gave the same videos (RAW.h5 from `wsal localize "
            "--save-raw`). The video files are found by id (file stem) in VIDEO_OR_DIR. Extract with it through "
            "`wsal extract --sampler learned --sampler-model M.pt`; compare it with the motion sampler with "
            "`wsal sampler-report --videos DIR --sampler-model M.pt`."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR", help="the videos of RAW.h5 (files, or folders searched recursively)")
    parser.add_argument("--raw", required=True, metavar="RAW.h5", help="raw outputs of `wsal localize --save-raw`")
    parser.add_argument("--out", required=True, metavar="M.pt", help="skim model file to write")
    parser.add_argument("--hidden", type=int, default=d.hidden, help="hidden units (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=d.steps, help="full-batch Adam steps (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=d.seed, help="initialisation seed (default: %(default)s)")
    parser.add_argument("--skip-missing", action="store_true", help="fit on the raw file's videos that have a file (default: error)")
    return parser


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from wsal.features.extract import find_videos
    from wsal.features.sampler import SamplerConfig, SkimFitConfig, coarse_signals
    from wsal.features.skim import attention_targets, fit_skim, save_skim, skim_inputs
    from wsal.raw import RawReader

    from wsal.outputs import check_writable

    check_writable(args.out, "sampler model")
    try:
        fit_config = SkimFitConfig(hidden=args.hidden, steps=args.steps, lr=args.lr, seed=args.seed)
    except ValueError as err:
        raise WsalError(str(err)) from None
    files = {task.video_id: task.path for task in find_videos(args.inputs)}
    sampler = SamplerConfig()
    inputs, targets = [], []
    with RawReader(args.raw) as raw:
        grid = raw.header.grid
        missing = [vid for vid in raw.video_ids if vid not in files]
        if missing and not args.skip_missing:
            raise WsalError(
                f"{args.raw}: {len(missing)} of {len(raw.video_ids)} videos have no file in {' '.join(args.inputs)} "
                f"(e.g. '{missing[0]}'); pass --skip-missing to fit on the others"
            )
        todo = [vid for vid in raw.video_ids if vid in files]
        if not todo:
            raise WsalError(f"{args.raw}: none of its {len(raw.video_ids)} videos has a file in {' '.join(args.inputs)}")
        mismatched = 0
        for vid in tqdm(todo, desc="coarse pass", unit="video", dynamic_ncols=True):
            video = raw.read(vid)
            signals = coarse_signals(files[vid], grid, sampler)
            mismatched += int(video.num_snippets != len(signals.motion))
            inputs.append(skim_inputs(signals))
            targets.append(attention_targets(video.attention, len(signals.motion)))
    if missing:
        print(f"wsal sampler-fit: skipped {len(missing)} videos without a file (e.g. {missing[0]})", file=sys.stderr)
    if mismatched:
        print(
            f"wsal sampler-fit: warning: {mismatched} videos have another snippet count in {args.raw} than the coarse "
            "pass (attention interpolated to the coarse pass's snippets)",
            file=sys.stderr,
        )
    skim = fit_skim(inputs, targets, grid, sampler, fit_config)
    save_skim(skim, args.out)
    x = torch.from_numpy(np.concatenate(inputs))
    y = np.clip(np.concatenate(targets), 0, 1)
    with torch.inference_mode():
        logits = skim.model(x)
        bce = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y)))
    pred = torch.sigmoid(logits).numpy()
    corr = float(np.corrcoef(pred, y)[0, 1]) if y.std() > 0 and pred.std() > 0 else float("nan")
    print(f"{args.out}: fitted on {len(todo)} videos, {len(y)} snippets (mean attention {y.mean():.3f}); "
          f"training BCE {bce:.4f}, correlation with the attention {corr:.3f}")  # fmt: skip
    return 0
