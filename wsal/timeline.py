"""The one snippet <-> seconds formula. Every conversion in wsal goes through here.

A video resampled to ``fps`` is cut into snippets of ``clip_len_frames`` frames, one every
``stride_frames`` frames. Snippet ``i`` covers frames ``[i*stride, i*stride + clip_len)``, i.e.

    seconds [i*stride/fps, (i*stride + clip_len)/fps)

With the THUMOS / ActivityNet convention (fps 25, clip_len = stride = 16) one snippet is 0.64 s::

    frames   0        16       32       48
             |--------|--------|--------|---
    snippet  [   0    ][   1    ][   2    ]
    seconds  0.00     0.64     1.28     1.92

A run of snippets ``first..last`` (inclusive) covers ``[start_s(first), end_s(last))``.
Seconds map back to a fractional snippet position ``t * fps / stride``; the snippet that contains
second ``t`` (for non-overlapping snippets) is ``floor(t * fps / stride)``.

What this module does not do: decide how many snippets a video has (the tail policy belongs to
feature extraction) or resample sequences (the data loader does that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class SnippetGrid:
    """How snippets sit on a video's timeline: frame rate, snippet length and stride in frames."""

    fps: float = 25.0
    clip_len_frames: int = 16
    stride_frames: int = 16

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.clip_len_frames < 1 or self.stride_frames < 1:
            raise ValueError(
                f"clip_len_frames and stride_frames must be >= 1, got {self.clip_len_frames}, {self.stride_frames}"
            )

    @property
    def stride_s(self) -> float:
        """Seconds between the starts of consecutive snippets.

        >>> SnippetGrid().stride_s
        0.64
        """
        return self.stride_frames / self.fps

    @property
    def clip_len_s(self) -> float:
        """Seconds one snippet covers."""
        return self.clip_len_frames / self.fps

    def start_s(self, index: ArrayLike) -> NDArray[np.float64] | float:
        """Start second of snippet ``index`` (scalar or array).

        >>> SnippetGrid().start_s(2)
        1.28
        """
        return _like_input(np.asarray(index, dtype=np.float64) * self.stride_frames / self.fps, index)

    def end_s(self, index: ArrayLike) -> NDArray[np.float64] | float:
        """End second (exclusive) of snippet ``index``.

        >>> SnippetGrid().end_s(0)
        0.64
        """
        idx = np.asarray(index, dtype=np.float64)
        return _like_input((idx * self.stride_frames + self.clip_len_frames) / self.fps, index)

    def snippets_to_seconds(self, first: ArrayLike, last: ArrayLike) -> tuple:
        """Seconds ``(start_s, end_s)`` covered by snippets ``first..last`` inclusive.

        >>> SnippetGrid().snippets_to_seconds(1, 3)
        (0.64, 2.56)
        """
        return self.start_s(first), self.end_s(last)

    def seconds_to_position(self, t_s: ArrayLike) -> NDArray[np.float64] | float:
        """Fractional snippet position of second ``t_s`` (start of snippet i -> i).

        >>> SnippetGrid().seconds_to_position(1.28)
        2.0
        """
        return _like_input(np.asarray(t_s, dtype=np.float64) * self.fps / self.stride_frames, t_s)

    def snippet_at(self, t_s: ArrayLike) -> NDArray[np.int64] | int:
        """Index of the snippet whose stride window ``[i*stride_s, (i+1)*stride_s)`` holds ``t_s``.

        >>> SnippetGrid().snippet_at(0.63), SnippetGrid().snippet_at(0.64)
        (0, 1)
        """
        # A tiny tolerance keeps exact boundaries (0.64 s -> snippet 1) from floating-point drift.
        pos = np.asarray(t_s, dtype=np.float64) * self.fps / self.stride_frames
        out = np.floor(pos + 1e-9).astype(np.int64)
        return int(out) if np.ndim(t_s) == 0 else out

    def num_full_snippets(self, num_frames: int) -> int:
        """Snippets that fit entirely inside ``num_frames`` frames.

        >>> SnippetGrid().num_full_snippets(1500)  # 60 s at 25 fps
        93
        """
        if num_frames < self.clip_len_frames:
            return 0
        return (num_frames - self.clip_len_frames) // self.stride_frames + 1


def _like_input(value: NDArray[np.float64], like: ArrayLike) -> NDArray[np.float64] | float:
    """Return a Python float for scalar input, the array otherwise (keeps doctests readable)."""
    if np.ndim(like) == 0:
        return float(round(float(value), 12))
    return value
