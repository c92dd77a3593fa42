"""Ground truth: the one model (:class:`GroundTruth` of :class:`VideoGT`), its JSON reader and
writer, and the importers of THUMOS-14 txt, ActivityNet JSON and W-TALC npy.

The JSON form (DESIGN.md; ActivityNet's "database" form)::

    {"database": {vid: {"subset", "duration", "fps",
                        "annotations": [{"segment": [s, e], "label": L}],
                        "ambiguous": [[s, e]]}}}        # "ambiguous" only where there are some

``duration``, ``fps`` and ``ambiguous`` are optional, other keys are ignored.
:func:`load_ground_truth` is tolerant where real files differ: times given as numeric strings
(``"18.6"``, as some THUMOS gt.json files ship them), integer values, extra keys, zero-length
segments. Strict where it matters: a file that is missing, empty or not JSON, a wrong top-level
shape, non-numeric, NaN or infinite values, non-positive durations or frame rates, reversed
segments (end < start) and segments that start before 0 raise :class:`WsalError` with one line
naming the file, the video and the entry. :func:`write_ground_truth` checks what it is given with
the same rules, then writes atomically.

Importers (:func:`read_annotations`) return an :class:`AnnotationSet`: videos in the same model,
the segments they dropped, notes for the user. Formats read:

* ``thumos14``: the official per-class txt folders ``annotations_val/`` and/or ``annotations_test/``
  (or one such folder). Files ``<Class>_val.txt`` / ``<Class>_test.txt``, one ``video start end``
  per line (any whitespace). ``Ambiguous_*.txt`` become ambiguous regions, not a class; a video
  that only has ambiguous regions is kept with no instances. Other files (readme.txt) are ignored.
  Subsets: ``_val`` -> "validation", ``_test`` -> "test".
* ``activitynet``: ActivityNet JSON ``{"database": {vid: {"subset", "duration", "annotations"}}}``
  (v1.2 / v1.3, also this module's own output), read by the same parser as a ground-truth file
  (:func:`parse_video`) with the importer's tolerance below, or a results-form file
  ``{"results": {vid: [...]}}`` whose videos get the subset given by the caller. Subset names are
  kept as in the file.
* ``wtalc``: the W-TALC npy folder (videoname, subset, segments, labels, optional duration,
  classlist, url, original_fps, misc_fps.txt, Ambiguous_test.txt). Video ids: the YouTube id from
  ``url.npy`` when that file exists (ActivityNet 1.2's videoname holds placeholders like
  ``video_4``), else ``videoname.npy``; see :func:`wtalc_video_ids`.

Importers never keep zero-length or reversed segments (end <= start) and never drop them
silently: each lists them in :attr:`AnnotationSet.dropped` for the caller to report.

This is part of the core every stage reads (training, localization, evaluation): it imports none
of them. What it does not do: read predictions (wsal.eval.io), compute any metric, touch
features, or guess missing durations (they stay ``None`` unless a video-info file supplies them,
see :func:`apply_video_info`).
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import parse_qs, urlparse

import numpy as np

from wsal.errors import WsalError
from wsal.jsonfile import read_json_file, read_text_file, to_number
from wsal.npyfile import load_npy
from wsal.outputs import write_json_atomic

# The label THUMOS-14 gives regions where no detection is right or wrong ("ambiguous" in the JSON form).
AMBIGUOUS_LABEL = "Ambiguous"


@dataclass(frozen=True)
class VideoGT:
    """Ground truth of one video. Times in seconds."""

    video_id: str
    subset: str
    duration_s: float | None
    fps: float | None
    segments_s: np.ndarray  # (N, 2) float64 start, end
    labels: tuple[str, ...]  # (N,)
    ambiguous_s: np.ndarray  # (M, 2) float64 THUMOS Ambiguous regions; (0, 2) when none


@dataclass(frozen=True)
class GroundTruth:
    """All videos of one ground-truth file (or of one subset of it).

    ``classes`` is the sorted set of labels over every video of the *file* (all subsets), so a
    class index stays the same whichever subset is evaluated.
    """

    videos: dict[str, VideoGT]
    classes: tuple[str, ...]
    path: str

    def subset(self, name: str | None) -> "GroundTruth":
        """The videos of subset ``name`` (None: all). Keeps ``classes`` and ``path``."""
        if name is None:
            return self
        available = self.subsets()
        if name not in available:
            raise WsalError(
                f"{self.path}: no subset {name!r}; available subsets: {', '.join(available) or '(none)'}"
            )
        videos = {vid: v for vid, v in self.videos.items() if v.subset == name}
        return GroundTruth(videos=videos, classes=self.classes, path=self.path)

    def restricted(self, video_ids: Iterable[str], source: str) -> "GroundTruth":
        """Only the videos in ``video_ids`` (e.g. those a feature store holds); ``source`` names the
        list in the error raised when none of them is in the ground truth."""
        keep = set(video_ids)
        videos = {vid: v for vid, v in self.videos.items() if vid in keep}
        if not videos:
            raise WsalError(f"{source}: none of its {len(keep)} videos is in the ground truth {self.path}")
        return GroundTruth(videos=videos, classes=self.classes, path=self.path)

    def subsets(self) -> list[str]:
        """Sorted names of the subsets present."""
        return sorted({v.subset for v in self.videos.values()})

    def video_ids(self) -> list[str]:
        """Sorted video ids."""
        return sorted(self.videos)

    def num_instances(self) -> int:
        """Number of annotated (non-ambiguous) segments over all videos."""
        return sum(len(v.labels) for v in self.videos.values())


def to_segment(value: Any, where: str) -> tuple[float, float]:
    """``[start, end]`` of finite numbers with end >= start (a zero-length segment is allowed)."""
    start_s, end_s = to_pair(value, where)
    if end_s < start_s:
        raise WsalError(f"{where}: segment [{start_s:g}, {end_s:g}] is reversed (end < start)")
    return start_s, end_s


def to_label(value: Any, where: str) -> str:
    """A non-empty string label."""
    if not isinstance(value, str) or not value:
        raise WsalError(f"{where}: label must be a non-empty string, got {value!r}")
    return value


def positive_number(value: Any, where: str) -> float:
    """:func:`wsal.jsonfile.to_number`, and more than 0 (a duration, a frame rate)."""
    number = to_number(value, where)
    if number <= 0:
        raise WsalError(f"{where}: must be > 0, got {number:g}")
    return number


def to_pair(value: Any, where: str) -> tuple[float, float]:
    """``[start, end]`` of finite numbers, in any order (importers drop reversed ones, readers refuse them)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise WsalError(f"{where}: segment must be [start, end], got {value!r}")
    return to_number(value[0], where), to_number(value[1], where)


def segments_array(pairs: Sequence[tuple[float, float]]) -> np.ndarray:
    """(N, 2) float64 start, end from N pairs (shape (0, 2) when there are none)."""
    return np.asarray(pairs, dtype=np.float64).reshape(len(pairs), 2)


@dataclass(frozen=True)
class DroppedSegment:
    """A zero-length or reversed segment an importer left out; ``where`` names the file (and line)."""

    video: str
    label: str
    start_s: float
    end_s: float
    where: str


def parse_video(
    vid: str, entry: Any, where: str, *, subset: str | None = None, dropped: list[DroppedSegment] | None = None
) -> VideoGT:
    """One video's entry of the JSON form.

    ``subset`` fills an entry that has none (an importer's ``--subset``; otherwise a missing subset
    is an error). With ``dropped`` (importers), a segment with end <= start is left out and listed
    there; without it (reading a ground-truth file), a reversed segment is an error and a
    zero-length one is kept, as evaluation kits keep it.
    """
    if not isinstance(entry, dict):
        raise WsalError(f"{where}: expected an object, got {type(entry).__name__}")
    video_subset = entry.get("subset", subset)
    if not isinstance(video_subset, str) or not video_subset:
        raise WsalError(f"{where}: missing or non-string 'subset'")
    duration_s = None if entry.get("duration") is None else positive_number(entry["duration"], f"{where}: duration")
    fps = None if entry.get("fps") is None else positive_number(entry["fps"], f"{where}: fps")
    if "annotations" not in entry:
        raise WsalError(f"{where}: missing 'annotations' (a video without instances has \"annotations\": [])")
    annotations, ambiguous = entry["annotations"], entry.get("ambiguous", [])
    if not isinstance(annotations, list):
        raise WsalError(f"{where}: 'annotations' must be a list")
    if not isinstance(ambiguous, list):
        raise WsalError(f"{where}: 'ambiguous' must be a list of [start, end]")
    kept: dict[bool, list[tuple[float, float]]] = {False: [], True: []}  # is ambiguous -> segments
    labels: list[str] = []
    items = [(f"{where}: annotation {i}", ann, False) for i, ann in enumerate(annotations)]
    items += [(f"{where}: ambiguous {i}", seg, True) for i, seg in enumerate(ambiguous)]
    for at, item, is_ambiguous in items:
        if is_ambiguous:
            label, raw = AMBIGUOUS_LABEL, item
        else:
            if not isinstance(item, dict) or "segment" not in item or "label" not in item:
                raise WsalError(f"{at}: expected {{'segment': [start, end], 'label': L}}, got {item!r}")
            label, raw = to_label(item["label"], at), item["segment"]
        start_s, end_s = to_pair(raw, at) if dropped is not None else to_segment(raw, at)
        if start_s < 0:
            raise WsalError(f"{at}: segment starts before the video, at {start_s:g} s")
        if dropped is not None and not end_s > start_s:
            dropped.append(DroppedSegment(vid, label, start_s, end_s, at))
            continue
        kept[is_ambiguous].append((start_s, end_s))
        if not is_ambiguous:
            labels.append(label)
    return VideoGT(
        video_id=vid,
        subset=video_subset,
        duration_s=duration_s,
        fps=fps,
        segments_s=segments_array(kept[False]),
        labels=tuple(labels),
        ambiguous_s=segments_array(kept[True]),
    )


def _parse_ground_truth(data: Any, path: str) -> GroundTruth:
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise WsalError(f"{path}: not a ground-truth file: expected {{\"database\": {{video: ...}}}} at the top level")
    videos = {vid: parse_video(vid, entry, f"{path}: video {vid!r}") for vid, entry in data["database"].items()}
    classes = tuple(sorted({label for v in videos.values() for label in v.labels}))
    return GroundTruth(videos=videos, classes=classes, path=path)


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read and validate a ground-truth JSON file (see the module docstring for the format)."""
    return _parse_ground_truth(read_json_file(path, "ground-truth"), str(path))


def database_of(videos: Mapping[str, VideoGT]) -> dict[str, Any]:
    """The ``"database"`` object of the JSON form, videos sorted by id ("ambiguous" only where
    there are some).

    >>> video = VideoGT("v", "test", 9.5, None, segments_array([(1.0, 2.5)]), ("Jump",), segments_array([]))
    >>> database_of({"v": video})
    {'v': {'subset': 'test', 'duration': 9.5, 'fps': None, 'annotations': [{'segment': [1.0, 2.5], 'label': 'Jump'}]}}
    """
    database: dict[str, Any] = {}
    for vid in sorted(videos):
        video = videos[vid]
        entry: dict[str, Any] = {
            "subset": video.subset,
            "duration": video.duration_s,
            "fps": video.fps,
            "annotations": [
                {"segment": [float(s), float(e)], "label": label} for (s, e), label in zip(video.segments_s, video.labels)
            ],
        }
        if len(video.ambiguous_s):
            entry["ambiguous"] = [[float(s), float(e)] for s, e in video.ambiguous_s]
        database[vid] = entry
    return database


def write_ground_truth(database: dict, path: str | os.PathLike) -> None:
    """Validate ``database`` ({video: {...}}) with the reader's rules, then write ``{"database": ...}`` atomically."""
    _parse_ground_truth({"database": database}, str(path))
    write_json_atomic({"database": database}, path)


FORMATS: tuple[str, ...] = ("thumos14", "activitynet", "wtalc")
THUMOS_SUBSETS: dict[str, str] = {"val": "validation", "test": "test"}
THUMOS_FOLDERS: tuple[str, ...] = ("annotations_val", "annotations_test")
_THUMOS_FILE = re.compile(r"^(?P<label>.+)_(?P<split>val|test)\.txt$")
_WTALC_AMBIGUOUS_FILE = "Ambiguous_test.txt"


class AnnotationError(WsalError):
    """An annotation file that cannot be read as the format asked for."""


@dataclass
class AnnotationSet:
    """What a reader found: the videos, the segments it dropped, and notes for the user."""

    videos: dict[str, VideoGT] = field(default_factory=dict)
    dropped: list[DroppedSegment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def after_the_end(self) -> list[tuple[str, float, float]]:
        """(video, start_s, duration_s) of every instance that starts after its video ends (when the
        duration is known). The official THUMOS-14 test annotations hold a few (e.g.
        video_test_0000270); they are kept, as the official ground truth keeps them, and reported."""
        return [
            (vid, float(start_s), video.duration_s)
            for vid, video in sorted(self.videos.items())
            if video.duration_s is not None
            for start_s in video.segments_s[:, 0]
            if start_s >= video.duration_s
        ]

    def subsets(self) -> dict[str, tuple[int, int, int]]:
        """``{subset: (videos, instances, ambiguous regions)}``, subsets sorted by name."""
        counts: dict[str, list[int]] = {}
        for video in self.videos.values():
            row = counts.setdefault(video.subset, [0, 0, 0])
            row[0] += 1
            row[1] += len(video.labels)
            row[2] += len(video.ambiguous_s)
        return {name: (row[0], row[1], row[2]) for name, row in sorted(counts.items())}

    def to_database(self) -> dict[str, Any]:
        """The ``"database"`` object of the ground-truth JSON (DESIGN.md form), videos sorted by id."""
        return database_of(self.videos)


@dataclass
class _Draft:
    """One video while a line- or row-based reader is still adding its segments."""

    subset: str
    duration_s: float | None = None
    fps: float | None = None
    segments: list[tuple[float, float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ambiguous: list[tuple[float, float]] = field(default_factory=list)


class _Collector:
    """Videos and segments as the txt and npy readers meet them; :meth:`result` freezes them."""

    def __init__(self) -> None:
        self.drafts: dict[str, _Draft] = {}
        self.dropped: list[DroppedSegment] = []
        self.notes: list[str] = []

    def add_segment(
        self, vid: str, start_s: float, end_s: float, label: str, where: str, ambiguous: bool = False
    ) -> None:
        """Adds an instance (an ambiguous region if ``ambiguous``) to a video already drafted;
        segments with ``end_s <= start_s`` go to the dropped list instead."""
        if start_s < 0:
            raise AnnotationError(f"{where}: segment [{start_s:g}, {end_s:g}] starts before the video (negative time)")
        draft = self.drafts[vid]
        if not end_s > start_s:
            self.dropped.append(DroppedSegment(vid, label, start_s, end_s, where))
        elif ambiguous:
            draft.ambiguous.append((start_s, end_s))
        else:
            draft.segments.append((start_s, end_s))
            draft.labels.append(label)

    def result(self) -> AnnotationSet:
        videos = {
            vid: VideoGT(vid, d.subset, d.duration_s, d.fps, segments_array(d.segments), tuple(d.labels), segments_array(d.ambiguous))
            for vid, d in self.drafts.items()
        }  # fmt: skip
        return AnnotationSet(videos=videos, dropped=self.dropped, notes=self.notes)


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
    collect = _Collector()
    for path in thumos14_files(Path(source)):
        match = _THUMOS_FILE.match(path.name)
        assert match is not None  # thumos14_files only returns matching names
        label, subset = match["label"], THUMOS_SUBSETS[match["split"]]
        text = read_text_file(path, "annotation")
        if not text.strip():
            collect.notes.append(f"{path}: empty: class {label} has no segments in {subset} from this file")
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{path}:{number}"
            parsed = parse_thumos_line(line, where)
            if parsed is None:
                continue
            vid, start_s, end_s = parsed
            video = collect.drafts.setdefault(vid, _Draft(subset=subset))
            if video.subset != subset:
                raise AnnotationError(
                    f"{where}: video {vid} is in subset {subset!r} here but {video.subset!r} elsewhere"
                )
            collect.add_segment(vid, start_s, end_s, label, where, ambiguous=label == AMBIGUOUS_LABEL)
    return collect.result()


# ---------------------------------------------------------------------------------------------
# ActivityNet JSON


def _optional_positive(value: object, where: str) -> float | None:
    return None if value is None else positive_number(value, where)


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


def _activitynet_database(path: Path, database: dict, subset: str | None) -> AnnotationSet:
    if subset is None:
        lacking = next((vid for vid, entry in database.items() if isinstance(entry, dict) and "subset" not in entry), None)
        if lacking is not None:
            raise AnnotationError(f"{path}: video {lacking!r} has no 'subset' (pass --subset NAME to give one)")
    result = AnnotationSet()
    for vid, entry in database.items():
        result.videos[vid] = parse_video(vid, entry, f"{path}: video {vid!r}", subset=subset, dropped=result.dropped)
    return result


def _activitynet_results(path: Path, results: dict, subset: str) -> AnnotationSet:
    collect = _Collector()
    for vid, items in results.items():
        collect.drafts[vid] = _Draft(subset=subset)
        where = f"{path}: video {vid!r}"
        if not isinstance(items, list):
            raise AnnotationError(f"{where}: expected a list of detections, got {type(items).__name__}")
        for index, item in enumerate(items):
            at = f"{where}: result {index}"
            if not isinstance(item, dict) or "segment" not in item or "label" not in item:
                raise AnnotationError(f"{at}: expected an object with 'segment' and 'label', got {item!r}")
            collect.add_segment(vid, *to_pair(item["segment"], at), to_label(item["label"], at), at)
    collect.notes.append(
        f"{path}: results-form file read as ground truth of subset {subset!r} (scores ignored, no durations)"
    )
    return collect.result()


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

    collect = _Collector()
    for row, vid in enumerate(ids):
        where = f"{folder}: video {vid} (row {row})"
        fps = fps_rows[row] if fps_rows is not None else fps_by_name.get(_text(names[row]))
        collect.drafts[vid] = _Draft(
            subset=_text(subsets[row]),
            duration_s=None if durations is None else positive_number(durations[row], f"{where}, duration.npy"),
            fps=None if fps is None else positive_number(fps, f"{where}, fps"),
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
            start_s, end_s = to_pair(raw.tolist() if isinstance(raw, np.ndarray) else raw, at)
            collect.add_segment(vid, start_s, end_s, label, at)
    _wtalc_ambiguous(collect, folder / _WTALC_AMBIGUOUS_FILE)
    return collect.result()


def _wtalc_ambiguous(collect: _Collector, path: Path) -> None:
    """Adds ``Ambiguous_test.txt`` regions (``video start end``) to the videos of the set."""
    if not path.exists():
        return
    skipped: list[str] = []
    for number, line in enumerate(read_text_file(path, "annotation").splitlines(), start=1):
        parsed = parse_thumos_line(line, f"{path}:{number}")
        if parsed is None:
            continue
        vid, start_s, end_s = parsed
        if vid not in collect.drafts:
            skipped.append(vid)
            continue
        collect.add_segment(vid, start_s, end_s, AMBIGUOUS_LABEL, f"{path}:{number}", ambiguous=True)
    if skipped:
        collect.notes.append(
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
            fps=_optional_positive(entry.get("fps"), f"{path}: video {vid}, fps"),
            duration_s=_optional_positive(entry.get("duration"), f"{path}: video {vid}, duration"),
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
        annotations.videos[vid] = replace(
            video,
            fps=video.fps if known.fps is None else known.fps,
            duration_s=video.duration_s if known.duration_s is None else known.duration_s,
        )
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
