"""Ground truth readers: THUMOS-14 txt, ActivityNet JSON and W-TALC npy -> one annotation set.

Every reader returns an :class:`AnnotationSet` (videos with subset, duration, fps, labelled
instances in seconds and THUMOS "Ambiguous" regions) that :meth:`AnnotationSet.to_database` turns
into the ground-truth JSON form of DESIGN.md::

    {"database": {vid: {"subset", "duration", "fps",
                        "annotations": [{"segment": [s, e], "label": L}],
                        "ambiguous": [[s, e]]}}}        # "ambiguous" only where there are some

Formats read:

* ``thumos14``: the official per-class txt folders ``annotations_val/`` and/or ``annotations_test/``
  (or one such folder). Files ``<Class>_val.txt`` / ``<Class>_test.txt``, one ``video start end``
  per line (any whitespace). ``Ambiguous_*.txt`` become ambiguous regions, not a class; a video
  that only has ambiguous regions is kept with no instances. Other files (readme.txt) are ignored.
  Subsets: ``_val`` -> "validation", ``_test`` -> "test".
* ``activitynet``: ActivityNet JSON ``{"database": {vid: {"subset", "duration", "annotations"}}}``
  (v1.2 / v1.3, also this module's own output) or a results-form file ``{"results": {vid: [...]}}``
  whose videos get the subset given by the caller. Segment values may be numbers or numeric
  strings. Subset names are kept as in the file.
* ``wtalc``: the W-TALC npy folder (videoname, subset, segments, labels, optional duration,
  classlist, url, original_fps, misc_fps.txt, Ambiguous_test.txt). Video ids: the YouTube id from
  ``url.npy`` when that file exists (ActivityNet 1.2's videoname holds placeholders like
  ``video_4``), else ``videoname.npy``; see :func:`wtalc_video_ids`.

Zero-length or reversed segments (end <= start) are never kept and never dropped silently: each
reader lists them in :attr:`AnnotationSet.dropped` for the caller to report.

What this module does not do: write files (``wsal.groundtruth.write_ground_truth`` does), evaluate,
touch features, or guess missing durations (they stay ``None`` unless a video-info file supplies
them, see :func:`apply_video_info`).
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from wsal.errors import WsalError
from wsal.jsonfile import read_json_file, read_text_file, to_number
from wsal.npyfile import load_npy

FORMATS: tuple[str, ...] = ("thumos14", "activitynet", "wtalc")
AMBIGUOUS_LABEL = "Ambiguous"
THUMOS_SUBSETS: dict[str, str] = {"val": "validation", "test": "test"}
THUMOS_FOLDERS: tuple[str, ...] = ("annotations_val", "annotations_test")
_THUMOS_FILE = re.compile(r"^(?P<label>.+)_(?P<split>val|test)\.txt$")
_WTALC_AMBIGUOUS_FILE = "Ambiguous_test.txt"


class AnnotationError(WsalError):
    """An annotation file that cannot be read as the format asked for."""


@dataclass(frozen=True)
class Instance:
    """One labelled action instance, in seconds."""

    start_s: float
    end_s: float
    label: str


@dataclass
class AnnotatedVideo:
    """One video's ground truth. ``duration_s`` / ``fps`` are ``None`` when the source lacks them."""

    subset: str
    duration_s: float | None = None
    fps: float | None = None
    instances: list[Instance] = field(default_factory=list)
    ambiguous: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class DroppedSegment:
    """A zero-length or reversed segment that was left out; ``where`` names file (and line)."""

    video: str
    label: str
    start_s: float
    end_s: float
    where: str


@dataclass
class AnnotationSet:
    """What a reader found: the videos, the segments it dropped, and notes for the user."""

    videos: dict[str, AnnotatedVideo] = field(default_factory=dict)
    dropped: list[DroppedSegment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def after_the_end(self) -> list[tuple[str, float, float]]:
        """(video, start_s, duration_s) of every instance that starts after its video ends (when the
        duration is known). The official THUMOS-14 test annotations hold a few (e.g.
        video_test_0000270); they are kept, as the official ground truth keeps them, and reported."""
        return [
            (vid, inst.start_s, video.duration_s)
            for vid, video in sorted(self.videos.items())
            if video.duration_s is not None
            for inst in video.instances
            if inst.start_s >= video.duration_s
        ]

    def subsets(self) -> dict[str, tuple[int, int, int]]:
        """``{subset: (videos, instances, ambiguous regions)}``, subsets sorted by name."""
        counts: dict[str, list[int]] = {}
        for video in self.videos.values():
            row = counts.setdefault(video.subset, [0, 0, 0])
            row[0] += 1
            row[1] += len(video.instances)
            row[2] += len(video.ambiguous)
        return {name: (row[0], row[1], row[2]) for name, row in sorted(counts.items())}

    def to_database(self) -> dict[str, Any]:
        """The ``"database"`` object of the ground-truth JSON (DESIGN.md form), videos sorted by id."""
        database: dict[str, Any] = {}
        for vid in sorted(self.videos):
            video = self.videos[vid]
            entry: dict[str, Any] = {
                "subset": video.subset,
                "duration": video.duration_s,
                "fps": video.fps,
                "annotations": [{"segment": [i.start_s, i.end_s], "label": i.label} for i in video.instances],
            }
            if video.ambiguous:
                entry["ambiguous"] = [[s, e] for s, e in video.ambiguous]
            database[vid] = entry
        return database

    def add_segment(
        self, vid: str, start_s: float, end_s: float, label: str, where: str, ambiguous: bool = False
    ) -> None:
        """Adds an instance (an ambiguous region if ``ambiguous``) to a video already in :attr:`videos`.

        Segments with ``end_s <= start_s`` go to :attr:`dropped` instead.
        """
        if start_s < 0:
            raise AnnotationError(f"{where}: segment [{start_s:g}, {end_s:g}] starts before the video (negative time)")
        if not end_s > start_s:
            self.dropped.append(DroppedSegment(vid, label, start_s, end_s, where))
        elif ambiguous:
            self.videos[vid].ambiguous.append((start_s, end_s))
        else:
            self.videos[vid].instances.append(Instance(start_s, end_s, label))


def youtube_id(url: str) -> str | None:
    """The ``v`` parameter of a YouTube watch URL, or ``None``.

    >>> youtube_id("https://www.youtube.com/watch?v=--0edUL8zmA")
    '--0edUL8zmA'
    >>> youtube_id("video_4") is None
    True
    """
    values = parse_qs(urlparse(url).query).get("v")
    return values[0] if values and values[0] else None


def parse_thumos_line(line: str, where: str) -> tuple[str, float, float] | None:
    """``video start end`` (any whitespace) -> ``(video, start_s, end_s)``; ``None`` for a blank line.

    >>> parse_thumos_line("video_test_0000004  0.2 1.1 \\r\\n", "f:1")
    ('video_test_0000004', 0.2, 1.1)
    >>> parse_thumos_line("   ", "f:2") is None
    True
    """
    fields = line.split()
    if not fields:
        return None
    if len(fields) != 3:
        raise AnnotationError(f"{where}: expected 'video_name start end', got {line.strip()!r}")
    return fields[0], to_number(fields[1], where), to_number(fields[2], where)


def _require_folder(path: Path) -> None:
    if not path.exists():
        raise AnnotationError(f"{path}: no such folder")
    if not path.is_dir():
        raise AnnotationError(f"{path}: not a folder")


# ---------------------------------------------------------------------------------------------
# THUMOS-14 official txt


def thumos14_files(source: Path) -> list[Path]:
    """The ``<Class>_val.txt`` / ``<Class>_test.txt`` files under ``source``: validation first, then by name.

    ``source`` holds ``annotations_val/`` and/or ``annotations_test/``, or is one such folder.
    """
    _require_folder(source)
    folders = [source / name for name in THUMOS_FOLDERS if (source / name).is_dir()] or [source]
    files = [
        path
        for folder in folders
        for path in sorted(folder.iterdir())
        if path.is_file() and _THUMOS_FILE.match(path.name)
    ]
    if not files:
        raise AnnotationError(
            f"{source}: no <Class>_val.txt or <Class>_test.txt files (expected the official THUMOS-14 "
            f"folder holding {' and/or '.join(THUMOS_FOLDERS)}, or one of those folders)"
        )
    return files


def read_thumos14(source: Path) -> AnnotationSet:
    """Reads the official THUMOS-14 per-class txt files (see the module docstring)."""
    result = AnnotationSet()
    for path in thumos14_files(Path(source)):
        match = _THUMOS_FILE.match(path.name)
        assert match is not None  # thumos14_files only returns matching names
        label, subset = match["label"], THUMOS_SUBSETS[match["split"]]
        text = read_text_file(path, "annotation")
        if not text.strip():
            result.notes.append(f"{path}: empty: class {label} has no segments in {subset} from this file")
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{path}:{number}"
            parsed = parse_thumos_line(line, where)
            if parsed is None:
                continue
            vid, start_s, end_s = parsed
            video = result.videos.setdefault(vid, AnnotatedVideo(subset=subset))
            if video.subset != subset:
                raise AnnotationError(
                    f"{where}: video {vid} is in subset {subset!r} here but {video.subset!r} elsewhere"
                )
            result.add_segment(vid, start_s, end_s, label, where, ambiguous=label == AMBIGUOUS_LABEL)
    return result


# ---------------------------------------------------------------------------------------------
# ActivityNet JSON


def _optional_seconds(value: object, where: str) -> float | None:
    return None if value is None else positive_seconds(value, where)


def positive_seconds(value: object, where: str) -> float:
    """:func:`wsal.jsonfile.to_number`, and more than 0 (a duration)."""
    seconds = to_number(value, where)
    if seconds <= 0:
        raise AnnotationError(f"{where}: a duration must be > 0 s, got {seconds:g}")
    return seconds


def _json_segment(raw: object, where: str) -> tuple[float, float]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise AnnotationError(f"{where}: 'segment' must be [start, end], got {raw!r}")
    return to_number(raw[0], where), to_number(raw[1], where)


def _json_annotations(result: AnnotationSet, path: Path, vid: str, items: object, key: str) -> None:
    if not isinstance(items, list):
        raise AnnotationError(f"{path}: video {vid}: {key!r} must be a list, got {type(items).__name__}")
    for index, item in enumerate(items):
        where = f"{path}: video {vid}, {key} {index}"
        if not isinstance(item, dict) or "segment" not in item or "label" not in item:
            raise AnnotationError(f"{where}: expected an object with 'segment' and 'label', got {item!r}")
        label = item["label"]
        if not isinstance(label, str) or not label:
            raise AnnotationError(f"{where}: 'label' must be a non-empty string, got {label!r}")
        start_s, end_s = _json_segment(item["segment"], where)
        result.add_segment(vid, start_s, end_s, label, where)


def read_activitynet(path: Path, subset: str | None = None) -> AnnotationSet:
    """Reads ActivityNet JSON: the ``database`` form, or the ``results`` form labelled ``subset``.

    In the database form ``subset`` only fills videos that have no "subset" of their own.
    """
    path = Path(path)
    data = read_json_file(path, "annotation")
    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        return _activitynet_database(path, data["database"], subset)
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        if subset is None:
            raise AnnotationError(
                f"{path}: a results-form file ({{\"results\": ...}}) has no subsets; "
                "pass --subset NAME to label its videos"
            )
        return _activitynet_results(path, data["results"], subset)
    raise AnnotationError(
        f"{path}: expected an ActivityNet JSON object with a 'database' (or 'results') object at the top"
    )


def _activitynet_database(path: Path, database: dict[str, Any], subset: str | None) -> AnnotationSet:
    result = AnnotationSet()
    for vid, entry in database.items():
        if not isinstance(entry, dict):
            raise AnnotationError(f"{path}: video {vid}: expected an object, got {type(entry).__name__}")
        video_subset = entry.get("subset", subset)
        if video_subset is None:
            raise AnnotationError(f"{path}: video {vid} has no 'subset' (pass --subset NAME to give one)")
        if not isinstance(video_subset, str) or not video_subset:
            raise AnnotationError(f"{path}: video {vid}: 'subset' must be a non-empty string, got {video_subset!r}")
        if "annotations" not in entry:
            raise AnnotationError(f"{path}: video {vid} has no 'annotations' list")
        result.videos[vid] = AnnotatedVideo(
            subset=video_subset,
            duration_s=_optional_seconds(entry.get("duration"), f"{path}: video {vid}, duration"),
            fps=_optional_seconds(entry.get("fps"), f"{path}: video {vid}, fps"),
        )
        _json_annotations(result, path, vid, entry["annotations"], "annotations")
        ambiguous = entry.get("ambiguous", [])
        if not isinstance(ambiguous, list):
            raise AnnotationError(f"{path}: video {vid}: 'ambiguous' must be a list of [start, end]")
        for index, raw in enumerate(ambiguous):
            where = f"{path}: video {vid}, ambiguous {index}"
            start_s, end_s = _json_segment(raw, where)
            result.add_segment(vid, start_s, end_s, AMBIGUOUS_LABEL, where, ambiguous=True)
    return result


def _activitynet_results(path: Path, results: dict[str, Any], subset: str) -> AnnotationSet:
    result = AnnotationSet()
    for vid, items in results.items():
        result.videos[vid] = AnnotatedVideo(subset=subset)
        _json_annotations(result, path, vid, items, "result")
    result.notes.append(
        f"{path}: results-form file read as ground truth of subset {subset!r} (scores ignored, no durations)"
    )
    return result


# ---------------------------------------------------------------------------------------------
# W-TALC npy folder


def _load_npy(folder: Path, name: str, required: bool) -> np.ndarray | None:
    path = folder / f"{name}.npy"
    if not path.exists():
        if required:
            raise AnnotationError(
                f"{path}: missing (a W-TALC annotation folder needs videoname, subset, segments, labels .npy)"
            )
        return None
    try:
        return load_npy(path)  # object arrays without running code from the file (wsal.npyfile)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise AnnotationError(f"{path}: cannot read as a .npy array ({err})") from None


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _column(folder: Path, name: str, array: np.ndarray, count: int) -> np.ndarray:
    flat = array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array
    if flat.ndim != 1 or len(flat) != count:
        raise AnnotationError(
            f"{folder / (name + '.npy')}: expected {count} entries (one per video), got shape {array.shape}"
        )
    return flat


def wtalc_video_ids(folder: Path) -> list[str]:
    """Video ids of a W-TALC annotation folder, in row order (the order of its features).

    The YouTube id from ``url.npy`` when that file exists (ActivityNet 1.2 names its videos
    ``video_<n>``), otherwise ``videoname.npy``. Ids must be unique.
    """
    folder = Path(folder)
    _require_folder(folder)
    return _wtalc_ids(folder, _wtalc_names(folder))


def _wtalc_names(folder: Path) -> np.ndarray:
    names = _load_npy(folder, "videoname", required=True)
    assert names is not None  # required=True raises instead
    return _column(folder, "videoname", names, names.shape[0] if names.ndim else -1)


def _wtalc_ids(folder: Path, names: np.ndarray) -> list[str]:
    urls = _load_npy(folder, "url", required=False)
    if urls is None:
        ids = [_text(name) for name in names]
    else:
        ids = []
        for row, url in enumerate(_column(folder, "url", urls, len(names))):
            vid = youtube_id(_text(url))
            if vid is None:
                raise AnnotationError(
                    f"{folder / 'url.npy'}: row {row}: {_text(url)!r} is not a YouTube watch URL with v="
                )
            ids.append(vid)
    seen: set[str] = set()
    for row, vid in enumerate(ids):
        if vid in seen:
            raise AnnotationError(f"{folder}: video id {vid} appears twice (row {row})")
        seen.add(vid)
    return ids


def _misc_fps(folder: Path) -> dict[str, float]:
    """``misc_fps.txt`` (``videoname fps`` per line, ActivityNet 1.3 W-TALC folder) if present."""
    path = folder / "misc_fps.txt"
    if not path.exists():
        return {}
    fps: dict[str, float] = {}
    for number, line in enumerate(read_text_file(path, "annotation").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise AnnotationError(f"{path}:{number}: expected 'video_name fps', got {line.strip()!r}")
        fps[fields[0]] = to_number(fields[1], f"{path}:{number}")
    return fps


def _npy_column(folder: Path, name: str, count: int, required: bool) -> np.ndarray | None:
    """``<name>.npy`` as one entry per video (``(N, 1)`` arrays are flattened), or ``None`` when absent."""
    array = _load_npy(folder, name, required)
    return None if array is None else _column(folder, name, array, count)


def read_wtalc(folder: Path) -> AnnotationSet:
    """Reads a W-TALC annotation folder (see the module docstring)."""
    folder = Path(folder)
    _require_folder(folder)
    names = _wtalc_names(folder)
    ids = _wtalc_ids(folder, names)
    count = len(ids)
    subsets = _npy_column(folder, "subset", count, required=True)
    segments = _npy_column(folder, "segments", count, required=True)
    labels = _npy_column(folder, "labels", count, required=True)
    assert subsets is not None and segments is not None and labels is not None  # required=True raises instead
    durations = _npy_column(folder, "duration", count, required=False)
    fps_rows = _npy_column(folder, "original_fps", count, required=False)
    classlist = _load_npy(folder, "classlist", required=False)
    classes = None if classlist is None else {_text(c) for c in classlist.reshape(-1)}
    fps_by_name = _misc_fps(folder)

    result = AnnotationSet()
    for row, vid in enumerate(ids):
        where = f"{folder}: video {vid} (row {row})"
        fps = fps_rows[row] if fps_rows is not None else fps_by_name.get(_text(names[row]))
        result.videos[vid] = AnnotatedVideo(
            subset=_text(subsets[row]),
            duration_s=None if durations is None else positive_seconds(durations[row], f"{where}, duration.npy"),
            fps=None if fps is None else to_number(fps, f"{where}, fps"),
        )
        video_segments, video_labels = segments[row], labels[row]
        if not all(isinstance(rows, (list, tuple, np.ndarray)) for rows in (video_segments, video_labels)):
            raise AnnotationError(f"{where}: segments.npy and labels.npy rows must be lists")
        if len(video_segments) != len(video_labels):
            raise AnnotationError(
                f"{where}: {len(video_labels)} labels in labels.npy for {len(video_segments)} segments in segments.npy"
            )
        for index, (raw, raw_label) in enumerate(zip(video_segments, video_labels)):
            label = _text(raw_label)
            if classes is not None and label not in classes:
                raise AnnotationError(f"{where}: label {label!r} (segment {index}) is not in classlist.npy")
            at = f"{where}, segment {index}"
            start_s, end_s = _json_segment(raw.tolist() if isinstance(raw, np.ndarray) else raw, at)
            result.add_segment(vid, start_s, end_s, label, at)
    _wtalc_ambiguous(result, folder / _WTALC_AMBIGUOUS_FILE)
    return result


def _wtalc_ambiguous(result: AnnotationSet, path: Path) -> None:
    """Adds ``Ambiguous_test.txt`` regions (``video start end``) to the videos of the set."""
    if not path.exists():
        return
    skipped: list[str] = []
    for number, line in enumerate(read_text_file(path, "annotation").splitlines(), start=1):
        parsed = parse_thumos_line(line, f"{path}:{number}")
        if parsed is None:
            continue
        vid, start_s, end_s = parsed
        if vid not in result.videos:
            skipped.append(vid)
            continue
        result.add_segment(vid, start_s, end_s, AMBIGUOUS_LABEL, f"{path}:{number}", ambiguous=True)
    if skipped:
        result.notes.append(
            f"{path}: {len(skipped)} ambiguous regions of {len(set(skipped))} video(s) not in the annotation set "
            f"were skipped (e.g. {skipped[0]})"
        )


# ---------------------------------------------------------------------------------------------
# Video info and writing


@dataclass(frozen=True)
class VideoInfo:
    """Per-video facts from a video-info file; either may be unknown."""

    fps: float | None
    duration_s: float | None


def read_video_info(path: Path) -> dict[str, VideoInfo]:
    """Reads ``{vid: {"fps": .., "duration": .., ...}}`` (e.g. TH14_video_info.json); other keys are ignored."""
    path = Path(path)
    data = read_json_file(path, "video-info")
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected an object {{video: {{\"fps\", \"duration\"}}}}")
    info: dict[str, VideoInfo] = {}
    for vid, entry in data.items():
        if not isinstance(entry, dict):
            raise AnnotationError(f"{path}: video {vid}: expected an object with 'fps' and/or 'duration'")
        info[vid] = VideoInfo(
            fps=_optional_seconds(entry.get("fps"), f"{path}: video {vid}, fps"),
            duration_s=_optional_seconds(entry.get("duration"), f"{path}: video {vid}, duration"),
        )
    return info


def apply_video_info(annotations: AnnotationSet, info: dict[str, VideoInfo]) -> list[str]:
    """Overwrites fps / duration of the videos that ``info`` knows; returns the ids it does not know."""
    missing = []
    for vid, video in annotations.videos.items():
        known = info.get(vid)
        if known is None:
            missing.append(vid)
            continue
        if known.fps is not None:
            video.fps = known.fps
        if known.duration_s is not None:
            video.duration_s = known.duration_s
    return sorted(missing)


def read_annotations(fmt: str, source: Path, subset: str | None = None) -> AnnotationSet:
    """Dispatches to the reader of ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "thumos14":
        return read_thumos14(source)
    if fmt == "activitynet":
        return read_activitynet(source, subset=subset)
    if fmt == "wtalc":
        return read_wtalc(source)
    raise AnnotationError(f"unknown annotation format {fmt!r} (choose from {', '.join(FORMATS)})")
