"""The HDF5 feature store: its schema, validation on read, and the only writer.

Schema (``SCHEMA_VERSION`` 1), one file per dataset:

* file attributes: ``schema_version``, ``fps``, ``clip_len_frames``, ``stride_frames``,
  ``streams`` (JSON list, column blocks in order, e.g. ``["rgb", "flow"]``), ``stream_dims``
  (JSON list, e.g. ``[1024, 1024]``), ``feature_dim`` (their sum), ``backbone``.
* one group per video, named by its id (an id that starts with ``_`` or ``%`` gets a ``%`` in
  front: names that start with ``_`` are the store's own): dataset ``features`` (T, D) float32, rgb
  columns first then flow; optional dataset ``kept`` (T,) bool from the sampler; attributes
  ``num_frames`` (at the store's fps), ``duration_s``, ``source``.
* group ``_failures``: one attribute per video that could not be processed, value = the reason.

Writing is crash-safe and resumable: :class:`StoreWriter` stages each finished video in its own
small file under ``STORE.h5.parts/`` (temp file + rename), and :meth:`StoreWriter.commit` builds
the final store in a temp file beside ``STORE.h5`` and renames it over it (wsal.outputs.atomic_path). A killed job therefore never
leaves a half-written store, and a re-run skips videos that are in the store or already staged.

Reading (:class:`FeatureStore`) checks the schema version and every video's shape when the file is
opened, and finiteness each time a video's features are read; errors name the file and the video.

What this module does not do: decode video, compute features, or know about labels.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import quote, unquote

import h5py
import numpy as np
from numpy.typing import NDArray

from wsal.errors import WsalError
from wsal.locks import file_lock
from wsal.outputs import atomic_path, fsync_path, write_text_atomic
from wsal.timeline import SnippetGrid

SCHEMA_VERSION = 1
FAILURES_GROUP = "_failures"
_PART_SUFFIX = ".part.h5"
_FAIL_SUFFIX = ".failed.json"
_META_FILE = "meta.json"


class StoreError(WsalError):
    """A feature store that cannot be read or written as asked."""


@dataclass(frozen=True)
class StoreMeta:
    """Store-wide facts every video shares. ``feature_dim`` is derived from ``stream_dims``."""

    fps: float
    clip_len_frames: int
    stride_frames: int
    streams: tuple[str, ...]
    stream_dims: tuple[int, ...]
    backbone: str

    def __post_init__(self) -> None:
        if len(self.streams) != len(self.stream_dims) or not self.streams:
            raise ValueError(f"streams {self.streams} and stream_dims {self.stream_dims} must match and be non-empty")

    @property
    def feature_dim(self) -> int:
        return int(sum(self.stream_dims))

    def grid(self) -> SnippetGrid:
        """The snippet grid of every row of the store (seconds of a row: :mod:`wsal.timeline`)."""
        return SnippetGrid(self.fps, self.clip_len_frames, self.stride_frames)

    def to_attrs(self) -> dict[str, object]:
        return {
            "schema_version": SCHEMA_VERSION,
            "fps": float(self.fps),
            "clip_len_frames": int(self.clip_len_frames),
            "stride_frames": int(self.stride_frames),
            "streams": json.dumps(list(self.streams)),
            "stream_dims": json.dumps([int(d) for d in self.stream_dims]),
            "feature_dim": self.feature_dim,
            "backbone": self.backbone,
        }

    @classmethod
    def from_attrs(cls, attrs: dict, where: str) -> "StoreMeta":
        try:
            version = int(attrs["schema_version"])
        except KeyError:
            raise StoreError(f"{where}: not a wsal feature store (no schema_version attribute)") from None
        if version != SCHEMA_VERSION:
            raise StoreError(f"{where}: schema_version {version} is not supported (this wsal reads {SCHEMA_VERSION})")
        try:
            meta = cls(
                fps=float(attrs["fps"]),
                clip_len_frames=int(attrs["clip_len_frames"]),
                stride_frames=int(attrs["stride_frames"]),
                streams=tuple(json.loads(_as_str(attrs["streams"]))),
                stream_dims=tuple(int(d) for d in json.loads(_as_str(attrs["stream_dims"]))),
                backbone=_as_str(attrs["backbone"]),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise StoreError(f"{where}: malformed store attributes ({err})") from None
        if int(attrs.get("feature_dim", meta.feature_dim)) != meta.feature_dim:
            raise StoreError(f"{where}: feature_dim {int(attrs['feature_dim'])} != sum of stream_dims {meta.feature_dim}")
        return meta

    def check_same(self, other: "StoreMeta", where: str) -> None:
        """Raise unless ``other`` describes the same kind of features (for appends and merges)."""
        if self != other:
            fields = ("fps", "clip_len_frames", "stride_frames", "streams", "stream_dims", "backbone")
            diff = [f"{f} {getattr(self, f)!r} here, {getattr(other, f)!r} asked" for f in fields if getattr(self, f) != getattr(other, f)]
            raise StoreError(f"{where}: store settings differ: {'; '.join(diff)}")


@dataclass
class VideoFeatures:
    """One video's entry in the store."""

    video_id: str
    features: NDArray[np.float32]  # (T, D)
    num_frames: int
    duration_s: float
    source: str
    kept: NDArray[np.bool_] | None = None  # (T,) or None when no sampler ran

    @property
    def num_snippets(self) -> int:
        return int(self.features.shape[0])


def open_hdf5_read(path: Path, what: str, error: type[WsalError] = WsalError) -> h5py.File:
    """``path`` opened read-only; ``error`` with a one-line message when it is missing or not HDF5.

    ``what`` names the kind of file in the message ("feature store", "raw-output file").
    """
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise error(f"{path}: not a readable HDF5 file") from None


class FeatureStore:
    """Read-only access to a store; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file = open_hdf5_read(self.path, "feature store", StoreError)
        try:
            self.meta = StoreMeta.from_attrs(dict(self._file.attrs), str(self.path))
            self.video_ids: list[str] = sorted(video_id_of(k) for k in self._file.keys() if not k.startswith("_"))
            for vid in self.video_ids:
                self._check_shapes(vid)
        except StoreError:
            self._file.close()
            raise

    def _check_shapes(self, vid: str) -> None:
        group = self._file[group_name(vid)]
        if not isinstance(group, h5py.Group) or "features" not in group:
            raise StoreError(f"{self.path}: video '{vid}' has no features dataset")
        features = group["features"]
        if features.dtype.kind not in "fiu":
            raise StoreError(f"{self.path}: video '{vid}' features are of type {features.dtype}, expected numbers")
        shape = features.shape
        attrs = group.attrs
        try:
            num_frames, duration_s = int(attrs["num_frames"]), float(attrs["duration_s"])
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(f"{self.path}: video '{vid}' lacks a numeric num_frames / duration_s attribute ({err})") from None
        if num_frames < 1 or not (np.isfinite(duration_s) and duration_s > 0):
            raise StoreError(f"{self.path}: video '{vid}' has num_frames {num_frames}, duration_s {duration_s}: both must be > 0")
        if len(shape) != 2 or shape[1] != self.meta.feature_dim:
            raise StoreError(
                f"{self.path}: video '{vid}' features have shape {shape}, expected (T, {self.meta.feature_dim})"
            )
        if shape[0] < 1:
            raise StoreError(f"{self.path}: video '{vid}' has zero snippets")
        if "kept" in group and group["kept"].shape != (shape[0],):
            raise StoreError(f"{self.path}: video '{vid}' kept mask has shape {group['kept'].shape}, expected ({shape[0]},)")

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self.video_ids)

    def __contains__(self, video_id: object) -> bool:
        return isinstance(video_id, str) and bool(video_id) and group_name(video_id) in self._file

    def __iter__(self) -> Iterator[str]:
        return iter(self.video_ids)

    def num_snippets(self, video_id: str) -> int:
        """Length T of one video without reading its features."""
        return int(self._group(video_id)["features"].shape[0])

    def _group(self, video_id: str) -> h5py.Group:
        if video_id not in self:
            raise StoreError(f"{self.path}: video '{video_id}' is not in the store")
        return self._file[group_name(video_id)]

    def read(self, video_id: str) -> VideoFeatures:
        """Load one video; raises if any feature value is NaN or infinite."""
        group = self._group(video_id)
        features = np.asarray(group["features"][()], dtype=np.float32)
        bad = int(np.size(features) - np.count_nonzero(np.isfinite(features)))
        if bad:
            raise StoreError(f"{self.path}: video '{video_id}' has {bad} non-finite feature values")
        kept = np.asarray(group["kept"][()], dtype=bool) if "kept" in group else None
        return VideoFeatures(
            video_id=video_id,
            features=features,
            num_frames=int(group.attrs["num_frames"]),
            duration_s=float(group.attrs["duration_s"]),
            source=_as_str(group.attrs.get("source", "")),
            kept=kept,
        )

    def failures(self) -> dict[str, str]:
        """Videos that could not be processed, with the reason recorded by the writer."""
        if FAILURES_GROUP not in self._file:
            return {}
        return {unquote(k): _as_str(v) for k, v in self._file[FAILURES_GROUP].attrs.items()}


class StoreWriter:
    """Adds videos to a (possibly existing) store, crash-safely; see the module docstring.

    ``with StoreWriter(path, meta) as writer: ...`` commits on a clean exit and keeps the staged
    parts (for a resume) when the block raises.
    """

    def __init__(self, path: str | os.PathLike, meta: StoreMeta) -> None:
        self.path = Path(path)
        self.meta = meta
        self.parts_dir = Path(str(self.path) + ".parts")
        # one writer per store: a second one fails here, before it touches the staged parts
        self._lock = file_lock(self.path, "feature store").acquire()
        try:
            self._open_parts()
        except BaseException:
            self._lock.release()
            raise

    def _open_parts(self) -> None:
        meta = self.meta
        self._existing: set[str] = set()
        if self.path.exists():
            with FeatureStore(self.path) as old:
                old.meta.check_same(meta, str(self.path))
                self._existing = set(old.video_ids)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        meta_file = self.parts_dir / _META_FILE
        staged_attrs = None
        if meta_file.exists():
            try:
                staged_attrs = json.loads(meta_file.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError, OSError):
                _warn(f"{meta_file}: damaged (a crash while it was written?): written again from this run's settings")
        if isinstance(staged_attrs, dict):
            StoreMeta.from_attrs(staged_attrs, str(self.parts_dir)).check_same(meta, str(self.parts_dir))
        else:
            write_text_atomic(json.dumps(meta.to_attrs()), meta_file)
        for part in sorted(self.parts_dir.glob("*" + _PART_SUFFIX)):
            problem = _part_problem(part, meta.feature_dim)
            if problem:
                part.unlink()
                _warn(f"{part}: damaged staged video ({problem}): removed, the video will be processed again")
        for record in sorted(self.parts_dir.glob("*" + _FAIL_SUFFIX)):
            try:
                json.loads(record.read_text())["video"]
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                record.unlink()
                _warn(f"{record}: damaged failure record: removed, the video will be tried again")

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.close()

    def close(self) -> None:
        """Release the store for other writers (staged parts stay for a later run)."""
        self._lock.release()

    def staged_ids(self) -> set[str]:
        return {unquote(p.name[: -len(_PART_SUFFIX)]) for p in self.parts_dir.glob("*" + _PART_SUFFIX)}

    def is_done(self, video_id: str) -> bool:
        """True when the video is already in the store or staged by an earlier (interrupted) run."""
        return video_id in self._existing or (self.parts_dir / (quote(video_id, safe="") + _PART_SUFFIX)).exists()

    def add(
        self,
        video_id: str,
        features: NDArray[np.floating],
        *,
        num_frames: int,
        duration_s: float,
        source: str,
        kept: NDArray[np.bool_] | None = None,
    ) -> None:
        """Stage one finished video (validated, written to a temp file and renamed)."""
        _check_video_id(video_id)
        feats = np.asarray(features, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != self.meta.feature_dim or feats.shape[0] < 1:
            raise StoreError(
                f"{self.path}: video '{video_id}' features have shape {feats.shape}, expected (T>=1, {self.meta.feature_dim})"
            )
        if not np.isfinite(feats).all():
            raise StoreError(f"{self.path}: video '{video_id}' has non-finite feature values")
        if kept is not None:
            kept = np.asarray(kept, dtype=bool)
            if kept.shape != (feats.shape[0],):
                raise StoreError(f"{self.path}: video '{video_id}' kept mask shape {kept.shape} != ({feats.shape[0]},)")
        stem = quote(video_id, safe="")
        final = self.parts_dir / (stem + _PART_SUFFIX)
        with atomic_path(final) as tmp, h5py.File(tmp, "w") as f:  # on disk before the rename makes it count as done
            group = f.create_group("video")
            _write_video_group(group, feats, kept, num_frames, duration_s, source, video_id)
        fsync_path(self.parts_dir)
        (self.parts_dir / (stem + _FAIL_SUFFIX)).unlink(missing_ok=True)

    def add_failure(self, video_id: str, reason: str) -> None:
        """Record that a video could not be processed (kept in the store's failure list)."""
        stem = quote(video_id, safe="")
        write_text_atomic(json.dumps({"video": video_id, "reason": reason}), self.parts_dir / (stem + _FAIL_SUFFIX))

    def commit(self) -> int:
        """Write existing + staged videos into the final store (temp file, then rename).

        Returns the number of videos in the committed store.
        """
        failures: dict[str, str] = {}
        if self.path.exists():
            with h5py.File(self.path, "r") as old:
                if FAILURES_GROUP in old:
                    failures.update({unquote(k): _as_str(v) for k, v in old[FAILURES_GROUP].attrs.items()})
        for p in sorted(self.parts_dir.glob("*" + _FAIL_SUFFIX)):
            record = json.loads(p.read_text())
            failures[record["video"]] = record["reason"]
        staged = sorted(self.parts_dir.glob("*" + _PART_SUFFIX))
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as out:
            out.attrs.update(self.meta.to_attrs())
            if self.path.exists():
                with h5py.File(self.path, "r") as old:
                    for vid in old.keys():
                        if not vid.startswith("_"):
                            old.copy(old[vid], out, name=vid)
            for part in staged:
                vid = unquote(part.name[: -len(_PART_SUFFIX)])
                with h5py.File(part, "r") as src:
                    if group_name(vid) in out:
                        del out[group_name(vid)]
                    src.copy(src["video"], out, name=group_name(vid))
            done = {video_id_of(k) for k in out.keys() if not k.startswith("_")}
            failed = {vid: reason for vid, reason in failures.items() if vid not in done}
            if failed:
                group = out.create_group(FAILURES_GROUP)
                for vid, reason in sorted(failed.items()):
                    group.attrs[quote(vid, safe="")] = reason
            count = len(done)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self._existing = done
        return count


def merge_stores(parts: Iterable[str | os.PathLike], out: str | os.PathLike) -> int:
    """Merge shard stores with identical settings into ``out`` (temp + rename); returns video count.

    A video present in two parts is an error (shards must split the video list).
    """
    paths = [Path(p) for p in parts]
    if not paths:
        raise StoreError("merge: no input stores given")
    metas = []
    owner: dict[str, Path] = {}
    failures: dict[str, str] = {}
    for p in paths:
        with FeatureStore(p) as store:
            metas.append(store.meta)
            for vid in store.video_ids:
                if vid in owner:
                    raise StoreError(f"{p}: video '{vid}' is also in {owner[vid]}")
                owner[vid] = p
            failures.update(store.failures())
    for p, m in zip(paths[1:], metas[1:]):
        metas[0].check_same(m, str(p))
    out_path = Path(out)
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as dst:
        dst.attrs.update(metas[0].to_attrs())
        for p in paths:
            with h5py.File(p, "r") as src:
                for vid in src.keys():
                    if not vid.startswith("_"):
                        src.copy(src[vid], dst, name=vid)
        failed = {v: r for v, r in failures.items() if v not in owner}
        if failed:
            group = dst.create_group(FAILURES_GROUP)
            for vid, reason in sorted(failed.items()):
                group.attrs[quote(vid, safe="")] = reason
    return len(owner)


def _write_video_group(
    group: h5py.Group,
    feats: NDArray[np.float32],
    kept: NDArray[np.bool_] | None,
    num_frames: int,
    duration_s: float,
    source: str,
    video_id: str,
) -> None:
    group.create_dataset("features", data=feats)
    if kept is not None:
        group.create_dataset("kept", data=kept)
    group.attrs["num_frames"] = int(num_frames)
    group.attrs["duration_s"] = float(duration_s)
    group.attrs["source"] = str(source)
    group.attrs["video_id"] = video_id


def is_valid_video_id(video_id: str) -> bool:
    """The store's naming rule: non-empty, no '/' (the HDF5 path separator), not '.'.

    >>> is_valid_video_id("video_test_0000004"), is_valid_video_id("_6fbXk6y8X0"), is_valid_video_id("a/b")
    (True, True, False)
    """
    return bool(video_id) and "/" not in video_id and video_id != "."


def group_name(video_id: str) -> str:
    """The HDF5 group of a video: its id, with '%' in front when the id starts with '_' (names that
    start with '_' are the store's own, like ``_failures``; YouTube ids can start with '_') or '%'.

    >>> group_name("v1"), group_name("_6fbXk6y8X0"), video_id_of(group_name("_6fbXk6y8X0"))
    ('v1', '%_6fbXk6y8X0', '_6fbXk6y8X0')
    """
    return "%" + video_id if video_id[:1] in ("_", "%") else video_id


def video_id_of(group: str) -> str:
    """The inverse of :func:`group_name`."""
    return group[1:] if group.startswith("%") else group


def _check_video_id(video_id: str) -> None:
    if not is_valid_video_id(video_id):
        raise StoreError(f"invalid video id '{video_id}': must be non-empty and contain no '/'")


def _part_problem(part: Path, feature_dim: int) -> str | None:
    """Why a staged video file cannot be committed (None when it can)."""
    try:
        with h5py.File(part, "r") as f:
            features = f["video/features"]
            if features.ndim != 2 or features.shape[0] < 1 or features.shape[1] != feature_dim:
                return f"features of shape {features.shape}, expected (T>=1, {feature_dim})"
            for key in ("num_frames", "duration_s"):
                if key not in f["video"].attrs:
                    return f"no {key} attribute"
    except (OSError, KeyError) as err:
        return str(err).splitlines()[0][:200]
    return None


def _warn(message: str) -> None:
    print(f"wsal: warning: {message}", file=sys.stderr)


def _as_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
