"""The stages of `wsal run` after extraction: one's own videos' features -> detections one can watch.

:func:`publish_detections` runs a trained model on the videos of a feature store (no ground truth:
durations come from the store) and writes, into one output folder:

* ``detections.json``: ActivityNet results form (what ``wsal evaluate`` reads);
* ``detections.csv``: one row per detection: ``video,class,start_s,end_s,score``, best first per video;
* ``raw.h5``: the network outputs (:mod:`wsal.raw`), so ``wsal localize --from-raw`` can re-tune
  post-processing without the network;
* ``timelines/<video>.png``: detections, attention and CAS on one time axis (:mod:`wsal.figures`);
* ``index.html``: the page of :mod:`wsal.page`, each video above its detections.

Every file is written atomically; the page last, so it only ever shows finished outputs.

What this module does not do: decode videos or extract features (``wsal extract``'s pipeline,
run before it), train, or evaluate.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from wsal.errors import WsalError

if TYPE_CHECKING:
    import torch

    from wsal.config import ExperimentConfig
    from wsal.raw import RawVideo
    from wsal.train import LoadedModel


@dataclass(frozen=True)
class Published:
    page: Path
    detections: Path
    csv: Path
    num_videos: int
    num_detections: int
    network_s: float
    post_s: float


def publish_detections(
    loaded: LoadedModel,
    config: ExperimentConfig,
    store_path: Path,
    video_paths: Mapping[str, Path],
    out: Path,
    device: torch.device,
    checkpoint: Path,
    command: str = "run",
) -> Published:
    """Localize the ``video_paths`` (id -> video file) that the store holds and write the outputs
    listed in the module docstring into ``out``. Videos the store lacks (failed extraction) are
    left out; none at all is an error."""
    from wsal.features.store import FeatureStore
    from wsal.figures import draw_timeline
    from wsal.inference import check_store_matches, localize_store_videos
    from wsal.outputs import write_text_atomic
    from wsal.page import PageVideo, render_page

    results: dict[str, list[dict]] = {}
    pages: dict[str, PageVideo] = {}
    csv_path, json_path = out / "detections.csv", out / "detections.json"
    with FeatureStore(store_path) as store:
        check_store_matches(store.meta, loaded.store_meta, store_path, checkpoint, command)
        grid = store.meta.grid()
        video_ids = [vid for vid in video_paths if vid in store]
        if not video_ids:
            raise WsalError(f"{store_path}: none of the {len(video_paths)} videos has features (extraction failed for all)")

        def on_video(video: RawVideo, detections: list[dict]) -> None:
            results[video.video_id] = detections
            timeline = draw_timeline(out / "timelines", video, grid, loaded.classes, detections)
            duration_s = float(video.duration_s or grid.end_s(video.num_snippets - 1))
            pages[video.video_id] = PageVideo(video.video_id, video_paths[video.video_id], duration_s, detections, timeline)

        summary = localize_store_videos(
            loaded, config, store, video_ids, device, out=json_path, save_raw=out / "raw.h5",
            checkpoint=checkpoint, features=store_path, on_video=on_video,
        )
    write_text_atomic(detections_csv({vid: results[vid] for vid in video_ids}), csv_path)
    page = render_page(
        [pages[vid] for vid in video_ids], out, f"wsal detections: {out.resolve().name}", (csv_path.name, json_path.name)
    )
    write_text_atomic(page, out / "index.html")
    return Published(
        out / "index.html", json_path, csv_path, len(video_ids),
        summary.num_segments, summary.network_s or 0.0, summary.post_s or 0.0,
    )


def detections_csv(results: Mapping[str, Sequence[Mapping]]) -> str:
    """``video,class,start_s,end_s,score`` rows (header first), each video's detections best first.

    >>> print(detections_csv({"v": [{"segment": [1.0, 2.5], "label": "Jump", "score": 0.5},
    ...                              {"segment": [4.0, 5.0], "label": "Run, fast", "score": 0.9}]}), end="")
    video,class,start_s,end_s,score
    v,"Run, fast",4.0,5.0,0.9
    v,Jump,1.0,2.5,0.5
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video", "class", "start_s", "end_s", "score"])
    for vid, detections in results.items():
        for det in sorted(detections, key=lambda d: -float(d["score"])):
            writer.writerow([vid, det["label"], float(det["segment"][0]), float(det["segment"][1]), float(det["score"])])
    return buffer.getvalue()
