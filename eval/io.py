"""Reading and writing detection results (predictions); ground truth is wsal.annotations.

Formats (DESIGN.md):

* ActivityNet results form: ``{"results": {video: [{"segment": [start_s, end_s], "label": L,
  "score": x}]}}``; extra top-level keys (``version``, ``external_data``, ...) are ignored.
* the THUMOS-14 evaluation kit's detection txt: one detection per line,
  ``video_name start_s end_s class_id score`` separated by whitespace, with the kit's class ids
  from a class list (:class:`KitClassList`: ``ID NAME`` lines; by default the kit's own list,
  ``thumos14_detclasslist.txt`` beside this module, which numbers the 20 classes with their
  UCF-101 ids 7 BaseballPitch ... 97 VolleyballSpiking). Read as the kit reads it: a trailing
  ``.mpeg`` of a video name is dropped and a segment given as end < start is put in order (the
  kit's overlap orders both ends; counted in ``Predictions.num_reordered``). :func:`load_predictions`
  tells the two forms apart by content, then name: a file whose first non-blank character is
  ``{``, or whose name ends in ``.json``, is JSON; any other is the kit's txt.

Tolerant where real files differ: segment values given as numeric strings, integer values, extra
keys, zero-length segments. Strict where it matters: a file that is missing, empty or not JSON, a
wrong top-level shape, non-numeric, NaN or infinite values, and reversed segments (end < start) in
JSON raise :class:`WsalError` with one line naming the file, the video (or the txt's line) and the
entry (the same rules and readers as wsal.annotations).

Writers validate what they are given with the same rules, then write a temporary file next to the
target and rename it over the target, so a crash never leaves a half-written file.

What this module does not do: compute any metric, or read ground truth in any format
(wsal.annotations).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from wsal.annotations import to_label, to_segment
from wsal.errors import WsalError
from wsal.jsonfile import read_json_file, read_text_file, to_number
from wsal.outputs import write_json_atomic, write_text_atomic

OFFICIAL_CLASS_LIST = Path(__file__).with_name("thumos14_detclasslist.txt")  # the kit's ids (module docstring)
KIT_COLUMNS = "video_name start_s end_s class_id score"


@dataclass(frozen=True)
class Predictions:
    """N detections in columns, in file order (video by video, entries in listed order)."""

    video_ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) str
    start_s: np.ndarray  # (N,) float64
    end_s: np.ndarray  # (N,) float64
    scores: np.ndarray  # (N,) float64
    path: str
    num_reordered: int = 0  # kit txt segments given as end < start, put in order on reading

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, rows: np.ndarray) -> "Predictions":
        """The detections at ``rows`` (indices or a boolean mask), in that order; same file."""
        return replace(
            self, video_ids=self.video_ids[rows], labels=self.labels[rows], start_s=self.start_s[rows],
            end_s=self.end_s[rows], scores=self.scores[rows],
        )  # fmt: skip

    @classmethod
    def from_columns(
        cls,
        video_ids: list[str],
        labels: list[str],
        start_s: list[float],
        end_s: list[float],
        scores: list[float],
        path: str,
        num_reordered: int = 0,
    ) -> "Predictions":
        """Predictions from N-long python lists, as the readers collect them."""
        return cls(
            video_ids=np.asarray(video_ids, dtype=str),
            labels=np.asarray(labels, dtype=str),
            start_s=np.asarray(start_s, dtype=np.float64),
            end_s=np.asarray(end_s, dtype=np.float64),
            scores=np.asarray(scores, dtype=np.float64),
            path=path,
            num_reordered=num_reordered,
        )


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
            start_s, end_s = to_segment(det["segment"], at)
            video_ids.append(vid)
            labels.append(to_label(det["label"], at))
            starts.append(start_s)
            ends.append(end_s)
            scores.append(to_number(det["score"], f"{at}: score"))
    return Predictions.from_columns(video_ids, labels, starts, ends, scores, path)


def predictions_from_results(results: Mapping[str, Sequence[Mapping]], where: str) -> Predictions:
    """Detections ``{video: [{"segment", "label", "score"}]}`` held in memory (wsal.localize's
    ``Segment.to_json`` form) as :class:`Predictions`, checked with the reader's rules: what
    :func:`write_predictions` then :func:`load_predictions` give, without the file (a grid search
    scores thousands of settings). ``where`` names the source in error messages.

    >>> predictions_from_results({"v": [{"segment": [1.0, 2.5], "label": "Jump", "score": 0.5}]}, "memory").scores.tolist()
    [0.5]
    """
    return _parse_predictions({"results": results}, where)


def predictions_form(path: str | os.PathLike, text: str | None = None) -> str:
    """``"json"`` (ActivityNet results form) or ``"thumos14"`` (the kit's txt) for a predictions
    file whose content is ``text`` (None: read from ``path``): JSON when the first non-blank
    character is ``{`` (no kit line starts so) or the name ends in ``.json``, else the kit's txt.

    >>> predictions_form("run.txt", "v 1 2 7 0.5"), predictions_form("run.txt", " {}"), predictions_form("run.JSON", "")
    ('thumos14', 'json', 'json')
    """
    text = read_text_file(path, "predictions") if text is None else text
    is_json = text.lstrip().startswith("{") or Path(path).suffix.lower() == ".json"
    return "json" if is_json else "thumos14"


def load_predictions(path: str | os.PathLike, class_list: KitClassList | None = None) -> Predictions:
    """Read and validate a predictions file, ActivityNet results JSON or the THUMOS-14 kit's txt
    (:func:`predictions_form` tells which); ``class_list`` maps the txt's class ids to names
    (default: the kit's official list) and is not used for JSON."""
    text = read_text_file(path, "predictions")
    if predictions_form(path, text) == "thumos14":
        return _parse_kit_detections(text, str(path), class_list or load_class_list())
    return _parse_predictions(read_json_file(path, "predictions", text), str(path))


def _checked_detection(det: Any, where: str) -> dict:
    """``det`` as ``{"segment": [start_s, end_s], "label", "score"}`` with plain floats, checked
    with the reader's rules."""
    if not isinstance(det, Mapping) or any(k not in det for k in ("segment", "label", "score")):
        raise WsalError(f"{where}: expected {{'segment', 'label', 'score'}}, got {det!r}")
    start_s, end_s = to_segment(list(det["segment"]), where)
    return {
        "segment": [start_s, end_s],
        "label": to_label(det["label"], where),
        "score": to_number(det["score"], f"{where}: score"),
    }


def write_predictions(
    results: Mapping[str, Sequence[Mapping]], path: str | os.PathLike, kit_classes: KitClassList | None = None
) -> None:
    """Validate and write detections ``{video: [{"segment", "label", "score"}]}`` atomically.

    ActivityNet results JSON, or with ``kit_classes`` the THUMOS-14 kit's txt using those class
    ids (:func:`write_kit_detections`). Values are written as plain floats (numpy scalars are fine
    on input); the JSON carries ``"version": "wsal"`` and an empty ``"external_data"`` so
    ActivityNet tools accept it.
    """
    if kit_classes is not None:
        write_kit_detections(results, path, kit_classes)
        return
    out: dict[str, list[dict]] = {}
    for vid, entries in results.items():
        where = f"{path}: video {vid!r}"
        out[str(vid)] = [_checked_detection(det, f"{where}: detection {i}") for i, det in enumerate(entries)]
    write_json_atomic({"version": "wsal", "results": out, "external_data": {}}, path)


# The THUMOS-14 kit's detection txt and its class list


@dataclass(frozen=True)
class KitClassList:
    """The THUMOS-14 kit's class ids, ``{class name: id}``, as read from ``path``."""

    ids: dict[str, int]
    path: str

    def names_by_id(self) -> dict[int, str]:
        """``{id: class name}``."""
        return {class_id: name for name, class_id in self.ids.items()}

    def check_classes(self, classes: Iterable[str], source: str) -> None:
        """A WsalError naming ``source`` when a class of ``classes`` has no id in this list."""
        missing = [name for name in classes if name not in self.ids]
        if missing:
            raise WsalError(
                f"{source}: {len(missing)} classes have no id in the class list {self.path} (e.g. {missing[0]!r}); "
                "give --class-list FILE with an 'ID NAME' line for every class"
            )

    def official_mismatch(self) -> str | None:
        """A warning when this list numbers classes of the kit's official list otherwise (e.g. the
        1-20 copies of ``detclasslist.txt`` some repositories carry), else None."""
        official = load_class_list().ids
        unlike = [(name, i) for name, i in self.ids.items() if name in official and official[name] != i]
        if not unlike:
            return None
        name, given = unlike[0]
        return (
            f"{self.path} numbers {len(unlike)} classes unlike the THUMOS-14 kit's list (e.g. {name} {given}, "
            f"the kit {official[name]}); the official kit reads a detection file with its own ids"
        )


def _to_int(token: str, where: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise WsalError(f"{where}: expected an integer, got {token!r}") from None


def _columns(text: str, path: str | os.PathLike, num_columns: int, names: str) -> Iterator[tuple[str, list[str]]]:
    """(``"PATH: line N"``, its whitespace-separated tokens) for every non-blank line of ``text``;
    a line without ``num_columns`` tokens (``names``) is a WsalError."""
    for n, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        at = f"{path}: line {n}"
        if len(tokens) != num_columns:
            raise WsalError(f"{at}: expected {num_columns} columns ({names}), got {len(tokens)}")
        yield at, tokens


def load_class_list(path: str | os.PathLike | None = None) -> KitClassList:
    """Read a class-list file of ``ID NAME`` lines (the kit's ``detclasslist.txt`` form; blank lines
    skipped); ``None``: the kit's official list shipped with wsal. Ids and names must be unique.

    >>> load_class_list().ids["BaseballPitch"], len(load_class_list().ids)
    (7, 20)
    """
    p = OFFICIAL_CLASS_LIST if path is None else Path(path)
    ids: dict[str, int] = {}
    seen: dict[int, str] = {}
    for at, (id_tok, name) in _columns(read_text_file(p, "class list"), p, 2, "ID NAME"):
        class_id = _to_int(id_tok, f"{at}: class id")
        if name in ids:
            raise WsalError(f"{at}: class {name!r} is listed twice")
        if class_id in seen:
            raise WsalError(f"{at}: id {class_id} is listed twice ({seen[class_id]!r} and {name!r})")
        ids[name] = class_id
        seen[class_id] = name
    if not ids:
        raise WsalError(f"{p}: the class list is empty (expected 'ID NAME' lines)")
    return KitClassList(ids=ids, path=str(p))


def _parse_kit_detections(text: str, path: str, class_list: KitClassList) -> Predictions:
    """The kit txt ``text`` of ``path`` (module docstring); every bad line is a WsalError naming it."""
    names = class_list.names_by_id()
    video_ids: list[str] = []
    labels: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    scores: list[float] = []
    reordered = 0
    for at, (video, start_tok, end_tok, class_tok, score_tok) in _columns(text, path, 5, KIT_COLUMNS):
        start_s = to_number(start_tok, f"{at}: start_s")
        end_s = to_number(end_tok, f"{at}: end_s")
        class_id = _to_int(class_tok, f"{at}: class_id")
        label = names.get(class_id)
        if label is None:
            ids = sorted(names)
            known = ", ".join(map(str, ids[:20])) + (f", ... ({len(ids)} ids)" if len(ids) > 20 else "")
            raise WsalError(f"{at}: class id {class_id} is not in the class list {class_list.path} (ids {known})")
        if end_s < start_s:  # the kit's overlap orders both ends
            start_s, end_s = end_s, start_s
            reordered += 1
        video_ids.append(video.removesuffix(".mpeg"))  # the kit drops it too
        labels.append(label)
        starts.append(start_s)
        ends.append(end_s)
        scores.append(to_number(score_tok, f"{at}: score"))
    return Predictions.from_columns(video_ids, labels, starts, ends, scores, path, num_reordered=reordered)


def write_kit_detections(
    results: Mapping[str, Sequence[Mapping]], path: str | os.PathLike, class_list: KitClassList
) -> None:
    """Validate ``results`` ({video: [{"segment", "label", "score"}]}) and write them atomically as
    the kit's txt: ``video start_s end_s class_id score`` per line, space separated, in the given
    order, floats in Python's shortest round-trip form (read back bit for bit)."""
    lines: list[str] = []
    for vid, entries in results.items():
        vid = str(vid)
        if not vid or vid.startswith("{") or any(c.isspace() for c in vid):  # "{" would read back as JSON
            raise WsalError(f"{path}: video {vid!r}: the kit's txt cannot hold a video name that is empty, has spaces or starts with '{{'")
        for i, det in enumerate(entries):
            at = f"{path}: video {vid!r}: detection {i}"
            row = _checked_detection(det, at)
            class_id = class_list.ids.get(row["label"])
            if class_id is None:
                raise WsalError(f"{at}: label {row['label']!r} has no id in the class list {class_list.path}")
            start_s, end_s = row["segment"]
            lines.append(f"{vid} {start_s!r} {end_s!r} {class_id} {row['score']!r}\n")
    write_text_atomic("".join(lines), path)
