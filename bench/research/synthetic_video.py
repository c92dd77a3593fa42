"""Small synthetic video files (PyAV) for tests and benchmarks.

:func:`write_video` writes two pictures: ``"shapes"`` (a textured background with a square and a
disc moving across it, so optical flow has something to find) and ``"index"`` (frame ``i`` is a
flat grey of level ``index_level(i)``, so a decoded frame tells which source frame it came from,
see :func:`frame_index_of`). Frames get timestamps ``i / fps`` unless ``times_s`` gives explicit
ones (a variable-frame-rate file; use a container with a fine time base such as .mkv or .mp4).

:func:`write_burst_video` writes "mostly background" videos for the sampler: a static textured
background; during a few bursts (given in frames) a bright disc moves across it, and between
bursts it is absent. So where something moves is known exactly (frames ``[start, end)`` of each
burst, :func:`motion_snippets`); optional hard cuts switch to another background (a new "shot").
:func:`burst_layout` draws a random layout covering a given share of the time.
:func:`write_example_burst_videos` writes the two fixed burst videos of :data:`EXAMPLE_BURSTS`.

:func:`write_event_video` generalises the burst videos for a localizer to learn from: each
:class:`Event` (frames ``[start, end)``) is an *action* of one of two classes, ``"disc"`` (the
burst disc) or ``"square"`` (a cyan square crossing the other way), or a *distractor* that is no
action but moves the whole picture: ``"shake"`` (camera shake: the background shifted by up to
3 px, a new offset every frame) or ``"flicker"`` (the brightness of the whole frame pulsing by up
to 12%). :func:`event_layout` draws a random non-overlapping layout of one action class and some
distractors.

:func:`write_small_actor_video` writes a small mover next to slow lighting changes: a flat dark
square (40 px by default, on 320x240) crosses the frame during given spans and stands still
otherwise, and during other spans the brightness of the whole frame rises and falls by up to 25%
(slowly enough to stay under the sampler's per-step noise floor). So the sampler's motion energy
must rank a mover of 1/48 of the frame above still snippets whose colours change.

All go through one encoder loop (:func:`encode_frames`).

What this module does not do: anything the pipeline needs at run time; it only writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

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
    keyint: int = 0,
) -> None:
    """Write ``num_frames`` frames of ``size`` (width, height) at ``fps`` or at ``times_s``.

    ``keyint`` > 0: a keyframe at least every ``keyint`` frames (the encoder's GOP size; 0 = its default).
    """
    if picture not in ("shapes", "index"):
        raise ValueError(f"unknown picture '{picture}'")
    if times_s is not None and len(times_s) != num_frames:
        raise ValueError("times_s must give one time per frame")
    width, height = size
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 1000) if times_s is not None else 1 / rate
    if times_s is None:
        pts: Sequence[int] = range(num_frames)
    else:
        pts = [round(Fraction(t).limit_denominator(1000) / time_base) for t in times_s]

    def frames() -> Iterable[NDArray[np.uint8]]:
        for i in range(num_frames):
            if picture == "index":
                yield np.full((height, width, 3), index_level(i), np.uint8)
            else:
                yield shapes_frame(i, width, height)

    options = {"crf": "12", "preset": "ultrafast"} if codec == "libx264" else {}
    if keyint:
        options["g"] = str(keyint)
    encode_frames(path, frames(), pts, rate, time_base, size, codec, options)


def encode_frames(
    path: str | os.PathLike,
    frames: Iterable[NDArray[np.uint8]],
    pts: Sequence[int],
    rate: Fraction,
    time_base: Fraction,
    size: tuple[int, int],
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> None:
    """Encode (height, width, 3) uint8 ``frames`` with presentation times ``pts`` (in ``time_base``)."""
    width, height = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base
        if options:
            stream.options = options
        for rgb, t in zip(frames, pts):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.time_base = time_base
            frame.pts = t
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---- "mostly background" videos for the sampler -----------------------------------------------


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
    for start, end in bursts:
        if start <= i < end:
            _draw_disc(frame, _progress(i, start, end))
    return frame


def _progress(i: int, start: int, end: int) -> float:
    """0..1 across frames ``[start, end)``.

    >>> _progress(0, 0, 5), _progress(4, 0, 5)
    (0.0, 1.0)
    """
    return (i - start) / max(1, end - start - 1)


def _draw_disc(frame: NDArray[np.uint8], t: float) -> None:
    """The yellow disc at progress ``t`` (0..1): left to right along a sine, in place."""
    height, width = frame.shape[:2]
    radius = max(3, min(width, height) // 8)
    cx = radius + t * (width - 2 * radius - 1)
    cy = height / 2 + (height / 4) * np.sin(2 * np.pi * t)
    y, x = np.mgrid[0:height, 0:width]
    frame[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = (240, 230, 40)


def _draw_square(frame: NDArray[np.uint8], t: float) -> None:
    """The cyan square at progress ``t`` (0..1): right to left along a straight line, in place."""
    height, width = frame.shape[:2]
    side = max(4, min(width, height) // 5)
    left = int(round((1 - t) * (width - side)))
    top = height // 3
    frame[top : top + side, left : left + side] = (40, 200, 240)


def write_burst_video(
    path: str | os.PathLike,
    num_frames: int,
    bursts: Sequence[tuple[int, int]],
    fps: float = 25.0,
    size: tuple[int, int] = (96, 96),
    seed: int = 0,
    cuts: Sequence[int] = (),
    noise_std: float = 0.0,
    keyint: int = 0,
) -> None:
    """Write an H.264 video of ``num_frames`` frames of ``size`` (width, height) at ``fps``.

    ``keyint`` > 0: a keyframe at least every ``keyint`` frames (0 = libx264's default, 250).

    At each frame in ``cuts`` the background changes (seed + 1, + 2, ...: a hard scene cut).
    ``noise_std`` > 0 adds fresh Gaussian noise of that many grey levels to every frame, like a
    camera's sensor noise: the scene stays static, but consecutive frames are no longer
    bit-identical (which matters for costs such as TV-L1's, whose iterations stop at once on
    identical frames).
    """
    width, height = size
    backgrounds = [background(width, height, seed + j) for j in range(len(cuts) + 1)]
    cut_frames = sorted(cuts)
    frames = (burst_frame(i, bursts, backgrounds[sum(1 for c in cut_frames if c <= i)]) for i in range(num_frames))
    _encode_h264(path, frames, num_frames, fps, size, seed, noise_std, keyint)


def _encode_h264(
    path: str | os.PathLike,
    frames: Iterable[NDArray[np.uint8]],
    num_frames: int,
    fps: float,
    size: tuple[int, int],
    seed: int,
    noise_std: float,
    keyint: int = 0,
) -> None:
    """H.264 at ``fps`` (crf 18), with sensor noise of ``noise_std`` grey levels (0 = none) seeded by
    ``seed``, a keyframe at least every ``keyint`` frames (0 = libx264's default)."""
    rng = np.random.default_rng([seed, 1])

    def noisy(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if noise_std <= 0:
            return rgb
        return np.clip(rgb + rng.normal(0.0, noise_std, rgb.shape), 0, 255).astype(np.uint8)

    rate = Fraction(fps).limit_denominator(1001)
    options = {"crf": "18", "preset": "ultrafast"}
    if keyint:
        options["g"] = str(keyint)
    encode_frames(path, (noisy(f) for f in frames), range(num_frames), rate, 1 / rate, size, "libx264", options)


def burst_layout(num_frames: int, motion: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    """3-5 bursts (each at least 25 frames) covering ``motion`` of the frames (rounded down per
    burst; more only when 25 frames per burst exceed it), at random non-overlapping places.

    >>> bursts = burst_layout(1500, 0.3, np.random.default_rng(0))
    >>> 3 <= len(bursts) <= 5 and all(a < b <= c for (a, b), (c, _) in zip(bursts, bursts[1:]))
    True
    >>> 445 <= sum(end - start for start, end in bursts) <= 450
    True
    """
    count = int(rng.integers(3, 6))
    return _place(_lengths(count, motion * num_frames, rng), num_frames, rng)


def _lengths(count: int, total: float, rng: np.random.Generator, least: int = 25) -> NDArray[np.int64]:
    """``count`` random lengths of at least ``least`` frames summing to about ``total`` (rounded down each)."""
    if count == 0:
        return np.zeros(0, np.int64)
    spare = max(0.0, total - least * count)  # frames beyond the least each one gets
    return (least + rng.dirichlet(np.ones(count)) * spare).astype(int)


def _place(lengths: NDArray[np.int64], num_frames: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Intervals ``[start, end)`` of ``lengths``, in this order, with random gaps (non-overlapping)."""
    free = num_frames - lengths.sum()
    gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * free
    spans, pos = [], 0
    for gap, length in zip(gaps[:-1], lengths):
        start = pos + int(gap)
        spans.append((start, start + int(length)))
        pos = start + int(length)
    return spans


# Two "mostly background" videos that tests share, 96x96 at 25 fps: name -> (frames, bursts in frames).
EXAMPLE_BURSTS: dict[str, tuple[int, list[tuple[int, int]]]] = {
    "three_bursts": (750, [(100, 175), (340, 415), (560, 635)]),  # 30 s, 30 % motion
    "four_bursts": (900, [(40, 100), (260, 330), (500, 560), (780, 850)]),  # 36 s, 29 % motion
}


def write_example_burst_videos(folder: str | os.PathLike) -> dict[str, Path]:
    """Write :data:`EXAMPLE_BURSTS` into ``folder`` as ``NAME.mp4`` (seed = position in the dict); name -> path."""
    paths = {}
    for seed, (name, (frames, bursts)) in enumerate(EXAMPLE_BURSTS.items()):
        paths[name] = Path(folder) / f"{name}.mp4"
        write_burst_video(paths[name], frames, bursts, fps=25.0, size=(96, 96), seed=seed)
    return paths


def motion_snippets(bursts: Sequence[tuple[int, int]], starts: NDArray[np.int64], clip_len: int) -> NDArray[np.bool_]:
    """(T,) bool: snippets (frames ``[start, start + clip_len)``) that share a frame with a burst.

    >>> motion_snippets([(20, 40)], np.array([0, 16, 32, 48]), 16).tolist()
    [False, True, True, False]
    """
    out = np.zeros(len(starts), bool)
    for start, end in bursts:
        out |= (starts < end) & (starts + clip_len > start)
    return out


# ---- actions of two classes and distractors, for a localizer to learn from -----------------------

ACTION_KINDS = ("disc", "square")
DISTRACTOR_KINDS = ("shake", "flicker")
SHAKE_PIXELS = 3  # largest camera-shake offset per axis
FLICKER_GAIN = 0.06  # largest relative brightness change of the flicker


@dataclass(frozen=True)
class Event:
    """Something happening in frames ``[start, end)``: an action (ACTION_KINDS) or a distractor (DISTRACTOR_KINDS)."""

    start: int
    end: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS + DISTRACTOR_KINDS:
            raise ValueError(f"unknown event kind '{self.kind}' (choose from {', '.join(ACTION_KINDS + DISTRACTOR_KINDS)})")
        if not 0 <= self.start < self.end:
            raise ValueError(f"an event needs 0 <= start < end, got [{self.start}, {self.end})")

    @property
    def is_action(self) -> bool:
        return self.kind in ACTION_KINDS


def shake_offset(i: int) -> tuple[int, int]:
    """Camera-shake offset (dy, dx) of frame ``i``, each in ``[-SHAKE_PIXELS, SHAKE_PIXELS]``, deterministic.

    >>> shake_offset(0), all(max(map(abs, shake_offset(i))) <= SHAKE_PIXELS for i in range(100))
    ((0, 3), True)
    """
    return int(round(SHAKE_PIXELS * np.sin(1.7 * i))), int(round(SHAKE_PIXELS * np.cos(2.3 * i)))


def flicker_gain(i: int) -> float:
    """Brightness factor of frame ``i`` during a flicker, in ``[1 - FLICKER_GAIN, 1 + FLICKER_GAIN]``.

    >>> flicker_gain(0), abs(flicker_gain(3) - 1) <= FLICKER_GAIN
    (1.0, True)
    """
    return 1.0 + FLICKER_GAIN * float(np.sin(2.1 * i))


def event_frame(i: int, events: Sequence[Event], bg: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Frame ``i``: the background, shaken or flickering during a distractor, with the moving shape of an action."""
    active = [e for e in events if e.start <= i < e.end]
    frame = bg.copy()
    for event in active:
        if event.kind == "shake":
            frame = np.roll(bg, shake_offset(i), axis=(0, 1))
    for event in active:
        t = _progress(i, event.start, event.end)
        if event.kind == "disc":
            _draw_disc(frame, t)
        elif event.kind == "square":
            _draw_square(frame, t)
    if any(e.kind == "flicker" for e in active):
        frame = np.clip(frame * flicker_gain(i), 0, 255).astype(np.uint8)
    return frame


def write_event_video(
    path: str | os.PathLike,
    num_frames: int,
    events: Sequence[Event],
    fps: float = 25.0,
    size: tuple[int, int] = (96, 96),
    seed: int = 0,
    noise_std: float = 0.0,
) -> None:
    """Write an H.264 video of ``num_frames`` frames of ``size`` (width, height): background ``seed``, ``events``."""
    bg = background(size[0], size[1], seed)
    _encode_h264(path, (event_frame(i, events, bg) for i in range(num_frames)), num_frames, fps, size, seed, noise_std)


def event_layout(
    num_frames: int,
    action_kind: str,
    action_share: float,
    distractor_share: float,
    rng: np.random.Generator,
) -> list[Event]:
    """2-3 actions of ``action_kind`` covering about ``action_share`` of the frames and, if
    ``distractor_share`` > 0, 1-2 distractors (kinds drawn at random) covering about that share,
    each event at least 25 frames, in random order at random non-overlapping places (sorted by start).

    >>> events = event_layout(1000, "disc", 0.25, 0.15, np.random.default_rng(0))
    >>> all(a.end <= b.start for a, b in zip(events, events[1:]))
    True
    >>> 245 <= sum(e.end - e.start for e in events if e.is_action) <= 250
    True
    """
    if action_kind not in ACTION_KINDS:
        raise ValueError(f"unknown action kind '{action_kind}' (choose from {', '.join(ACTION_KINDS)})")
    num_actions = int(rng.integers(2, 4))
    num_distractors = int(rng.integers(1, 3)) if distractor_share > 0 else 0
    kinds = [action_kind] * num_actions + [str(k) for k in rng.choice(DISTRACTOR_KINDS, num_distractors)]
    lengths = np.concatenate([_lengths(num_actions, action_share * num_frames, rng),
                              _lengths(num_distractors, distractor_share * num_frames, rng)]).astype(np.int64)  # fmt: skip
    order = rng.permutation(len(kinds))
    spans = _place(lengths[order], num_frames, rng)
    return [Event(start, end, kinds[k]) for (start, end), k in zip(spans, order)]


# ---- a small actor and slow lighting changes, for the sampler's size normalisation ---------------

ACTOR_COLOUR = (30, 30, 40)  # the small actor: a flat dark figure (luma about 30)
FADE_GAIN = 0.25  # largest relative brightness change of a lighting fade


def actor_left(i: int, moves: Sequence[tuple[int, int]], width: int, side: int) -> int:
    """Left edge (px) of the actor in frame ``i``: during the ``j``-th move ``[start, end)`` it crosses
    the frame (left to right for even ``j``, back for odd ``j``); between moves it rests where the last
    one left it (at the left edge before the first).

    >>> [actor_left(i, [(10, 20), (30, 40)], 100, 40) for i in (0, 10, 19, 25, 30, 39, 50)]
    [0, 0, 60, 60, 60, 0, 0]
    """
    travel = width - side
    done = sum(1 for _, end in moves if end <= i)
    left = travel if done % 2 else 0
    for j, (start, end) in enumerate(moves):
        if start <= i < end:
            t = _progress(i, start, end)
            left = int(round(travel * (t if j % 2 == 0 else 1 - t)))
    return left


def fade_gain(i: int, fades: Sequence[tuple[int, int]]) -> float:
    """Brightness factor of frame ``i``: during a fade ``[start, end)`` it rises from 1 to ``1 + FADE_GAIN``
    at the middle and falls back (a slow lighting change); 1 outside fades.

    >>> fade_gain(0, [(10, 21)]), fade_gain(15, [(10, 21)]), fade_gain(20, [(10, 21)])
    (1.0, 1.25, 1.0)
    """
    for start, end in fades:
        if start <= i < end:
            return 1.0 + FADE_GAIN * (1.0 - abs(2.0 * _progress(i, start, end) - 1.0))
    return 1.0


def small_actor_frame(
    i: int, moves: Sequence[tuple[int, int]], fades: Sequence[tuple[int, int]], bg: NDArray[np.uint8], side: int
) -> NDArray[np.uint8]:
    """Frame ``i``: background ``bg`` with the ``side`` x ``side`` actor (vertically centred), lit by :func:`fade_gain`."""
    height, width = bg.shape[:2]
    frame = bg.copy()
    left, top = actor_left(i, moves, width, side), (height - side) // 2
    frame[top : top + side, left : left + side] = ACTOR_COLOUR
    gain = fade_gain(i, fades)
    return frame if gain == 1.0 else np.clip(frame * gain, 0, 255).astype(np.uint8)


def write_small_actor_video(
    path: str | os.PathLike,
    num_frames: int,
    moves: Sequence[tuple[int, int]],
    fades: Sequence[tuple[int, int]],
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    side: int = 40,
    seed: int = 0,
    noise_std: float = 0.0,
) -> None:
    """Write an H.264 video: a static textured background (``seed``) with a ``side`` px square actor
    that crosses the frame during each of ``moves`` and stands still otherwise, and slow lighting
    fades (``fades``) while nothing moves. Spans are frames ``[start, end)``; ``noise_std`` as in
    :func:`write_burst_video`. A small mover next to still stretches whose colours change: what the
    sampler's motion energy has to rank above appearance change.
    """
    bg = background(size[0], size[1], seed)
    frames = (small_actor_frame(i, moves, fades, bg, side) for i in range(num_frames))
    _encode_h264(path, frames, num_frames, fps, size, seed, noise_std)
