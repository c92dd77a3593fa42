"""The one inference path: a trained checkpoint (or saved raw outputs) -> detections in seconds.

* :func:`localize_from_network`: every video of a ground-truth subset through the network
  (whole videos, batched by length; resampled to ``data.num_snippets`` first when the run trained
  with ``data.sampling = "interpolate"``), post-processed by :func:`wsal.localize.localize_video`;
  optionally keeps the network outputs (:mod:`wsal.raw`).
* :func:`localize_store_videos`: the same for videos that have no ground truth (one's own videos:
  ``wsal run``); durations come from the store.
* :func:`localize_from_raw`: post-processing only, on saved raw outputs; equals the direct run for
  the same settings.

``wsal localize``, ``wsal run`` and ``wsal demo`` call these; the commands only parse arguments.
Checked before any video is processed: the store's layout against the checkpoint's
(:func:`check_store_matches`) and, with ground truth, that every video has features.

What this module does not do: train, evaluate, or draw (``wsal.figures`` draws; the ``timelines``
folder of the first and third functions only asks it to, per video).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from wsal.config import ConfigError, ExperimentConfig, LocalizeConfig, apply_overrides, config_from_dict, config_to_dict
from wsal.errors import WsalError

if TYPE_CHECKING:  # heavy modules (h5py, torch) load only when inference runs
    import numpy as np
    import torch
    from torch import nn

    from wsal.eval.io import KitClassList
    from wsal.annotations import GroundTruth
    from wsal.features.store import FeatureStore, StoreMeta
    from wsal.raw import RawVideo, RawWriter
    from wsal.timeline import SnippetGrid
    from wsal.train import LoadedModel

@dataclass
class LocalizeSummary:
    out: Path
    num_videos: int
    num_segments: int
    skipped: list[str]
    raw: Path | None = None
    network_s: float | None = None  # wall time of reading features and running the network
    post_s: float | None = None  # wall time of post-processing (and drawing timelines)
    timelines: Path | None = None  # folder of the timeline PNGs, when drawn

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
        if self.timelines is not None:
            text += f"; timelines in {self.timelines}"
        return text


def with_localize_overrides(config: ExperimentConfig, overrides: list[str], where: str) -> ExperimentConfig:
    """``config`` with ``localize.*`` overrides applied (strictly checked), its localize section
    then checked for values that make no sense (wsal.localize.check_config); other sections are refused."""
    from wsal.localize import check_config

    for text in overrides:
        if not text.strip().startswith("localize."):
            raise ConfigError(f"--set {text!r}: localize only changes post-processing (localize.* keys)")
    data = apply_overrides(config_to_dict(config), overrides)
    result = config_from_dict(ExperimentConfig, data, where)
    check_config(result.localize)
    return result


def localize_from_raw(
    raw_path: Path,
    out: Path,
    overrides: list[str],
    kit_classes: KitClassList | None = None,
    timelines: Path | None = None,
    gt: GroundTruth | None = None,
) -> LocalizeSummary:
    """Post-process a raw-output file into a detections JSON (``kit_classes``: the THUMOS-14 kit's
    txt with those class ids, :func:`wsal.eval.io.write_predictions`); ``timelines``: also one
    timeline PNG per video into that folder, with the ground truth of ``gt`` where it has the video."""
    from tqdm import tqdm

    from wsal.eval.io import write_predictions
    from wsal.figures import draw_timeline
    from wsal.raw import RawReader

    start = time.perf_counter()
    with RawReader(raw_path) as reader:
        config = with_localize_overrides(reader.header.config, overrides, f"{raw_path}: config")
        if kit_classes is not None:
            kit_classes.check_classes(reader.header.classes, f"{raw_path}: classes")
        results = {}
        for video in tqdm(reader, total=len(reader), desc="localize", unit="video"):
            results[video.video_id] = post_process(video, reader.header.grid, reader.header.classes, config.localize)
            if timelines is not None:
                video_gt = gt.videos.get(video.video_id) if gt is not None else None
                draw_timeline(timelines, video, reader.header.grid, reader.header.classes, results[video.video_id], video_gt)
    write_predictions(results, out, kit_classes)
    return LocalizeSummary(
        out, len(results), sum(map(len, results.values())), [], post_s=time.perf_counter() - start, timelines=timelines
    )


def post_process(video: RawVideo, grid: SnippetGrid, classes: tuple[str, ...], config: LocalizeConfig) -> list[dict]:
    """One :class:`wsal.raw.RawVideo` -> its detections in ActivityNet results form; non-finite
    outputs (a diverged checkpoint, a damaged raw file or store) are an error, not zero segments."""
    import numpy as np

    from wsal.localize import localize_video

    arrays = [video.cas_probs, video.attention, video.video_scores]
    arrays += [a for a in (video.change_scores, video.base_probs) if a is not None]
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
        base_probs=video.base_probs,
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
    command: str = "localize",
    kit_classes: KitClassList | None = None,
    timelines: Path | None = None,
) -> LocalizeSummary:
    """Run the checkpoint on every video of the subset and write detections (and raw outputs).
    ``command`` names the command in warnings (``wsal COMMAND: warning: ...``); ``kit_classes``:
    write the THUMOS-14 kit's txt with those class ids instead of JSON; ``timelines``: also one
    timeline PNG per video (ground truth, detections, attention, CAS) into that folder."""
    from wsal.annotations import load_ground_truth
    from wsal.features.store import FeatureStore

    for path, what in ((checkpoint, "checkpoint"), (features, "feature store"), (annotations, "ground-truth")):
        if not path.is_file():
            raise WsalError(f"{path}: {what} file not found")
    loaded, config, torch_device = load_for_inference(checkpoint, overrides, device)
    subset_name = subset if subset is not None else config.data.test_subset
    gt = load_ground_truth(annotations).subset(subset_name)
    if not gt.videos:
        raise WsalError(f"{annotations}: subset {subset_name!r} has no videos")
    unknown = sorted(set(gt.classes) - set(loaded.classes))
    if unknown:
        print(
            f"wsal {command}: warning: {len(unknown)} ground-truth classes are unknown to the checkpoint "
            f"(e.g. {unknown[0]!r}); they cannot be detected",
            file=sys.stderr,
        )

    with FeatureStore(features) as store:
        check_store_matches(store.meta, loaded.store_meta, features, checkpoint, command)
        video_ids = gt.video_ids()
        missing = [vid for vid in video_ids if vid not in store]
        if missing and not skip_missing:
            raise WsalError(
                f"{features}: {len(missing)} of {len(video_ids)} videos of subset {subset_name!r} have no features "
                f"(e.g. {missing[0]}); extract them or pass --skip-missing"
            )
        if missing:
            shown = ", ".join(missing[:20]) + (f", ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
            print(f"wsal {command}: skipping {len(missing)} videos without features: {shown}", file=sys.stderr)
        todo = [vid for vid in video_ids if vid in store]
        durations_s = {vid: gt.videos[vid].duration_s for vid in todo}
        on_video = None
        if timelines is not None:
            from wsal.figures import draw_timeline

            grid = store.meta.grid()

            def on_video(video: RawVideo, detections: list[dict]) -> None:
                draw_timeline(timelines, video, grid, loaded.classes, detections, gt.videos[video.video_id])

        summary = localize_store_videos(
            loaded, config, store, todo, torch_device, out=out, save_raw=save_raw, durations_s=durations_s,
            subset=subset_name, checkpoint=checkpoint, features=features, annotations=annotations, skipped=missing,
            on_video=on_video, kit_classes=kit_classes,
        )
        return dataclasses.replace(summary, timelines=timelines)


def load_for_inference(checkpoint: Path, overrides: list[str], device: str) -> tuple[LoadedModel, ExperimentConfig, torch.device]:
    """The checkpoint's model on ``device`` (auto | cpu | cuda | cuda:N) and its config with
    ``localize.*`` overrides applied and checked."""
    from wsal.devices import resolve_device
    from wsal.train import load_checkpoint

    torch_device = resolve_device(device)
    loaded = load_checkpoint(checkpoint, device=str(torch_device))
    config = with_localize_overrides(loaded.config, overrides, f"{checkpoint}: config")
    return loaded, config, torch_device


def localize_store_videos(
    loaded: LoadedModel,
    config: ExperimentConfig,
    store: FeatureStore,
    video_ids: list[str],
    device: torch.device,
    *,
    out: Path,
    save_raw: Path | None,
    durations_s: dict[str, float | None] | None = None,
    subset: str = "",
    checkpoint: Path | None = None,
    features: Path | None = None,
    annotations: Path | None = None,
    skipped: list[str] | None = None,
    on_video: Callable[[RawVideo, list[dict]], None] | None = None,
    kit_classes: KitClassList | None = None,
) -> LocalizeSummary:
    """``video_ids`` of an open ``store`` (all present, layout already checked) through the model
    in length-sorted batches -> detections JSON ``out`` in that order (and raw outputs).

    ``durations_s``: a video's duration when the ground truth knows it (else the store's);
    ``on_video(raw_video, detections)`` is called once per video, e.g. to draw its timeline;
    ``kit_classes``: write the THUMOS-14 kit's txt with those class ids instead of JSON.
    """
    from tqdm import tqdm

    from wsal.eval.io import write_predictions
    from wsal.raw import RawHeader, RawWriter

    grid = store.meta.grid()
    header = RawHeader(
        classes=tuple(loaded.classes),
        grid=grid,
        config=config,
        subset=subset,
        checkpoint=str(checkpoint or ""),
        features=str(features or store.path),
        annotations=str(annotations or ""),
    )
    if kit_classes is not None:  # before the network runs
        kit_classes.check_classes(header.classes, f"{checkpoint or 'the model'}: classes")
    writer = RawWriter(save_raw, header) if save_raw is not None else None
    results: dict[str, list[dict]] = {}
    network_s = post_s = 0.0
    lengths = {vid: store.num_snippets(vid) for vid in video_ids}
    known_s = durations_s or {}
    try:
        with tqdm(total=len(video_ids), desc="localize", unit="video") as bar:
            for chunk in network_batches(video_ids, lengths, config):
                start = time.perf_counter()
                entries = [store.read(vid) for vid in chunk]
                videos = run_network_batch(
                    loaded.model,
                    [e.features for e in entries],
                    config,
                    device,
                    chunk,
                    [known_s.get(vid) or e.duration_s for vid, e in zip(chunk, entries)],
                )
                network_s += time.perf_counter() - start
                start = time.perf_counter()
                for video in videos:
                    if writer is not None:
                        writer.add(video)
                    results[video.video_id] = post_process(video, grid, header.classes, config.localize)
                    if on_video is not None:
                        on_video(video, results[video.video_id])
                post_s += time.perf_counter() - start
                bar.update(len(chunk))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.commit()
    results = {vid: results[vid] for vid in video_ids}  # the given order, whatever the batching
    write_predictions(results, out, kit_classes)
    return LocalizeSummary(
        out, len(results), sum(map(len, results.values())), list(skipped or []), save_raw, network_s=network_s, post_s=post_s
    )


def check_store_matches(
    meta: StoreMeta,
    trained: dict[str, Any],
    features: Path,
    checkpoint: Path,
    command: str = "localize",
    warn_backbone: bool = True,
) -> None:
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
    if warn_backbone and meta.backbone != was.backbone:
        print(
            f"wsal {command}: warning: {features}: features from backbone {meta.backbone!r}, the checkpoint was trained "
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

    Interpolate runs see their resampled sequence; the change scores (when the model has them)
    are kept for ``--save-raw`` and timelines. Padding changes no valid output
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
        base_probs = model.base_probs(out)
        base = None if base_probs is None else base_probs.float().cpu().numpy()  # (B, T, C)
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
                base_probs=None if base is None else base[b, :t],
            )
        )
    return videos
