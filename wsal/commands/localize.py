"""`wsal localize`: a trained checkpoint + feature store -> detections JSON (ActivityNet results form).

Two ways in:

* network: ``--checkpoint RUN/model.pt --features STORE.h5 --annotations GT.json [--subset test]``
  runs every video of the ground-truth subset through the model (whole video at once; resampled
  to ``data.num_snippets`` first when the run trained with ``data.sampling = "interpolate"``),
  then post-processes with :func:`wsal.localize.localize_video`. ``--save-raw RAW.h5`` also keeps
  the network outputs (wsal.raw).
* ``--from-raw RAW.h5`` re-runs only the post-processing on saved outputs: no checkpoint,
  features or annotations needed, and the result equals the direct run for the same settings.

``--set localize.KEY=VALUE`` changes post-processing settings (only the ``localize`` section:
the network's settings are fixed by its checkpoint). Defaults come from the checkpoint's (or the
raw file's) resolved config.

Checked before any video is processed: store feature_dim, fps, clip and stride against the
checkpoint; every video of the subset having features (else an error naming how many and one
example; ``--skip-missing`` localizes the others and lists the missing ones on stderr).

What this module does not do: train or evaluate (``wsal evaluate`` reads the JSON it writes).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsal.config import ConfigError, ExperimentConfig, LocalizeConfig, apply_overrides, config_from_dict, config_to_dict
from wsal.errors import WsalError

if TYPE_CHECKING:  # heavy modules (h5py, torch) load only when a command runs
    import numpy as np
    import torch
    from torch import nn

    from wsal.features.store import StoreMeta
    from wsal.raw import RawVideo
    from wsal.timeline import SnippetGrid

_DEFAULTS = LocalizeConfig()


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "localize",
        help="checkpoint + features -> detections JSON (segments in seconds)",
        description=(
            "Localize actions with a trained checkpoint, or re-run post-processing on saved raw outputs "
            "(--from-raw). Writes ActivityNet-form results: {\"results\": {video: [{segment, label, score}]}}."
        ),
    )
    parser.add_argument("--checkpoint", metavar="RUN/model.pt", help="checkpoint written by `wsal train`")
    parser.add_argument("--features", metavar="STORE.h5", help="feature store holding the subset's videos")
    parser.add_argument("--annotations", metavar="GT.json", help="ground truth: which videos, and their durations")
    parser.add_argument(
        "--subset", default=None, help="ground-truth subset to localize (default: the checkpoint's data.test_subset)"
    )
    parser.add_argument("--out", required=True, metavar="PRED.json", help="detections file to write")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="localize.KEY=VALUE",
        help=(
            "post-processing override, repeatable, e.g. localize.nms=soft; unset keys keep the values in the "
            "checkpoint's (or raw file's) config, whose defaults are "
            f"boundaries={_DEFAULTS.boundaries}, class_threshold={_DEFAULTS.class_threshold}, "
            f"signal={_DEFAULTS.signal}, nms={_DEFAULTS.nms}, nms_iou={_DEFAULTS.nms_iou}, "
            f"max_per_video={_DEFAULTS.max_per_video}; boundaries=changepoint needs a checkpoint trained with "
            f"changepoint.enabled=true (cp_attention={list(_DEFAULTS.cp_attention)}, cp_merge={_DEFAULTS.cp_merge})"
        ),
    )
    raw = parser.add_mutually_exclusive_group()
    raw.add_argument("--save-raw", metavar="RAW.h5", help="also save CAS, attention and video scores per video")
    raw.add_argument("--from-raw", metavar="RAW.h5", help="post-process saved outputs only (no network)")
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="localize the subset's videos that have features and list the others on stderr (default: error)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    return parser


def run(args: argparse.Namespace) -> int:
    from wsal.outputs import check_writable

    check_writable(args.out, "detections")  # before any inference
    if args.save_raw:
        check_writable(args.save_raw, "raw outputs")
    if args.from_raw:
        stray = [name for name in ("checkpoint", "features", "annotations", "subset") if getattr(args, name)]
        if stray:
            raise WsalError(f"--from-raw re-uses saved outputs (videos, subset and all); drop --{stray[0]}")
        summary = localize_from_raw(Path(args.from_raw), Path(args.out), args.overrides)
    else:
        missing = [name for name in ("checkpoint", "features", "annotations") if not getattr(args, name)]
        if missing:
            raise WsalError(f"--{missing[0]} is required (or use --from-raw RAW.h5)")
        summary = localize_from_network(
            checkpoint=Path(args.checkpoint),
            features=Path(args.features),
            annotations=Path(args.annotations),
            subset=args.subset,
            out=Path(args.out),
            overrides=args.overrides,
            save_raw=Path(args.save_raw) if args.save_raw else None,
            skip_missing=args.skip_missing,
            device=args.device,
        )
    print(summary.line())
    return 0


# --------------------------------------------------------------------------- library API (demo uses it)


@dataclass
class LocalizeSummary:
    out: Path
    num_videos: int
    num_segments: int
    skipped: list[str]
    raw: Path | None = None
    network_s: float | None = None  # wall time of reading features and running the network
    post_s: float | None = None  # wall time of post-processing

    def line(self) -> str:
        text = f"wrote {self.out}: {self.num_segments} segments in {self.num_videos} videos"
        if self.network_s is not None and self.post_s is not None:
            text += f" in {self.network_s + self.post_s:.1f} s (network {self.network_s:.1f} s, post-processing {self.post_s:.1f} s)"
        elif self.post_s is not None:
            text += f" in {self.post_s:.1f} s"
        if self.skipped:
            text += f" ({len(self.skipped)} skipped without features)"
        if self.raw is not None:
            text += f"; raw outputs in {self.raw}"
        return text


def with_localize_overrides(config: ExperimentConfig, overrides: list[str], where: str) -> ExperimentConfig:
    """``config`` with ``localize.*`` overrides applied (strictly checked); other sections are refused."""
    for text in overrides:
        if not text.strip().startswith("localize."):
            raise ConfigError(f"--set {text!r}: localize only changes post-processing (localize.* keys)")
    data = apply_overrides(config_to_dict(config), overrides)
    return config_from_dict(ExperimentConfig, data, where)


def localize_from_raw(raw_path: Path, out: Path, overrides: list[str]) -> LocalizeSummary:
    """Post-process a raw-output file into a detections JSON."""
    from tqdm import tqdm

    from wsal.eval.io import write_predictions
    from wsal.localize import check_config
    from wsal.raw import RawReader

    start = time.perf_counter()
    with RawReader(raw_path) as reader:
        config = with_localize_overrides(reader.header.config, overrides, f"{raw_path}: config")
        check_config(config.localize)
        results = {}
        for video in tqdm(reader, total=len(reader), desc="localize", unit="video"):
            results[video.video_id] = post_process(video, reader.header.grid, reader.header.classes, config.localize)
    write_predictions(results, out)
    return LocalizeSummary(out, len(results), sum(map(len, results.values())), [], post_s=time.perf_counter() - start)


def post_process(video: RawVideo, grid: SnippetGrid, classes: tuple[str, ...], config: LocalizeConfig) -> list[dict]:
    """One :class:`wsal.raw.RawVideo` -> its detections in ActivityNet results form; non-finite
    outputs (a diverged checkpoint, a damaged raw file or store) are an error, not zero segments."""
    import numpy as np

    from wsal.localize import localize_video

    arrays = [video.cas_probs, video.attention, video.video_scores]
    if video.change_scores is not None:
        arrays.append(video.change_scores)
    if not all(np.isfinite(a).all() for a in arrays):
        raise WsalError(f"video {video.video_id!r}: the model outputs are not finite (NaN / inf): a diverged checkpoint or a damaged raw file")
    if video.duration_s is not None and not (np.isfinite(video.duration_s) and video.duration_s > 0):
        raise WsalError(f"video {video.video_id!r}: duration_s {video.duration_s} is not a positive number (damaged store or raw file)")
    segments = localize_video(
        video.cas_probs,
        video.attention,
        video.video_scores,
        grid,
        classes,
        config,
        duration_s=video.duration_s,
        num_original_snippets=video.num_original_snippets,
        change_scores=video.change_scores,
    )
    return [seg.to_json() for seg in segments]


def localize_from_network(
    *,
    checkpoint: Path,
    features: Path,
    annotations: Path,
    subset: str | None,
    out: Path,
    overrides: list[str],
    save_raw: Path | None,
    skip_missing: bool,
    device: str,
) -> LocalizeSummary:
    """Run the checkpoint on every video of the subset and write detections (and raw outputs)."""
    from tqdm import tqdm

    from wsal.eval.io import load_ground_truth, write_predictions
    from wsal.features.store import FeatureStore
    from wsal.localize import check_config
    from wsal.raw import RawHeader, RawWriter
    from wsal.timeline import SnippetGrid
    from wsal.train import load_checkpoint, resolve_device

    for path, what in ((checkpoint, "checkpoint"), (features, "feature store"), (annotations, "ground-truth")):
        if not path.is_file():
            raise WsalError(f"{path}: {what} file not found")
    torch_device = resolve_device(device)
    loaded = load_checkpoint(checkpoint, device=str(torch_device))
    config = with_localize_overrides(loaded.config, overrides, f"{checkpoint}: config")
    check_config(config.localize)
    subset_name = subset if subset is not None else config.data.test_subset
    gt = load_ground_truth(annotations).subset(subset_name)
    if not gt.videos:
        raise WsalError(f"{annotations}: subset {subset_name!r} has no videos")
    unknown = sorted(set(gt.classes) - set(loaded.classes))
    if unknown:
        print(
            f"wsal localize: warning: {len(unknown)} ground-truth classes are unknown to the checkpoint "
            f"(e.g. {unknown[0]!r}); they cannot be detected",
            file=sys.stderr,
        )

    with FeatureStore(features) as store:
        check_store_matches(store.meta, loaded.store_meta, features, checkpoint)
        grid = SnippetGrid(store.meta.fps, store.meta.clip_len_frames, store.meta.stride_frames)
        video_ids = gt.video_ids()
        missing = [vid for vid in video_ids if vid not in store]
        if missing and not skip_missing:
            raise WsalError(
                f"{features}: {len(missing)} of {len(video_ids)} videos of subset {subset_name!r} have no features "
                f"(e.g. {missing[0]}); extract them or pass --skip-missing"
            )
        if missing:
            shown = ", ".join(missing[:20]) + (f", ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
            print(f"wsal localize: skipping {len(missing)} videos without features: {shown}", file=sys.stderr)
        todo = [vid for vid in video_ids if vid in store]
        header = RawHeader(
            classes=tuple(loaded.classes),
            grid=grid,
            config=config,
            subset=subset_name,
            checkpoint=str(checkpoint),
            features=str(features),
            annotations=str(annotations),
        )
        writer = RawWriter(save_raw, header) if save_raw is not None else None
        results: dict[str, list[dict]] = {}
        network_s = post_s = 0.0
        lengths = {vid: store.num_snippets(vid) for vid in todo}
        try:
            with tqdm(total=len(todo), desc="localize", unit="video") as bar:
                for chunk in network_batches(todo, lengths, config):
                    start = time.perf_counter()
                    entries = [store.read(vid) for vid in chunk]
                    videos = run_network_batch(
                        loaded.model,
                        [e.features for e in entries],
                        config,
                        torch_device,
                        chunk,
                        [gt.videos[vid].duration_s or e.duration_s for vid, e in zip(chunk, entries)],
                    )
                    network_s += time.perf_counter() - start
                    start = time.perf_counter()
                    for video in videos:
                        if writer is not None:
                            writer.add(video)
                        results[video.video_id] = post_process(video, grid, header.classes, config.localize)
                    post_s += time.perf_counter() - start
                    bar.update(len(chunk))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is not None:
            writer.commit()
    results = {vid: results[vid] for vid in todo}  # the subset's order, whatever the batching
    write_predictions(results, out)
    return LocalizeSummary(
        out, len(results), sum(map(len, results.values())), missing, save_raw, network_s=network_s, post_s=post_s
    )


def check_store_matches(meta: StoreMeta, trained: dict[str, Any], features: Path, checkpoint: Path) -> None:
    """Raise when the store's feature layout differs from the one the checkpoint was trained on:
    streams, their widths and the snippet grid. Another backbone name (features extracted another
    way, e.g. community features for training and ``wsal extract`` for one's own videos) is allowed
    with a warning: the layout fits, but scores may not transfer."""
    from wsal.features.store import StoreMeta

    was = StoreMeta.from_attrs(trained, f"{checkpoint}: store_meta")
    for key in ("streams", "stream_dims", "fps", "clip_len_frames", "stride_frames"):
        now, then = getattr(meta, key), getattr(was, key)
        if now != then:
            show = (lambda v: "+".join(map(str, v))) if isinstance(now, tuple) else (lambda v: f"{v:g}")
            raise WsalError(f"{features}: store {key} {show(now)} differs from the checkpoint's {show(then)} ({checkpoint})")
    if meta.backbone != was.backbone:
        print(
            f"wsal localize: warning: {features}: features from backbone {meta.backbone!r}, the checkpoint was trained "
            f"on {was.backbone!r}: the layout fits, the scores may not transfer",
            file=sys.stderr,
        )


BATCH_SNIPPETS = 16 * 750  # padded snippets per network call: a THUMOS training batch
BATCH_VIDEOS = 64


def network_batches(video_ids: list[str], lengths: dict[str, int], config: ExperimentConfig) -> list[list[str]]:
    """The videos in network calls: sorted by length, as many per call as fit BATCH_SNIPPETS padded
    snippets (at most BATCH_VIDEOS; a longer video runs alone), so little padding is computed."""
    def rows(vid: str) -> int:
        interpolated = config.data.sampling == "interpolate"
        return config.data.num_snippets if interpolated else lengths[vid]

    out: list[list[str]] = []
    for vid in sorted(video_ids, key=rows):
        if out and len(out[-1]) < BATCH_VIDEOS and rows(vid) * (len(out[-1]) + 1) <= BATCH_SNIPPETS:
            out[-1].append(vid)  # sorted: this video is the longest of its call
        else:
            out.append([vid])
    return out


def run_network_batch(
    model: nn.Module,
    features: list[np.ndarray],
    config: ExperimentConfig,
    device: torch.device,
    video_ids: list[str],
    durations_s: list[float | None],
) -> list[RawVideo]:
    """Videos through the model in one padded batch, eval mode -> one :class:`wsal.raw.RawVideo` each.

    Like ``wsal.model.wsal.infer_video``, plus the resampling of interpolate runs and the change
    scores (when the model has them) that ``--save-raw`` keeps. Padding changes no valid output
    (the model's contract), so a video's outputs do not depend on its batch beyond float rounding.
    """
    import numpy as np
    import torch

    from wsal.data import interpolate_sequence
    from wsal.raw import RawVideo

    sequences = []
    for feats in features:
        if config.data.sampling == "interpolate" and feats.shape[0] != config.data.num_snippets:
            # the resampling the run trained on; wsal.localize maps positions back to snippets
            feats = interpolate_sequence(feats, config.data.num_snippets)
        sequences.append(np.ascontiguousarray(feats, dtype=np.float32))
    width = max(seq.shape[0] for seq in sequences)
    batch = np.zeros((len(sequences), width, sequences[0].shape[1]), dtype=np.float32)  # (B, T, D)
    valid = np.zeros((len(sequences), width), dtype=bool)  # (B, T)
    for b, seq in enumerate(sequences):
        batch[b, : seq.shape[0]] = seq
        valid[b, : seq.shape[0]] = True
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(batch).to(device)
        mask = torch.from_numpy(valid).to(device)
        out = model(x, mask)
        cas_probs, attention, video_scores = (t.float().cpu().numpy() for t in model.scores(out))
        change = None if out.change_scores is None else out.change_scores.float().cpu().numpy()
    videos = []
    for b, (vid, feats, seq, duration_s) in enumerate(zip(video_ids, features, sequences, durations_s)):
        t = seq.shape[0]
        videos.append(
            RawVideo(
                video_id=vid,
                cas_probs=cas_probs[b, :t],
                attention=attention[b, :t],
                video_scores=video_scores[b],
                num_snippets=int(feats.shape[0]),
                duration_s=duration_s,
                change_scores=None if change is None else change[b, :, :t],
            )
        )
    return videos
