"""Reading and writing the two evaluation files: ground truth and detection results (JSON).

Formats (DESIGN.md):

* ground truth, ActivityNet form: ``{"database": {video: {"subset": S, "duration": s, "fps": f,
  "annotations": [{"segment": [start_s, end_s], "label": L}], "ambiguous": [[start_s, end_s]]}}}``;
  ``duration``, ``fps``, ``annotations`` and ``ambiguous`` are optional, other keys are ignored.
* predictions, ActivityNet results form: ``{"results": {video: [{"segment": [start_s, end_s],
  "label": L, "score": x}]}}``; extra top-level keys (``version``, ``external_data``, ...) are ignored.

Tolerant where real files differ: segment values given as numeric strings (``"18.6"``, as some
THUMOS gt.json files ship them), integer values, extra keys, zero-length segments. Strict where it
matters: a file that is missing, empty or not JSON, a wrong top-level shape, non-numeric, NaN or
infinite values, and reversed segments (end < start) raise :class:`WsalError` with one line naming
the file, the video and the entry.

Writers validate what they are given with the same rules, then write a temporary file next to the
target and rename it over the target, so a crash never leaves a half-written file.

What this module does not do: compute any metric, or convert other annotation formats (that is
``wsal.annotations``).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from wsal.errors import WsalError
from wsal.jsonfile import JsonContentError, parse_json


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


@dataclass(frozen=True)
class Predictions:
    """N detections in columns, in file order (video by video, entries in listed order)."""

    video_ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) str
    start_s: np.ndarray  # (N,) float64
    end_s: np.ndarray  # (N,) float64
    scores: np.ndarray  # (N,) float64
    path: str

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def _read_json(path: str | os.PathLike, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise WsalError(f"{p}: {what} file not found")
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise WsalError(f"{p}: {what} file is empty")
    try:
        return parse_json(text)
    except json.JSONDecodeError as err:
        raise WsalError(f"{p}: not a JSON {what} file ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except JsonContentError as err:
        raise WsalError(f"{p}: refused {what} file: {err}") from None


def _to_float(value: Any, where: str) -> float:
    """A finite float from a JSON number or numeric string; anything else is a WsalError."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise WsalError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise WsalError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise WsalError(f"{where}: value {value!r} is not finite")
    return number


def _to_segment(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise WsalError(f"{where}: segment must be [start, end], got {value!r}")
    start_s = _to_float(value[0], where)
    end_s = _to_float(value[1], where)
    if end_s < start_s:
        raise WsalError(f"{where}: segment [{start_s:g}, {end_s:g}] is reversed (end < start)")
    return start_s, end_s


def _to_label(value: Any, where: str) -> str:
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
    duration_s = None if entry.get("duration") is None else _to_float(entry["duration"], f"{where}: duration")
    if duration_s is not None and duration_s <= 0:
        raise WsalError(f"{where}: duration must be > 0 seconds, got {duration_s:g}")
    fps = None if entry.get("fps") is None else _to_float(entry["fps"], f"{where}: fps")
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
        pairs.append(_to_segment(ann["segment"], at))
        if pairs[-1][0] < 0:
            raise WsalError(f"{at}: segment starts before the video, at {pairs[-1][0]:g} s")
        labels.append(_to_label(ann["label"], at))
    ambiguous = entry.get("ambiguous", [])
    if not isinstance(ambiguous, list):
        raise WsalError(f"{where}: 'ambiguous' must be a list of [start, end]")
    amb = [_to_segment(seg, f"{where}: ambiguous {i}") for i, seg in enumerate(ambiguous)]
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
    return _parse_ground_truth(_read_json(path, "ground-truth"), str(path))


def _plain_detection(det: Any) -> tuple[str, float, float, float] | None:
    """(label, start_s, end_s, score) when ``det`` is a well-formed detection with float values
    (the usual case); None when anything needs the full, message-building checks."""
    if type(det) is not dict:
        return None
    segment, label, score = det.get("segment"), det.get("label"), det.get("score")
    if type(segment) is not list or len(segment) != 2 or type(label) is not str or not label:
        return None
    start_s, end_s = segment
    if type(start_s) is not float or type(end_s) is not float or type(score) is not float:
        return None
    if not (start_s <= end_s and math.isfinite(start_s) and math.isfinite(end_s) and math.isfinite(score)):
        return None
    return label, start_s, end_s, score


def _parse_predictions(data: Any, path: str) -> Predictions:
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise WsalError(f"{path}: not a predictions file: expected {{\"results\": {{video: [...]}}}} at the top level")
    video_ids: list[str] = []
    labels: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    scores: list[float] = []
    for vid, entries in data["results"].items():
        where = f"{path}: video {vid!r}"
        if not isinstance(entries, list):
            raise WsalError(f"{where}: expected a list of detections, got {type(entries).__name__}")
        for i, det in enumerate(entries):
            row = _plain_detection(det)
            if row is not None:  # the common case, checked without building messages
                video_ids.append(vid)
                labels.append(row[0])
                starts.append(row[1])
                ends.append(row[2])
                scores.append(row[3])
                continue
            at = f"{where}: detection {i}"
            if not isinstance(det, dict):
                raise WsalError(f"{at}: expected an object, got {det!r}")
            missing = [k for k in ("segment", "label", "score") if k not in det]
            if missing:
                hint = " (is this a classification result file?)" if missing == ["segment"] else ""
                raise WsalError(f"{at}: missing {', '.join(repr(k) for k in missing)}{hint}")
            start_s, end_s = _to_segment(det["segment"], at)
            video_ids.append(vid)
            labels.append(_to_label(det["label"], at))
            starts.append(start_s)
            ends.append(end_s)
            scores.append(_to_float(det["score"], f"{at}: score"))
    return Predictions(
        video_ids=np.asarray(video_ids, dtype=str),
        labels=np.asarray(labels, dtype=str),
        start_s=np.asarray(starts, dtype=np.float64),
        end_s=np.asarray(ends, dtype=np.float64),
        scores=np.asarray(scores, dtype=np.float64),
        path=path,
    )


def load_predictions(path: str | os.PathLike) -> Predictions:
    """Read and validate a detection results JSON file (ActivityNet results form)."""
    return _parse_predictions(_read_json(path, "predictions"), str(path))


def write_json_atomic(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as JSON (no NaN/inf) to a temp file next to ``path``, then rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: give the file the mode open() would
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_ground_truth(database: dict, path: str | os.PathLike) -> None:
    """Validate ``database`` ({video: {...}}) with the reader's rules, then write ``{"database": ...}`` atomically."""
    _parse_ground_truth({"database": database}, str(path))
    write_json_atomic({"database": database}, path)


def write_predictions(results: Mapping[str, Sequence[Mapping]], path: str | os.PathLike) -> None:
    """Validate and write detections ``{video: [{"segment", "label", "score"}]}`` atomically.

    Values are written as plain floats (numpy scalars are fine on input); the file carries
    ``"version": "wsal"`` and an empty ``"external_data"`` so ActivityNet tools accept it.
    """
    out: dict[str, list[dict]] = {}
    for vid, entries in results.items():
        where = f"{path}: video {vid!r}"
        rows = []
        for i, det in enumerate(entries):
            at = f"{where}: detection {i}"
            if not isinstance(det, Mapping) or any(k not in det for k in ("segment", "label", "score")):
                raise WsalError(f"{at}: expected {{'segment', 'label', 'score'}}, got {det!r}")
            start_s, end_s = _to_segment(list(det["segment"]), at)
            rows.append(
                {
                    "segment": [start_s, end_s],
                    "label": _to_label(det["label"], at),
                    "score": _to_float(det["score"], f"{at}: score"),
                }
            )
        out[str(vid)] = rows
    write_json_atomic({"version": "wsal", "results": out, "external_data": {}}, path)
