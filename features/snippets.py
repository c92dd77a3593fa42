"""Streamed frames -> fixed-length snippets of RGB frames and optical-flow fields, with the tail policy.

Snippet ``i`` holds frames ``[i*stride, i*stride + clip_len)`` (the :class:`wsal.timeline.SnippetGrid`
formula, so its seconds are ``grid.start_s(i)`` .. ``grid.end_s(i)``).

**Tail policy.** A video of ``N`` frames keeps snippet ``i`` when it has at least half a clip of
real frames, ``N - i*stride >= ceil(clip_len / 2)``; a kept snippet that runs past the end is
padded by repeating the last frame. A video shorter than half a clip still gets its one snippet
0 (padded), so every decodable video has at least one. With clip_len = stride = 16 this keeps
the full snippets plus the last partial one if it has 8 or more frames: a 60 s video at 25 fps
(1500 frames) has 93 full snippets and a 12-frame tail, 94 in all (:func:`num_snippets`).

**Flow.** Flow field ``j`` is the flow from frame ``j`` to frame ``j + 1`` (a video of ``N``
frames has ``N - 1``). Snippet ``i`` takes fields ``[i*stride, i*stride + clip_len)``, i.e. it
needs ``clip_len + 1`` frames; fields past the last one (``N - 2``) repeat the last field, and a
one-frame video gets all-zero flow. The flow function is injected (``flow_fn``), and the
assembler calls it on each pushed chunk with the previous chunk's last frame in front, so the
fields are the same however the frames were chunked.

What this module does not do: decode, compute flow itself, or normalise pixel values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from wsal.timeline import SnippetGrid

FlowFn = Callable[[NDArray[np.uint8]], NDArray[np.float32]]  # (m, H, W, 3) -> (m - 1, H, W, 2)


def min_tail_frames(grid: SnippetGrid) -> int:
    """Real frames a snippet needs to be kept: half a clip, rounded up.

    >>> min_tail_frames(SnippetGrid())
    8
    """
    return (grid.clip_len_frames + 1) // 2


def num_snippets(num_frames: int, grid: SnippetGrid) -> int:
    """Snippets a video of ``num_frames`` frames gets under the tail policy (module docstring).

    >>> g = SnippetGrid()
    >>> [num_snippets(n, g) for n in (0, 1, 7, 8, 16, 23, 24, 1500)]
    [0, 1, 1, 1, 1, 1, 2, 94]
    >>> g.num_full_snippets(1500)
    93
    """
    if num_frames < 1:
        return 0
    half = min_tail_frames(grid)
    if num_frames < half:
        return 1
    return (num_frames - half) // grid.stride_frames + 1


@dataclass
class SnippetBatch:
    """Consecutive snippets ``first_index, first_index + 1, ...`` of one video."""

    first_index: int
    rgb: NDArray[np.uint8]  # (n, clip_len, H, W, 3)
    flow: NDArray[np.float32] | None  # (n, clip_len, H, W, 2), None without a flow function

    def __len__(self) -> int:
        return int(self.rgb.shape[0])


class SnippetAssembler:
    """Turns pushed frame chunks into snippets as soon as each one is complete.

    ``push(chunk)`` returns the snippets that became complete (or None); ``finish()`` applies the
    tail policy and returns the rest. Memory holds only the frames of unfinished snippets.
    """

    def __init__(self, grid: SnippetGrid, flow_fn: FlowFn | None = None) -> None:
        self.grid = grid
        self.flow_fn = flow_fn
        self._frames: list[NDArray[np.uint8]] = []  # frames buffer_start, buffer_start + 1, ...
        self._fields: list[NDArray[np.float32]] = []  # flow fields buffer_start, ...
        self._buffer_start = 0
        self._total = 0  # frames pushed so far
        self._next = 0  # next snippet to emit
        self._finished = False

    @property
    def num_frames(self) -> int:
        return self._total

    def push(self, frames: NDArray[np.uint8]) -> SnippetBatch | None:  # frames (m, H, W, 3)
        if self._finished:
            raise RuntimeError("push after finish")
        if len(frames) == 0:
            return None
        if self.flow_fn is not None:
            pairs = np.concatenate([self._frames[-1][None], frames]) if self._frames else frames
            if len(pairs) >= 2:
                fields = self.flow_fn(pairs)  # (len(pairs) - 1, H, W, 2)
                if len(fields) != len(pairs) - 1:
                    raise ValueError(f"flow function returned {len(fields)} fields for {len(pairs)} frames")
                self._fields.extend(fields)
        self._frames.extend(frames)
        self._total += len(frames)
        extra = 1 if self.flow_fn is not None else 0  # a snippet's last flow field needs one more frame
        ready = []
        while self._start(self._next) + self.grid.clip_len_frames + extra <= self._total:
            ready.append(self._next)
            self._next += 1
        return self._take(ready)

    def finish(self) -> SnippetBatch | None:
        """Emit the remaining snippets under the tail policy (padding by repetition)."""
        self._finished = True
        ready = list(range(self._next, num_snippets(self._total, self.grid)))
        self._next += len(ready)
        return self._take(ready)

    def _start(self, index: int) -> int:
        return index * self.grid.stride_frames

    def _take(self, indices: list[int]) -> SnippetBatch | None:
        if not indices:
            return None
        clip = self.grid.clip_len_frames
        rgb, flow = [], []
        for i in indices:
            frame_ids = np.minimum(np.arange(self._start(i), self._start(i) + clip), self._total - 1)
            rgb.append(np.stack([self._frames[j - self._buffer_start] for j in frame_ids]))
            if self.flow_fn is not None:
                flow.append(self._snippet_flow(frame_ids))
        # Frames before the next snippet's start are no longer needed.
        drop = max(0, min(self._start(self._next), self._total - 1) - self._buffer_start)
        del self._frames[:drop]
        del self._fields[:drop]
        self._buffer_start += drop
        return SnippetBatch(
            first_index=indices[0],
            rgb=np.stack(rgb),
            flow=np.stack(flow) if self.flow_fn is not None else None,
        )

    def _snippet_flow(self, frame_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        last_field = self._total - 2
        if last_field < 0:  # one frame: no motion
            height, width = self._frames[0].shape[:2]
            return np.zeros((len(frame_ids), height, width, 2), np.float32)
        field_ids = np.minimum(frame_ids, last_field)
        return np.stack([self._fields[j - self._buffer_start] for j in field_ids])
