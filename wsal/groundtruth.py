"""Ground truth: one model (:class:`GroundTruth` of :class:`VideoGT`), its JSON reader and writer.

The JSON form (DESIGN.md; ActivityNet's "database" form)::

    {"database": {video: {"subset": S, "duration": s, "fps": f,
                          "annotations": [{"segment": [start_s, end_s], "label": L}],
                          "ambiguous": [[start_s, end_s]]}}}

``duration``, ``fps`` and ``ambiguous`` are optional, other keys are ignored. Tolerant where real
files differ: times given as numeric strings (``"18.6"``, as some THUMOS gt.json files ship them),
integer values, extra keys, zero-length segments. Strict where it matters: a file that is missing,
empty or not JSON, a wrong top-level shape, non-numeric, NaN or infinite values, reversed segments
(end < start) and segments that start before 0 raise :class:`WsalError` with one line naming the
file, the video and the entry. The writer checks what it is given with the same rules, then
writes atomically.

This is part of the core every stage reads (training, localization, evaluation, the importers of
wsal.annotations): it imports none of them. What it does not do: read other annotation formats
(wsal.annotations), predictions (wsal.eval.io), or compute any metric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from wsal.errors import WsalError
from wsal.jsonfile import read_json_file, to_number
from wsal.outputs import write_json_atomic


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
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise WsalError(f"{where}: segment must be [start, end], got {value!r}")
    start_s = to_number(value[0], where)
    end_s = to_number(value[1], where)
    if end_s < start_s:
        raise WsalError(f"{where}: segment [{start_s:g}, {end_s:g}] is reversed (end < start)")
    return start_s, end_s


def to_label(value: Any, where: str) -> str:
    """A non-empty string label."""
    if not isinstance(value, str) or not value:
        raise WsalError(f"{where}: label must be a non-empty string, got {value!r}")
    return value


def _segments_array(pairs: list[tuple[float, float]]) -> np.ndarray:
    return np.asarray(pairs, dtype=np.float64).reshape(len(pairs), 2)  # (N, 2)


def _parse_video_gt(vid: str, entry: Any, where: str) -> VideoGT:
    if not isinstance(entry, dict):
        raise WsalError(f"{where}: expected an object, got {type(entry).__name__}")
    subset = entry.get("subset")
    if not isinstance(subset, str) or not subset:
        raise WsalError(f"{where}: missing or non-string 'subset'")
    duration_s = None if entry.get("duration") is None else to_number(entry["duration"], f"{where}: duration")
    if duration_s is not None and duration_s <= 0:
        raise WsalError(f"{where}: duration must be > 0 seconds, got {duration_s:g}")
    fps = None if entry.get("fps") is None else to_number(entry["fps"], f"{where}: fps")
    if "annotations" not in entry:
        raise WsalError(f"{where}: missing 'annotations' (a video without instances has \"annotations\": [])")
    annotations = entry["annotations"]
    if not isinstance(annotations, list):
        raise WsalError(f"{where}: 'annotations' must be a list")
    pairs: list[tuple[float, float]] = []
    labels: list[str] = []
    for i, ann in enumerate(annotations):
        at = f"{where}: annotation {i}"
        if not isinstance(ann, dict) or "segment" not in ann or "label" not in ann:
            raise WsalError(f"{at}: expected {{'segment': [start, end], 'label': L}}, got {ann!r}")
        pairs.append(to_segment(ann["segment"], at))
        if pairs[-1][0] < 0:
            raise WsalError(f"{at}: segment starts before the video, at {pairs[-1][0]:g} s")
        labels.append(to_label(ann["label"], at))
    ambiguous = entry.get("ambiguous", [])
    if not isinstance(ambiguous, list):
        raise WsalError(f"{where}: 'ambiguous' must be a list of [start, end]")
    amb = [to_segment(seg, f"{where}: ambiguous {i}") for i, seg in enumerate(ambiguous)]
    return VideoGT(
        video_id=vid,
        subset=subset,
        duration_s=duration_s,
        fps=fps,
        segments_s=_segments_array(pairs),
        labels=tuple(labels),
        ambiguous_s=_segments_array(amb),
    )


def _parse_ground_truth(data: Any, path: str) -> GroundTruth:
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise WsalError(f"{path}: not a ground-truth file: expected {{\"database\": {{video: ...}}}} at the top level")
    videos: dict[str, VideoGT] = {}
    for vid, entry in data["database"].items():
        videos[vid] = _parse_video_gt(vid, entry, f"{path}: video {vid!r}")
    classes = tuple(sorted({label for v in videos.values() for label in v.labels}))
    return GroundTruth(videos=videos, classes=classes, path=path)


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read and validate a ground-truth JSON file (see the module docstring for the format)."""
    return _parse_ground_truth(read_json_file(path, "ground-truth"), str(path))


def write_ground_truth(database: dict, path: str | os.PathLike) -> None:
    """Validate ``database`` ({video: {...}}) with the reader's rules, then write ``{"database": ...}`` atomically."""
    _parse_ground_truth({"database": database}, str(path))
    write_json_atomic({"database": database}, path)
