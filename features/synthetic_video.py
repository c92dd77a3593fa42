"""Small synthetic video files (PyAV) for tests and the extraction benchmark.

Two pictures: ``"shapes"`` (a textured background with a square and a disc moving across it, so
optical flow has something to find) and ``"index"`` (frame ``i`` is a flat grey of level
``index_level(i)``, so a decoded frame tells which source frame it came from, see
:func:`frame_index_of`). Frames get timestamps ``i / fps`` unless ``times_s`` gives explicit ones
(a variable-frame-rate file; use a container with a fine time base such as .mkv or .mp4).

What this module does not do: anything the pipeline needs at run time; it only writes files.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Sequence

import av
import numpy as np
from numpy.typing import NDArray

INDEX_STEP = 8  # grey levels between consecutive frames of the "index" picture


def index_level(i: int) -> int:
    """Grey level of frame ``i`` in the "index" picture (wraps after 28 frames).

    >>> index_level(0), index_level(3), index_level(28)
    (16, 40, 16)
    """
    return 16 + INDEX_STEP * (i % 28)


def frame_index_of(frame: NDArray[np.uint8]) -> int:
    """Which "index" frame (mod 28) a decoded RGB frame shows: nearest level of its mean grey.

    >>> frame_index_of(np.full((4, 4, 3), 41, np.uint8))
    3
    """
    return int(round((float(frame.mean()) - 16) / INDEX_STEP)) % 28


def shapes_frame(i: int, width: int, height: int) -> NDArray[np.uint8]:
    """Frame ``i`` of the "shapes" picture: (height, width, 3) uint8."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = (64 + 48 * np.sin(x / 7.0) * np.cos(y / 9.0)).astype(np.uint8)
    frame[..., 1] = ((x * 3 + y * 5) % 96 + 32).astype(np.uint8)
    frame[..., 2] = 90
    side = max(4, min(width, height) // 5)
    left = (3 * i) % max(1, width - side)
    top = height // 4
    frame[top : top + side, left : left + side] = (230, 40, 40)
    cy, cx = (3 * height) // 4, width - 1 - (2 * i) % width
    frame[(y - cy) ** 2 + (x - cx) ** 2 <= (side // 2) ** 2] = (40, 220, 60)
    return frame


def write_video(
    path: str | os.PathLike,
    num_frames: int,
    fps: float = 25.0,
    size: tuple[int, int] = (64, 48),
    picture: str = "shapes",
    codec: str = "libx264",
    times_s: Sequence[float] | None = None,
) -> None:
    """Write ``num_frames`` frames of ``size`` (width, height) at ``fps`` or at ``times_s``."""
    if picture not in ("shapes", "index"):
        raise ValueError(f"unknown picture '{picture}'")
    if times_s is not None and len(times_s) != num_frames:
        raise ValueError("times_s must give one time per frame")
    width, height = size
    time_base = Fraction(1, 1000) if times_s is not None else 1 / Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base
        if codec == "libx264":
            stream.options = {"crf": "12", "preset": "ultrafast"}
        for i in range(num_frames):
            if picture == "index":
                rgb = np.full((height, width, 3), index_level(i), np.uint8)
            else:
                rgb = shapes_frame(i, width, height)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.time_base = time_base
            frame.pts = round(Fraction(times_s[i]).limit_denominator(1000) / time_base) if times_s is not None else i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
