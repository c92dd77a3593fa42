"""The page of `wsal run`: one self-contained HTML file to watch each video with its detections.

For each video, in the given order: the video itself (an HTML5 ``<video>`` whose source is the
file's path relative to the page, so the page works opened from disk, with no server and no
network), under it a lane per detected class with a bar per detection (position and width in
percent of the video's duration, opacity growing with the score), a playhead that follows the
video, the best detections as a table, and the timeline figure of :mod:`wsal.figures` when there is
one. Clicking a bar or a table row seeks the video to the detection's start and plays it.

Everything (style, script) is inline; the only other files the page refers to are the videos and
the timeline PNGs, by relative path. Text from the data (video ids, class names, paths) is
HTML-escaped and paths are URL-quoted, so an odd file name cannot break the page.

What this module does not do: run anything, or copy the videos (the page points at them where
they are; moving the output folder away from the videos breaks the links, and the page says
which path it expects).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import quote

MAX_BARS = 30  # detections drawn as bars per video (best first)
# Rows of a video's table (best first): localization keeps up to 1000 segments per video
# (localize.max_per_video), most of them low-scored; the page says where the rest are.
MAX_ROWS = 100


@dataclass(frozen=True)
class PageVideo:
    """One video of the page: its id, where the file is, its duration, its detections
    (ActivityNet results form: ``segment`` [start_s, end_s], ``label``, ``score``) and its timeline PNG."""

    video_id: str
    path: Path
    duration_s: float
    detections: Sequence[Mapping]
    timeline: Path | None = None


def relative_url(target: Path, page_folder: Path) -> str:
    """``target`` as a URL relative to ``page_folder``, each path part quoted.

    >>> relative_url(Path("/data/my videos/a#1.mp4"), Path("/data/out"))
    '../my%20videos/a%231.mp4'
    """
    rel = os.path.relpath(Path(target).resolve(), Path(page_folder).resolve())
    return "/".join(quote(part) for part in Path(rel).parts)


def render_page(
    videos: Sequence[PageVideo], page_folder: Path, title: str, full_lists: Sequence[str] = ()
) -> str:
    """The page's HTML for ``videos``; links are relative to ``page_folder`` (where it will be written).

    ``full_lists``: names of the files that hold every detection (the caller writes them); a video
    whose table is cut at :data:`MAX_ROWS` says where the rest are.
    """
    sections = "\n".join(_video_section(i, v, page_folder, full_lists) for i, v in enumerate(videos))
    total = sum(len(v.detections) for v in videos)
    toc = "".join(
        f'<li><a href="#video-{i}">{html.escape(v.video_id)}</a> ({len(v.detections)})</li>' for i, v in enumerate(videos)
    )
    return _TEMPLATE.format(
        title=html.escape(title),
        summary=f"{len(videos)} videos, {total} detections. Click a bar or a row to jump to it.",
        toc=toc,
        sections=sections,
        script=_SCRIPT,
    )


def _video_section(index: int, video: PageVideo, page_folder: Path, full_lists: Sequence[str]) -> str:
    duration_s = max(float(video.duration_s), 1e-6)
    ranked = sorted(video.detections, key=lambda d: -float(d["score"]))
    bars = ranked[:MAX_BARS]
    scores = [float(d["score"]) for d in bars]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    lanes = []
    for label in dict.fromkeys(d["label"] for d in bars):
        items = []
        for det in (d for d in bars if d["label"] == label):
            start_s, end_s = (float(x) for x in det["segment"])
            left = 100.0 * min(max(start_s / duration_s, 0.0), 1.0)
            width = max(100.0 * min(max(end_s, start_s) - start_s, duration_s) / duration_s, 0.3)
            strength = (float(det["score"]) - low) / (high - low) if high > low else 1.0
            items.append(
                f'<button class="det" style="left:{left:.3f}%;width:{width:.3f}%;opacity:{0.35 + 0.65 * strength:.2f}" '
                f'data-start="{start_s:.3f}" title="{html.escape(str(label))}: {start_s:.2f}-{end_s:.2f} s, '
                f'score {float(det["score"]):.3f}"></button>'
            )
        lanes.append(
            f'<div class="lane"><span class="label">{html.escape(str(label))}</span>'
            f'<div class="track">{"".join(items)}<div class="playhead"></div></div></div>'
        )
    rows = "".join(
        f'<tr class="row" data-start="{float(d["segment"][0]):.3f}"><td>{html.escape(str(d["label"]))}</td>'
        f'<td>{float(d["segment"][0]):.2f}</td><td>{float(d["segment"][1]):.2f}</td><td>{float(d["score"]):.3f}</td></tr>'
        for d in ranked[:MAX_ROWS]
    )
    ticks = "".join(
        f'<span style="left:{100.0 * k / 4:.0f}%">{duration_s * k / 4:.1f} s</span>' for k in range(5)
    )
    axis = f'<div class="lane"><span class="label"></span><div class="axis">{ticks}</div></div>'
    src = relative_url(video.path, page_folder)
    figure = (
        f'<details><summary>timeline figure (attention, CAS)</summary><img src="{relative_url(video.timeline, page_folder)}" '
        f'alt="timeline of {html.escape(video.video_id)}" loading="lazy"></details>'
        if video.timeline is not None
        else ""
    )
    shown = f" (the {MAX_BARS} best drawn)" if len(ranked) > MAX_BARS else ""
    where = f" are in {' and '.join(html.escape(name) for name in full_lists)}" if full_lists else ""
    listed = (
        f'<p class="path">the {MAX_ROWS} best listed; all {len(ranked)}{where}</p>' if len(ranked) > MAX_ROWS else ""
    )
    return f"""<section id="video-{index}" data-duration="{duration_s:.3f}">
<h2>{html.escape(video.video_id)}</h2>
<video controls preload="metadata" src="{src}"></video>
<p class="path">{html.escape(str(video.path))} &middot; {duration_s:.1f} s &middot; {len(ranked)} detections{shown}</p>
<div class="lanes">{"".join(lanes) or '<p class="none">no detections</p>'}{axis}</div>
{figure}
{listed}<table><thead><tr><th>class</th><th>start (s)</th><th>end (s)</th><th>score</th></tr></thead><tbody>{rows}</tbody></table>
</section>"""


_SCRIPT = """
for (const section of document.querySelectorAll('section[data-duration]')) {
  const video = section.querySelector('video');
  const duration = parseFloat(section.dataset.duration);
  for (const el of section.querySelectorAll('[data-start]')) {
    el.addEventListener('click', () => {
      video.currentTime = parseFloat(el.dataset.start);
      video.play().catch(() => {});
    });
  }
  video.addEventListener('timeupdate', () => {
    const left = Math.min(100, 100 * video.currentTime / duration) + '%';
    for (const head of section.querySelectorAll('.playhead')) head.style.left = left;
  });
}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em auto; max-width: 1000px; color: #222; }}
section {{ border-top: 1px solid #ccc; padding: 0.5em 0 1.5em; }}
video {{ width: 100%; max-height: 360px; background: #000; }}
.path {{ color: #666; font-size: 0.85em; }}
.lane {{ display: flex; align-items: center; margin: 2px 0; }}
.label {{ width: 12em; font-size: 0.85em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.track {{ position: relative; flex: 1; height: 18px; background: #eee; }}
.det {{ position: absolute; top: 1px; height: 16px; padding: 0; border: 1px solid #124; background: #2a6fdb; cursor: pointer; }}
.det:hover {{ background: #e4572e; }}
.axis {{ position: relative; flex: 1; height: 1.2em; font-size: 0.75em; color: #666; }}
.axis span {{ position: absolute; transform: translateX(-50%); white-space: nowrap; }}
.axis span:first-child {{ transform: none; }}
.axis span:last-child {{ transform: translateX(-100%); }}
.playhead {{ position: absolute; top: 0; left: 0; width: 2px; height: 18px; background: #e4572e; pointer-events: none; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin-top: 0.5em; }}
td, th {{ padding: 1px 0.8em; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.row {{ cursor: pointer; }}
tr.row:hover {{ background: #eef; }}
details img {{ width: 100%; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
<ol>{toc}</ol>
{sections}
<script>{script}</script>
</body>
</html>
"""
