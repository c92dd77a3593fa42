"""Dense optical flow between consecutive RGB frames (OpenCV), and its I3D input scaling.

Methods (all on grayscale frames, flow in pixels, channel 0 = x (right), channel 1 = y (down)):

* ``tvl1``: Dual TV-L1 (``cv2.optflow.DualTVL1OpticalFlow_create`` from opencv-contrib, default
  parameters), the flow the I3D paper and the usual THUMOS/ActivityNet feature releases use. The
  reference, and slow. ``compute_flow(..., device=...)`` runs the same algorithm in torch
  (:mod:`wsal.features.tvl1`), batched over all pairs, on that device.
* ``farneback``: ``cv2.calcOpticalFlowFarneback`` (pyramid 0.5 x 3 levels, window 15, 3
  iterations, poly_n 5, sigma 1.2). Much faster; features differ from TV-L1 ones, so a model
  trained on TV-L1 features should not be fed Farneback ones.
* ``dis``: ``cv2.DISOpticalFlow_create`` with the MEDIUM preset. Fastest; same caveat.

:func:`flow_to_i3d_input` applies the standard I3D preprocessing: clip to +-20 px, divide by 20.

OpenCV's thread count is process-wide state: :func:`compute_flow` leaves it alone unless
``threads`` is given (then sets it for the call and restores it); worker processes of
:func:`flow_executor` run OpenCV single-threaded. Nothing is set at import.

What this module does not do: decode or resize video, or run the network.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Callable, Literal, get_args

import cv2
import numpy as np
from numpy.typing import NDArray

FlowMethod = Literal["tvl1", "farneback", "dis"]
FLOW_METHODS: tuple[str, ...] = get_args(FlowMethod)
FLOW_BOUND_PX = 20.0  # I3D flow inputs: pixels clipped to +-20, then scaled to [-1, 1]


PairFlow = Callable[[NDArray[np.uint8], NDArray[np.uint8]], NDArray[np.float32]]


def _make_flow_fn(method: str) -> PairFlow:
    """Returns f(prev_gray, next_gray) -> (H, W, 2) float32 for ``method`` (one algorithm object)."""
    if method == "tvl1":
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda prev, nxt: tvl1.calc(prev, nxt, None)
    if method == "farneback":
        return lambda prev, nxt: cv2.calcOpticalFlowFarneback(
            prev, nxt, None, pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
        )
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda prev, nxt: dis.calc(prev, nxt, None)
    raise ValueError(f"unknown flow method {method!r}; expected one of {', '.join(FLOW_METHODS)}")


def _check_frames(frames: NDArray[np.uint8]) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected RGB frames (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[0] < 1:
        raise ValueError("expected at least one frame")


def compute_flow(
    frames: NDArray[np.uint8], method: FlowMethod = "tvl1", threads: int | None = None, device: str | None = None
) -> NDArray[np.float32]:
    """Flow from each frame to the next: (N, H, W, 3) uint8 RGB -> (N-1, H, W, 2) float32 pixels.

    ``threads``: OpenCV threads for this call (restored afterwards); None leaves OpenCV's setting.
    ``device`` (``tvl1`` only): run the torch TV-L1 of :mod:`wsal.features.tvl1` there, all pairs in
    one batch ("cuda", or "cpu", which is slow and meant for tests); None: OpenCV.
    """
    _check_frames(frames)
    if device is not None:
        if method != "tvl1":
            raise ValueError(f"device= runs the torch TV-L1 only, not {method!r}")
        return _torch_tvl1(frames, device)
    flow_fn = _make_flow_fn(method)
    n, h, w, _ = frames.shape
    out = np.empty((n - 1, h, w, 2), dtype=np.float32)
    previous_threads = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(threads)
    try:
        prev = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
        for i in range(1, n):
            nxt = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
            out[i - 1] = flow_fn(prev, nxt)
            prev = nxt
    finally:
        if threads is not None:
            cv2.setNumThreads(previous_threads)
    return out


def _torch_tvl1(frames: NDArray[np.uint8], device: str) -> NDArray[np.float32]:
    import torch

    from wsal.features.tvl1 import rgb_to_grey, tvl1_flow

    if len(frames) < 2:
        return np.empty((0, *frames.shape[1:3], 2), dtype=np.float32)
    grey = rgb_to_grey(torch.from_numpy(np.ascontiguousarray(frames)).to(device))  # (N, H, W)
    with torch.no_grad():
        flow = tvl1_flow(grey[:-1], grey[1:])  # (N-1, H, W, 2)
    return flow.cpu().numpy()


def _single_threaded_worker() -> None:
    cv2.setNumThreads(1)  # inside a pool worker process only: workers already give the parallelism


def flow_executor(workers: int) -> ProcessPoolExecutor:
    """A process pool for :func:`compute_flow_parallel` (spawned workers, OpenCV single-threaded).

    Reuse one across videos to pay the worker start-up once; close it with ``shutdown()`` or a
    ``with`` block.
    """
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_single_threaded_worker
    )


def _pair_chunks(num_pairs: int, num_chunks: int) -> list[tuple[int, int]]:
    """Splits pair indices [0, num_pairs) into contiguous near-equal [start, stop) ranges.

    >>> _pair_chunks(10, 3)
    [(0, 3), (3, 6), (6, 10)]
    >>> _pair_chunks(2, 4)
    [(0, 1), (1, 2)]
    """
    n = min(num_chunks, num_pairs)
    bounds = [k * num_pairs // n for k in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def compute_flow_parallel(
    frames: NDArray[np.uint8], method: FlowMethod = "tvl1", workers: int = 1, executor: Executor | None = None
) -> NDArray[np.float32]:
    """Same result as :func:`compute_flow`, with the frame pairs split over worker processes.

    Chunk k covers pairs [a, b) and gets frames [a, b] (one frame of overlap with the next chunk),
    so no pair is lost or computed twice. ``workers=1`` without an executor runs inline. Pass an
    ``executor`` (e.g. from :func:`flow_executor`) to reuse its processes; ``workers`` is then the
    number of chunks.
    """
    _check_frames(frames)
    _make_flow_fn(method)  # fail on a bad method before starting processes
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    num_pairs = frames.shape[0] - 1
    if num_pairs == 0 or (workers == 1 and executor is None):
        return compute_flow(frames, method)
    chunks = _pair_chunks(num_pairs, workers)
    if executor is not None:
        parts = list(executor.map(compute_flow, [frames[a : b + 1] for a, b in chunks], [method] * len(chunks)))
    else:
        with flow_executor(min(workers, len(chunks))) as pool:
            parts = list(pool.map(compute_flow, [frames[a : b + 1] for a, b in chunks], [method] * len(chunks)))
    return np.concatenate(parts, axis=0)


def flow_to_i3d_input(flow: NDArray[np.floating], bound_px: float = FLOW_BOUND_PX) -> NDArray[np.float32]:
    """Clips flow to +-``bound_px`` pixels and divides by it: float32 in [-1, 1], same shape.

    This is the I3D flow preprocessing (Carreira & Zisserman 2017: TV-L1 flow truncated to
    [-20, 20] and rescaled to [-1, 1]).

    >>> flow_to_i3d_input(np.array([-30.0, -10.0, 0.0, 5.0, 20.0, 25.0])).tolist()
    [-1.0, -0.5, 0.0, 0.25, 1.0, 1.0]
    """
    if bound_px <= 0:
        raise ValueError(f"bound_px must be > 0, got {bound_px}")
    return (np.clip(flow, -bound_px, bound_px) / bound_px).astype(np.float32)
