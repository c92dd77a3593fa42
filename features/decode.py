"""Video file -> RGB uint8 frames at a fixed frame rate, resampled by timestamps, in chunks.

**Resampling (exact, variable frame rate included).** Time 0 is the presentation time of the
first decoded video frame; source frame ``j`` starts at ``t_j = (pts_j - pts_0) * time_base`` and
is shown until the next frame starts. The last frame ends at ``duration_s = t_last + d_last``,
where ``d_last`` is that frame's own duration from the container, else ``1 / average_rate`` of
the stream, else ``1 / fps``. Output frame ``k`` is taken at ``t_k = k / fps``, for every ``k``
with ``t_k < duration_s``; it is the source frame whose interval holds ``t_k``, i.e. the *last*
source frame with ``t_j <= t_k``. So ``num_frames = ceil(duration_s * fps)``: a 30 fps video drops
every sixth frame, a 24 fps one repeats one frame per second, and a variable-rate one follows its
real timestamps. The arithmetic is done in exact fractions (no drift on long videos). A frame
whose timestamp is not after the previous one supersedes it (it is the later frame at that time);
a frame without a timestamp is placed ``1 / average_rate`` after the previous one.

**Pixels.** A kept source frame is converted to RGB by FFmpeg (``to_ndarray(format="rgb24")``),
resized with OpenCV ``INTER_LINEAR`` so that its shorter side is ``resize_short`` pixels (the
longer side keeps the aspect ratio, rounded), then centre-cropped to ``crop`` x ``crop``
(``resize_short=0`` keeps the size, ``crop=0`` keeps the whole frame). Source frames that no
output frame uses are never converted. Decoding uses FFmpeg's threads (``thread_type="AUTO"``).

**Streaming.** :class:`VideoDecoder` yields ``(n, H, W, 3)`` uint8 chunks of at most
``chunk_frames`` output frames, so a long video never sits in memory; ``num_frames`` and
``duration_s`` are known once the chunks are exhausted. :func:`decode_video` is the all-at-once
shortcut for short clips.

**Seeking** (optional, :class:`SeekPlan`). A caller that knows from an earlier full pass over the
same file (the sampler's coarse pass) which output frames it needs can skip decoding the others.
The full pass records the start times of the stream's keyframes (:attr:`ResampledFrames.seek_points_s`;
none when a frame lacks a timestamp or the start times do not strictly increase, so such files are
always decoded through). With a plan, after each decoded frame ``F`` (start ``t_F``) the decoder
looks at the next wanted output frame ``k_w``: if no wanted frame is left it stops; otherwise,
if the last keyframe ``K`` with ``t_K <= k_w / fps`` starts at least ``min_skip_s`` after
``t_F``, it seeks there (``container.seek``, backward, in the stream's time base) and decodes on
from the first keyframe ``L`` it lands on (frames before it are dropped). Output frame ``k``
is the last source frame with ``t_j <= k / fps``; for every ``k >= ceil(t_L * fps)`` that frame
is ``L`` or a later one, all of which are decoded, so those output frames get the same source
frame, and pixels, as without seeking (a keyframe starts a new, independently decodable group of
frames). The output frames before it, ``F``'s and the gap's, are not wanted (``t_L <= k_w / fps``),
and are yielded as placeholders. :class:`VideoDecoder` gives *every* output frame the plan does not
want as an all-zero placeholder (decoded or not, it is never converted). A seek is used only if it lands
on a keyframe with ``t_F < t_L <= k_w / fps``; otherwise (the seek fails, lands after the wanted
time or finds no keyframe) the file is reopened and decoded through from ``F`` on, without further
seeks, and if it lands at or before ``F`` the decoder decodes through from there; frames already
processed (starting at or before ``t_F``) are dropped, which is exact because the start times
strictly increase. After the last wanted frame the rest is placeholders and ``num_frames`` and
``duration_s`` are the full pass's.

**Errors.** An empty, corrupt, audio-only or otherwise unreadable file raises :class:`DecodeError`
(a :class:`wsal.errors.WsalError`) with a one-line message that names the file.

What this module does not do: cut snippets, compute optical flow, normalise pixel values,
honour rotation metadata, or decide which frames are wanted (features/sampler.py, features/extract.py).
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from wsal.errors import WsalError


class DecodeError(WsalError):
    """A video that cannot be decoded; the message names the file and the problem."""


@dataclass(frozen=True)
class DecodeConfig:
    """How frames are sampled and shaped."""

    fps: float = 25.0  # output frame rate (frames per second)
    resize_short: int = 256  # shorter side after resizing, pixels; 0 = keep the source size
    crop: int = 224  # side of the centre crop, pixels; 0 = no crop
    chunk_frames: int = 128  # output frames per yielded chunk
    threads: int = 0  # FFmpeg decoding threads; 0 = FFmpeg's choice

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.resize_short < 0 or self.crop < 0 or self.threads < 0:
            raise ValueError("resize_short, crop and threads must be >= 0")
        if self.resize_short and self.crop > self.resize_short:
            raise ValueError(f"crop {self.crop} is larger than resize_short {self.resize_short}")
        if self.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {self.chunk_frames}")


@dataclass(frozen=True)
class DecodeResult:
    """What a finished decode reports."""

    num_frames: int  # output frames at the target fps
    duration_s: float  # end of the last source frame, seconds from the first frame
    source_frames: int  # frames the decoder produced (with seeking: also those dropped after a seek)
    seeks: int = 0  # seeks that skipped decoding (SeekPlan)
    seek_fallbacks: int = 0  # seeks that were not usable: decoded through instead


@dataclass(frozen=True)
class SeekPlan:
    """Which output frames a seeking decode needs, from an earlier full pass over the same file.

    ``wanted``, ``num_frames`` and ``duration_s`` describe the full pass's timeline (the sampler's
    coarse pass: :class:`wsal.features.sampler.CoarseSignals`), ``seek_points_s`` its keyframes
    (:attr:`ResampledFrames.seek_points_s`). See the module docstring, section Seeking.
    """

    wanted: NDArray[np.bool_]  # (num_frames,) output frames whose pixels are needed
    seek_points_s: tuple[Fraction, ...]  # exact start times of keyframes, increasing; () = never seek
    num_frames: int  # output frames of the full pass
    duration_s: float  # duration of the full pass
    min_skip_s: float = 2.0  # seek only when it skips decoding at least this much video, seconds

    def __post_init__(self) -> None:
        if np.shape(self.wanted) != (self.num_frames,):
            raise ValueError(f"wanted has shape {np.shape(self.wanted)}, expected ({self.num_frames},)")
        if not self.min_skip_s > 0:
            raise ValueError(f"min_skip_s must be positive, got {self.min_skip_s}")


class TimestampResampler:
    """Counts how many output frames each source frame supplies (see the module docstring).

    Feed source frame start times in order to :meth:`frames_until`: the call for frame ``j + 1``
    (or for the end of the video) returns how many output frames source frame ``j`` supplies.
    """

    def __init__(self, fps: float) -> None:
        self._fps = _exact(fps)
        self._next = 0  # index of the next output frame to emit

    @property
    def emitted(self) -> int:
        return self._next

    @property
    def fps(self) -> Fraction:
        return self._fps

    def frames_until(self, end_s: Fraction) -> int:
        """Emit every output frame ``k`` not yet emitted with ``k / fps < end_s``; return how many."""
        limit = -((-end_s * self._fps) // 1)  # ceil(end_s * fps): first k with k / fps >= end_s
        count = max(0, int(limit) - self._next)
        self._next += count
        return count


def repeat_counts(starts_s: Sequence[float], duration_s: float, fps: float) -> list[int]:
    """How many output frames each source frame supplies, given start times (first = 0) and the end.

    >>> repeat_counts([0, 0.04, 0.08], 0.12, 25)  # same rate: one each
    [1, 1, 1]
    >>> repeat_counts([0, 0.1, 0.15, 0.16, 0.3], 0.4, 25)  # variable rate
    [3, 1, 0, 4, 2]
    >>> sum(repeat_counts([i / 30 for i in range(30)], 1.0, 25))  # 30 fps -> 25 fps
    25
    """
    resampler = TimestampResampler(fps)
    ends = [_exact(s) for s in starts_s[1:]] + [_exact(duration_s)]
    return [resampler.frames_until(end) for end in ends]


def resize_and_crop(rgb: NDArray[np.uint8], resize_short: int, crop: int) -> NDArray[np.uint8]:
    """Shorter side to ``resize_short`` (cv2 INTER_LINEAR), then a centre ``crop`` x ``crop``.

    >>> resize_and_crop(np.zeros((240, 320, 3), np.uint8), 256, 224).shape
    (224, 224, 3)
    >>> resize_and_crop(np.zeros((240, 320, 3), np.uint8), 0, 0).shape
    (240, 320, 3)
    """
    height, width = rgb.shape[:2]
    if resize_short and min(height, width) != resize_short:
        new_h, new_w = output_size(height, width, resize_short, 0)
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        height, width = new_h, new_w
    if crop:
        top, left = (height - crop) // 2, (width - crop) // 2
        rgb = rgb[top : top + crop, left : left + crop]
    return np.ascontiguousarray(rgb)


def output_size(height: int, width: int, resize_short: int, crop: int) -> tuple[int, int]:
    """(height, width) of a ``height`` x ``width`` frame after :func:`resize_and_crop`.

    >>> output_size(240, 320, 256, 0), output_size(240, 320, 256, 224), output_size(240, 320, 0, 0)
    ((256, 341), (224, 224), (240, 320))
    """
    if resize_short and min(height, width) != resize_short:
        scale = resize_short / min(height, width)
        new_w = resize_short if width <= height else max(resize_short, round(width * scale))
        new_h = resize_short if height < width else max(resize_short, round(height * scale))
        height, width = new_h, new_w
    return (crop, crop) if crop else (height, width)


def open_video(path: Path, threads: int = 0) -> tuple["av.container.InputContainer", "av.video.stream.VideoStream"]:
    """Open ``path`` and its first video stream (FFmpeg threads ``threads``, 0 = FFmpeg's choice).

    A missing, empty, unreadable or video-less file raises DecodeError; close the container when done.
    """
    if not path.is_file():
        raise DecodeError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise DecodeError(f"{path}: empty file")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise DecodeError(f"{path}: cannot open as a video ({_one_line(err)})") from None
    if not container.streams.video:
        container.close()
        raise DecodeError(f"{path}: no video stream (audio-only, truncated or not a video)")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    return container, stream


class ResampledFrames:
    """A stream's decoded source frames with the output frames (at ``fps``) each one supplies.

    Iterating yields ``(frame, first_k, count)``: source ``frame`` supplies output frames
    ``first_k .. first_k + count - 1`` (``count`` 0: a dropped frame), per the timestamp rule of
    the module docstring. A frame is yielded once the next one's start time is known, the last
    one at the end (from its own duration). With a ``seek`` plan, ``frame`` is None for output
    frames that were not decoded (placeholders; never wanted ones), see section Seeking.
    Afterwards :attr:`result` holds the frame counts and the duration, and (for a pass without a
    plan) :attr:`seek_points_s` the keyframes' start times a later seeking pass may use. FFmpeg
    errors while decoding and a stream without frames raise DecodeError. Shared by
    :class:`VideoDecoder` and the sampler's coarse pass, so both see the same timeline.
    """

    def __init__(
        self,
        container: "av.container.InputContainer",
        stream: "av.video.stream.VideoStream",
        fps: float,
        path: Path,
        seek: SeekPlan | None = None,
    ) -> None:
        self.container, self.stream, self.fps, self.path, self.seek = container, stream, fps, path, seek
        self.result: DecodeResult | None = None
        self.seek_points_s: tuple[Fraction, ...] = ()
        self.frame_size: tuple[int, int] | None = None  # (width, height) of the first decoded frame
        self._decoded = 0

    def __iter__(self) -> Iterator[tuple[av.VideoFrame | None, int, int]]:
        resampler = TimestampResampler(self.fps)
        rate = self.stream.average_rate
        default_step = 1 / Fraction(rate) if rate else 1 / _exact(self.fps)
        plan = self.seek
        wanted_ids = np.flatnonzero(plan.wanted) if plan is not None else None  # (W,) increasing
        can_seek = plan is not None and bool(plan.seek_points_s) and self.stream.time_base is not None
        seeks = fallbacks = 0
        keyframes: list[Fraction] = []
        timestamps_ok = True  # every frame has a timestamp and the start times strictly increase
        pending: av.VideoFrame | None = None  # the latest source frame; its end is still unknown
        pending_start = Fraction(0)
        first_pts: int | None = None
        skip_until: Fraction | None = None  # decoding through after a seek: frames up to here are done
        reopened: list["av.container.InputContainer"] = []
        source = self._frames(self.container)
        try:
            while (frame := next(source, None)) is not None:
                time_base = frame.time_base or self.stream.time_base
                if frame.pts is None or time_base is None:
                    start = pending_start + default_step if pending is not None else Fraction(0)
                    timestamps_ok = False
                else:
                    if first_pts is None:
                        first_pts = frame.pts
                    start = Fraction(frame.pts - first_pts) * time_base
                if skip_until is not None:
                    if start <= skip_until:
                        continue  # processed before the seek
                    skip_until = None
                if self.frame_size is None:
                    self.frame_size = (frame.width, frame.height)
                if pending is not None:
                    timestamps_ok &= start > pending_start
                    first_k = resampler.emitted
                    yield pending, first_k, resampler.frames_until(start)
                if plan is None and frame.key_frame and frame.pts is not None:
                    keyframes.append(start)
                pending, pending_start = frame, start
                if plan is None:
                    continue
                next_wanted = int(np.searchsorted(wanted_ids, resampler.emitted))
                if next_wanted == len(wanted_ids):  # nothing more is wanted: stop decoding
                    if plan.num_frames > resampler.emitted:
                        yield None, resampler.emitted, plan.num_frames - resampler.emitted
                    self.result = DecodeResult(plan.num_frames, plan.duration_s, self._decoded, seeks, fallbacks)
                    return
                if not can_seek or first_pts is None:
                    continue
                target = Fraction(int(wanted_ids[next_wanted])) / resampler.fps
                point = bisect.bisect_right(plan.seek_points_s, target) - 1
                if point < 0 or plan.seek_points_s[point] - pending_start < _exact(plan.min_skip_s):
                    continue
                source.close()
                landed = self._seek(plan.seek_points_s[point], first_pts)
                if landed is not None and pending_start < landed[2] <= target:  # a usable seek
                    source, frame, start = landed
                    first_k = resampler.emitted
                    yield None, first_k, resampler.frames_until(start)  # the pending frame's and the gap's
                    pending, pending_start = frame, start
                    seeks += 1
                    continue
                fallbacks += 1
                can_seek = False
                skip_until = pending_start
                if landed is not None and landed[2] <= pending_start:  # landed too early: decode on from there
                    source = _prepend(landed[1], landed[0])
                else:  # failed, or landed too late: decode through from the start of a fresh copy
                    container, _ = open_video(self.path, self.stream.codec_context.thread_count)
                    reopened.append(container)
                    source = self._frames(container)
        finally:
            source.close()
            for container in reopened:
                container.close()
        if pending is None:
            raise DecodeError(f"{self.path}: no decodable video frames")
        time_base = pending.time_base or self.stream.time_base
        if pending.duration and time_base:
            last_duration = Fraction(pending.duration) * time_base
        else:
            last_duration = default_step
        duration = pending_start + last_duration
        first_k = resampler.emitted
        yield pending, first_k, resampler.frames_until(duration)
        self.result = DecodeResult(resampler.emitted, float(duration), self._decoded, seeks, fallbacks)
        if plan is None and timestamps_ok and self.stream.time_base is not None:
            self.seek_points_s = tuple(keyframes)

    def _frames(self, container: "av.container.InputContainer") -> Iterator[av.VideoFrame]:
        """Decoded frames of the (first) video stream of ``container``, counted; FFmpeg errors -> DecodeError."""
        try:
            for frame in container.decode(container.streams.video[0]):
                self._decoded += 1
                yield frame
        except av.FFmpegError as err:
            raise DecodeError(f"{self.path}: decoding failed after {self._decoded} frames ({_one_line(err)})") from None

    def _seek(self, point_s: Fraction, first_pts: int) -> tuple[Iterator[av.VideoFrame], av.VideoFrame, Fraction] | None:
        """Seek to the keyframe starting at ``point_s``: the frames after where it landed, the first
        keyframe decoded there and its start time; None when the seek or the decoding fails."""
        time_base = self.stream.time_base
        try:
            self.container.seek(int(first_pts + point_s / time_base), backward=True, stream=self.stream)
        except av.FFmpegError:
            return None
        frames = self._frames(self.container)
        try:
            for frame in frames:
                if frame.key_frame and frame.pts is not None:
                    return frames, frame, Fraction(frame.pts - first_pts) * (frame.time_base or time_base)
        except DecodeError:
            return None
        return None


class VideoDecoder:
    """Streams one video's frames at ``config.fps``; see the module docstring.

    >>> # with VideoDecoder("v.mp4", DecodeConfig()) as dec:
    >>> #     for chunk in dec.chunks(): ...          # (n, 224, 224, 3) uint8
    >>> #     dec.result.num_frames, dec.result.duration_s
    """

    def __init__(self, path: str | os.PathLike, config: DecodeConfig, seek: SeekPlan | None = None) -> None:
        self.path = Path(path)
        self.config = config
        self.seek = seek  # with a plan, unwanted output frames come as all-zero placeholders
        self._result: DecodeResult | None = None
        self._placeholder: NDArray[np.uint8] | None = None  # (H, W, 3) zeros
        self._container, self._stream = open_video(self.path, config.threads)

    def __enter__(self) -> "VideoDecoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    @property
    def result(self) -> DecodeResult:
        """Frame count and duration; available once :meth:`chunks` is exhausted."""
        if self._result is None:
            raise RuntimeError(f"{self.path}: result is known only after all chunks were read")
        return self._result

    def chunks(self) -> Iterator[NDArray[np.uint8]]:
        """Yield ``(n, H, W, 3)`` uint8 chunks of output frames, in order; raises DecodeError."""
        cfg = self.config
        frames = ResampledFrames(self._container, self._stream, cfg.fps, self.path, self.seek)
        buffer: list[NDArray[np.uint8]] = []
        for frame, first_k, count in frames:
            if count == 0:
                continue  # a dropped frame is never converted
            wanted = self._wanted(first_k, count)  # (count,) bool, None without a plan
            if frame is None and (wanted is None or wanted.any()):
                raise RuntimeError(f"{self.path}: output frames {first_k}..{first_k + count - 1} were skipped but are wanted")
            if frame is None or (wanted is not None and not wanted.any()):
                buffer.extend([self._placeholder_frame(frames)] * count)  # nothing converted
            elif wanted is None or wanted.all():
                buffer.extend([self._convert(frame)] * count)
            else:  # one source frame for wanted and unwanted output frames (a repeated frame)
                rgb, zero = self._convert(frame), self._placeholder_frame(frames)
                buffer.extend(rgb if w else zero for w in wanted)
            if len(buffer) >= cfg.chunk_frames:
                yield from self._flush(buffer, cfg.chunk_frames)
        yield from self._flush(buffer, cfg.chunk_frames)
        if buffer:
            yield np.stack(buffer)
            buffer.clear()
        self._result = frames.result

    def _wanted(self, first_k: int, count: int) -> NDArray[np.bool_] | None:
        """Which of output frames ``first_k ..`` the plan wants (those past its end: all)."""
        if self.seek is None:
            return None
        span = self.seek.wanted[first_k : first_k + count]
        return np.concatenate([span, np.ones(count - len(span), bool)]) if len(span) < count else span

    def _convert(self, frame: av.VideoFrame) -> NDArray[np.uint8]:
        try:
            rgb = frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, ValueError) as err:
            raise DecodeError(f"{self.path}: cannot convert a frame to RGB ({_one_line(err)})") from None
        crop = self.config.crop
        if not self.config.resize_short and crop and min(rgb.shape[:2]) < crop:
            raise DecodeError(f"{self.path}: frame {rgb.shape[1]}x{rgb.shape[0]} is smaller than the {crop}px crop")
        return resize_and_crop(rgb, self.config.resize_short, crop)

    def _placeholder_frame(self, frames: ResampledFrames) -> NDArray[np.uint8]:
        """The all-zero (H, W, 3) stand-in for output frames the seek plan does not want."""
        if self._placeholder is None:
            assert frames.frame_size is not None  # placeholders come only after the first decoded frame
            width, height = frames.frame_size
            self._placeholder = np.zeros(output_size(height, width, self.config.resize_short, self.config.crop) + (3,), np.uint8)
        return self._placeholder

    @staticmethod
    def _flush(buffer: list[NDArray[np.uint8]], size: int) -> Iterator[NDArray[np.uint8]]:
        while len(buffer) >= size:
            yield np.stack(buffer[:size])
            del buffer[:size]


def decode_video(path: str | os.PathLike, config: DecodeConfig = DecodeConfig()) -> tuple[NDArray[np.uint8], DecodeResult]:
    """All frames of a (short) video at once: ``(num_frames, H, W, 3)`` uint8 and the result."""
    with VideoDecoder(path, config) as decoder:
        chunks = list(decoder.chunks())
        return np.concatenate(chunks), decoder.result


def _prepend(first: av.VideoFrame, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    yield first
    yield from rest


def _exact(value: float | Fraction) -> Fraction:
    """A float as the simple fraction it stands for (0.04 -> 1/25), so boundaries compare exactly."""
    return value if isinstance(value, Fraction) else Fraction(value).limit_denominator(1_000_000)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
