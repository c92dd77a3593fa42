"""Synthetic "mostly background" videos (PyAV) for the sampler's tests and benchmark.

A static textured background; during a few bursts (given in frames) a bright disc moves across
it, and between bursts it is absent. So the ground truth of where something moves is exact:
frames ``[start, end)`` of each burst. Optional hard cuts switch to another background (a new
"shot") at given frames.

What this module does not do: anything the pipeline needs at run time; it only writes files.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Sequence

import av
import numpy as np
from numpy.typing import NDArray


def background(width: int, height: int, seed: int = 0) -> NDArray[np.uint8]:
    """A textured, static background: (height, width, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    mean = rng.integers(40, 201, size=3)  # each seed its own palette
    base = mean + np.stack([40 * np.sin(x / 5.0 + y / 11.0), 35 * np.cos(y / 6.0), 30 * np.sin((x + y) / 8.0)], axis=-1)
    base += rng.integers(-12, 13, size=base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def burst_frame(i: int, bursts: Sequence[tuple[int, int]], bg: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Frame ``i``: the background, plus the moving disc if ``i`` lies in a burst ``[start, end)``."""
    frame = bg.copy()
    height, width = bg.shape[:2]
    for start, end in bursts:
        if start <= i < end:
            radius = max(3, min(width, height) // 8)
            t = (i - start) / max(1, end - start - 1)  # 0..1 across the burst
            cx = radius + t * (width - 2 * radius - 1)
            cy = height / 2 + (height / 4) * np.sin(2 * np.pi * t)
            y, x = np.mgrid[0:height, 0:width]
            frame[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = (240, 230, 40)
    return frame


def write_burst_video(
    path: str | os.PathLike,
    num_frames: int,
    bursts: Sequence[tuple[int, int]],
    fps: float = 25.0,
    size: tuple[int, int] = (96, 96),
    seed: int = 0,
    cuts: Sequence[int] = (),
) -> None:
    """Write an H.264 video of ``num_frames`` frames of ``size`` (width, height) at ``fps``.

    At each frame in ``cuts`` the background changes (seed + 1, + 2, ...: a hard scene cut).
    """
    width, height = size
    backgrounds = [background(width, height, seed + j) for j in range(len(cuts) + 1)]
    cut_frames = sorted(cuts)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = 1 / rate
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(num_frames):
            bg = backgrounds[sum(1 for c in cut_frames if c <= i)]
            frame = av.VideoFrame.from_ndarray(burst_frame(i, bursts, bg), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def motion_snippets(bursts: Sequence[tuple[int, int]], starts: NDArray[np.int64], clip_len: int) -> NDArray[np.bool_]:
    """(T,) bool: snippets (frames ``[start, start + clip_len)``) that share a frame with a burst.

    >>> motion_snippets([(20, 40)], np.array([0, 16, 32, 48]), 16).tolist()
    [False, True, True, False]
    """
    out = np.zeros(len(starts), bool)
    for start, end in bursts:
        out |= (starts < end) & (starts + clip_len > start)
    return out
