"""Timeline PNGs for a list of videos, for commands that have detections but no model at hand.

``wsal evaluate --report`` and ``wsal localize --from-raw --timelines`` draw with
:func:`draw_video_timelines`: each video's ground truth (when known) and detections, plus its
attention and CAS curves when a raw-output file (``wsal localize --save-raw``) holds the video; a
video the raw file lacks gets the segments panel only. One file per video,
:func:`wsal.figures.timeline_file_name`, in the given order.

What this module does not do: draw (``wsal.figures``), score videos (``wsal.eval.detection``), or
run the network (``wsal.inference`` draws as it goes with ``on_video``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from tqdm import tqdm

if TYPE_CHECKING:
    from wsal.eval.io import Predictions
    from wsal.annotations import GroundTruth


def detections_by_video(preds: Predictions) -> dict[str, list[dict]]:
    """Predictions in columns -> ActivityNet results form per video (file order kept)."""
    out: dict[str, list[dict]] = {}
    for vid, label, start_s, end_s, score in zip(preds.video_ids, preds.labels, preds.start_s, preds.end_s, preds.scores):
        out.setdefault(str(vid), []).append({"label": str(label), "segment": [float(start_s), float(end_s)], "score": float(score)})
    return out


def draw_video_timelines(
    folder: Path,
    video_ids: Sequence[str],
    detections: Mapping[str, Sequence[Mapping]],
    gt: GroundTruth | None,
    raw_path: Path | None = None,
) -> dict[str, Path]:
    """One timeline PNG per video of ``video_ids`` into ``folder``; returns video id -> file.

    ``gt`` None: no ground-truth rows. ``raw_path``: curves for the videos it holds (its classes
    and snippet grid come from its header).
    """
    from wsal.figures import draw_segments_timeline, draw_timeline

    folder.mkdir(parents=True, exist_ok=True)
    reader = None
    if raw_path is not None:
        from wsal.raw import RawReader

        reader = RawReader(raw_path)
    out: dict[str, Path] = {}
    try:
        held = set(reader.video_ids) if reader is not None else set()
        for vid in tqdm(video_ids, desc="timelines", unit="video", disable=None):  # no bar when not a terminal
            video_gt = gt.videos.get(vid) if gt is not None else None
            dets = detections.get(vid, [])
            if reader is not None and vid in held:
                out[vid] = draw_timeline(folder, reader.read(vid), reader.header.grid, reader.header.classes, dets, video_gt)
            else:
                out[vid] = draw_segments_timeline(folder, vid, dets, video_gt)
    finally:
        if reader is not None:
            reader.close()
    return out
