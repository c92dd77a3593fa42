"""Raw network outputs of `wsal localize --save-raw`, so post-processing can be re-tuned without it.

One HDF5 file (this is not a feature store; wsal.features.store owns those):

* file attributes: ``kind`` = ``"wsal-raw"``, ``raw_version`` (1), ``classes`` (JSON list, the
  C columns), ``fps``, ``clip_len_frames``, ``stride_frames`` (the :class:`SnippetGrid`),
  ``config`` (the resolved :class:`ExperimentConfig` as TOML), ``subset``, ``checkpoint``,
  ``features``, ``annotations`` (paths the outputs came from, for the record);
* one group per video: datasets ``cas_probs`` (T, C), ``attention`` (T,), ``video_scores`` (C,)
  float32, optional ``change_scores`` (L, T) and ``base_probs`` (T, C) (models with background
  suppression: WsalModel.base_probs; files written before it have none); attributes ``num_snippets`` (the video's real
  snippet count; differs from T when the network saw a resampled sequence) and ``duration_s``
  (NaN when unknown).

:class:`RawWriter` writes a temp file beside ``RAW.h5`` video by video and renames it over
``RAW.h5`` on :meth:`RawWriter.commit` (wsal.outputs.atomic_path), so an interrupted run never
leaves a half-written file.
:class:`RawReader` checks the kind, version and every video's shapes when opened.

What this module does not do: run the network or post-process (``wsal.localize``).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, unquote

import h5py
import numpy as np
from numpy.typing import NDArray

from wsal.config import ExperimentConfig, config_from_dict, config_to_toml, without_retired_keys
from wsal.errors import WsalError
from wsal.features.store import open_hdf5_read
from wsal.outputs import atomic_path
from wsal.timeline import SnippetGrid

RAW_KIND = "wsal-raw"
RAW_VERSION = 1


@dataclass
class RawVideo:
    """Network outputs of one video, as :func:`wsal.localize.localize_video` takes them."""

    video_id: str
    cas_probs: NDArray[np.float32]  # (T, C)
    attention: NDArray[np.float32]  # (T,)
    video_scores: NDArray[np.float32]  # (C,)
    num_snippets: int  # real snippets of the video (T when not resampled)
    duration_s: float | None
    change_scores: NDArray[np.float32] | None = None  # (L, T)
    base_probs: NDArray[np.float32] | None = None  # (T, C): the plain CAS of a model with suppression

    @property
    def num_original_snippets(self) -> int | None:
        """The resampling argument of localize_video: None when T is the real snippet count."""
        return None if self.num_snippets == self.cas_probs.shape[0] else self.num_snippets


@dataclass(frozen=True)
class RawHeader:
    """What every video of a raw file shares."""

    classes: tuple[str, ...]
    grid: SnippetGrid
    config: ExperimentConfig
    subset: str
    checkpoint: str = ""
    features: str = ""
    annotations: str = ""


class RawWriter:
    """Writes a raw file video by video; use as a context manager (commits on a clean exit)."""

    def __init__(self, path: str | os.PathLike, header: RawHeader) -> None:
        self.path = Path(path)
        self.header = header
        self._target = atomic_path(self.path)  # the temp file lives until commit() or abort()
        self._file = h5py.File(self._target.__enter__(), "w")
        self._file.attrs.update(
            {
                "kind": RAW_KIND,
                "raw_version": RAW_VERSION,
                "classes": json.dumps(list(header.classes)),
                "fps": float(header.grid.fps),
                "clip_len_frames": int(header.grid.clip_len_frames),
                "stride_frames": int(header.grid.stride_frames),
                "config": config_to_toml(header.config),
                "subset": header.subset,
                "checkpoint": header.checkpoint,
                "features": header.features,
                "annotations": header.annotations,
            }
        )
        self._count = 0

    def __enter__(self) -> "RawWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def add(self, video: RawVideo) -> None:
        _check_video(video, len(self.header.classes), str(self.path))
        group = self._file.create_group(quote(video.video_id, safe=""))
        group.create_dataset("cas_probs", data=np.asarray(video.cas_probs, dtype=np.float32))
        group.create_dataset("attention", data=np.asarray(video.attention, dtype=np.float32))
        group.create_dataset("video_scores", data=np.asarray(video.video_scores, dtype=np.float32))
        if video.change_scores is not None:
            group.create_dataset("change_scores", data=np.asarray(video.change_scores, dtype=np.float32))
        if video.base_probs is not None:
            group.create_dataset("base_probs", data=np.asarray(video.base_probs, dtype=np.float32))
        group.attrs["num_snippets"] = int(video.num_snippets)
        group.attrs["duration_s"] = float("nan") if video.duration_s is None else float(video.duration_s)
        self._count += 1

    def commit(self) -> int:
        """Close and rename the temp file over the target; returns the number of videos."""
        self._file.close()
        self._target.__exit__(None, None, None)
        return self._count

    def abort(self) -> None:
        """Close and delete the temp file (the target, if any, is untouched)."""
        self._file.close()
        aborted = RuntimeError("raw output aborted")
        self._target.__exit__(RuntimeError, aborted, None)


class RawReader:
    """Read access to a raw file; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file = open_hdf5_read(self.path, "raw-output file")
        try:
            self.header = self._read_header()
            self.video_ids: list[str] = sorted(unquote(k) for k in self._file.keys())
            for vid in self.video_ids:
                self._check_group(vid)
        except WsalError:
            self._file.close()
            raise

    def _read_header(self) -> RawHeader:
        attrs = dict(self._file.attrs)
        if _as_str(attrs.get("kind", "")) != RAW_KIND:
            raise WsalError(f"{self.path}: not a wsal raw-output file (written by `wsal localize --save-raw`)")
        version = int(attrs.get("raw_version", -1))
        if version != RAW_VERSION:
            raise WsalError(f"{self.path}: raw_version {version} is not supported (this wsal reads {RAW_VERSION})")
        try:
            where = f"{self.path}: config"
            config = config_from_dict(ExperimentConfig, without_retired_keys(tomllib.loads(_as_str(attrs["config"])), where, resuming=False), where)
            return RawHeader(
                classes=tuple(json.loads(_as_str(attrs["classes"]))),
                grid=SnippetGrid(float(attrs["fps"]), int(attrs["clip_len_frames"]), int(attrs["stride_frames"])),
                config=config,
                subset=_as_str(attrs["subset"]),
                checkpoint=_as_str(attrs.get("checkpoint", "")),
                features=_as_str(attrs.get("features", "")),
                annotations=_as_str(attrs.get("annotations", "")),
            )
        except (KeyError, ValueError, tomllib.TOMLDecodeError) as err:
            raise WsalError(f"{self.path}: malformed raw-output attributes ({err})") from None

    def __enter__(self) -> "RawReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self.video_ids)

    def __iter__(self) -> Iterator[RawVideo]:
        return (self.read(vid) for vid in self.video_ids)

    def _group(self, video_id: str) -> "h5py.Group":
        key = quote(video_id, safe="")
        if key not in self._file:
            raise WsalError(f"{self.path}: video '{video_id}' is not in the raw-output file")
        return self._file[key]

    def _check_group(self, video_id: str) -> None:
        """Shapes and attributes of one video from the file's metadata (no array is read)."""
        group = self._group(video_id)
        missing = [f"dataset '{n}'" for n in ("cas_probs", "attention", "video_scores") if n not in group]
        missing += [f"attribute '{n}'" for n in ("num_snippets", "duration_s") if n not in group.attrs]
        if missing:
            raise WsalError(f"{self.path}: video '{video_id}' lacks {', '.join(missing)}")
        shapes = [group[name].shape for name in ("cas_probs", "attention", "video_scores")]
        change_shape = group["change_scores"].shape if "change_scores" in group else None
        base_shape = group["base_probs"].shape if "base_probs" in group else None
        num_snippets = int(group.attrs["num_snippets"])
        _check_shapes(video_id, *shapes, change_shape, num_snippets, len(self.header.classes), str(self.path), base_shape)

    def read(self, video_id: str) -> RawVideo:
        """One video's outputs (its shapes were checked when the file was opened)."""
        group = self._group(video_id)
        duration = float(group.attrs["duration_s"])
        return RawVideo(
            video_id=video_id,
            cas_probs=np.asarray(group["cas_probs"][()], dtype=np.float32),
            attention=np.asarray(group["attention"][()], dtype=np.float32),
            video_scores=np.asarray(group["video_scores"][()], dtype=np.float32),
            num_snippets=int(group.attrs["num_snippets"]),
            duration_s=None if math.isnan(duration) else duration,
            change_scores=np.asarray(group["change_scores"][()], dtype=np.float32) if "change_scores" in group else None,
            base_probs=np.asarray(group["base_probs"][()], dtype=np.float32) if "base_probs" in group else None,
        )


def _check_video(video: RawVideo, num_classes: int, where: str) -> None:
    change_shape = None if video.change_scores is None else video.change_scores.shape
    base_shape = None if video.base_probs is None else video.base_probs.shape
    _check_shapes(
        video.video_id, video.cas_probs.shape, video.attention.shape, video.video_scores.shape, change_shape,
        video.num_snippets, num_classes, where, base_shape,
    )  # fmt: skip


def _check_shapes(
    video_id: str,
    cas_shape: tuple[int, ...],
    attention_shape: tuple[int, ...],
    scores_shape: tuple[int, ...],
    change_shape: tuple[int, ...] | None,
    num_snippets: int,
    num_classes: int,
    where: str,
    base_shape: tuple[int, ...] | None = None,
) -> None:
    T = cas_shape[0] if len(cas_shape) == 2 else -1
    problems = []
    if len(cas_shape) != 2 or cas_shape[1] != num_classes:
        problems.append(f"cas_probs shape {cas_shape} is not (T, {num_classes})")
    if attention_shape != (T,):
        problems.append(f"attention shape {attention_shape} is not ({T},)")
    if scores_shape != (num_classes,):
        problems.append(f"video_scores shape {scores_shape} is not ({num_classes},)")
    if change_shape is not None and (len(change_shape) != 2 or change_shape[1] != T):
        problems.append(f"change_scores shape {change_shape} is not (L, {T})")
    if base_shape is not None and base_shape != tuple(cas_shape):
        problems.append(f"base_probs shape {base_shape} is not {tuple(cas_shape)} (as cas_probs)")
    if num_snippets < 1:
        problems.append(f"num_snippets {num_snippets} < 1")
    if problems:
        raise WsalError(f"{where}: video '{video_id}': {'; '.join(problems)}")


def _as_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
