"""Tests of features/flow.py: known shifts, static frames, parallel == serial, I3D scaling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wsal.features.flow import (
    FLOW_METHODS,
    compute_flow,
    compute_flow_parallel,
    flow_executor,
    flow_to_i3d_input,
)


def texture(rng: np.random.Generator, size: int = 160) -> np.ndarray:
    """A smooth random grayscale texture (blurred noise stretched to 0..255), uint8 (size, size)."""
    noise = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 2.0)
    return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def shifted_frames(rng, dx: int, dy: int, num: int = 3, hw: int = 80) -> np.ndarray:
    """RGB frames whose content moves (dx, dy) pixels per frame (x right, y down)."""
    big = texture(rng)
    y0 = x0 = 40
    frames = [big[y0 - k * dy : y0 - k * dy + hw, x0 - k * dx : x0 - k * dx + hw] for k in range(num)]
    return np.repeat(np.stack(frames)[..., None], 3, axis=-1)


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (-1, 4)])
def test_known_shift_gives_that_flow(rng, method, dx, dy):
    flow = compute_flow(shifted_frames(rng, dx, dy), method)
    assert flow.shape == (2, 80, 80, 2) and flow.dtype == np.float32
    inner = flow[:, 10:-10, 10:-10]  # away from the border, where content enters the frame
    for pair in inner:
        assert abs(np.median(pair[..., 0]) - dx) < 0.25
        assert abs(np.median(pair[..., 1]) - dy) < 0.25


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_static_frames_give_zero_flow(rng, method):
    frame = np.repeat(texture(rng, 64)[..., None], 3, axis=-1)
    flow = compute_flow(np.stack([frame] * 3), method)
    assert flow.shape == (2, 64, 64, 2)
    assert np.abs(np.median(flow, axis=(1, 2))).max() < 0.01
    assert np.percentile(np.abs(flow), 99) < 0.2


def test_single_frame_gives_no_pairs_and_bad_inputs_fail(rng):
    frames = shifted_frames(rng, 1, 1, num=1, hw=32)
    assert compute_flow(frames, "dis").shape == (0, 32, 32, 2)
    with pytest.raises(ValueError, match="unknown flow method 'pwc'"):
        compute_flow(frames, "pwc")
    with pytest.raises(ValueError, match="uint8"):
        compute_flow(frames.astype(np.float32), "dis")
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        compute_flow(frames[..., 0], "dis")


def test_threads_argument_restores_opencv_setting(rng):
    before = cv2.getNumThreads()
    compute_flow(shifted_frames(rng, 1, 0, hw=32), "farneback", threads=1)
    assert cv2.getNumThreads() == before


@pytest.fixture(scope="module")
def pool():
    with flow_executor(2) as executor:
        yield executor


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_parallel_equals_serial(rng, pool, method):
    frames = (rng.random((8, 40, 48, 3)) * 255).astype(np.uint8)  # 7 pairs: chunks [0,3) [3,7) for 2 workers
    serial = compute_flow(frames, method)
    np.testing.assert_array_equal(compute_flow_parallel(frames, method, workers=2, executor=pool), serial)
    np.testing.assert_array_equal(compute_flow_parallel(frames, method, workers=3, executor=pool), serial)


def test_parallel_without_executor_and_inline(rng):
    frames = (rng.random((5, 32, 32, 3)) * 255).astype(np.uint8)
    serial = compute_flow(frames, "dis")
    np.testing.assert_array_equal(compute_flow_parallel(frames, "dis", workers=2), serial)
    np.testing.assert_array_equal(compute_flow_parallel(frames, "dis", workers=1), serial)
    with pytest.raises(ValueError, match="workers"):
        compute_flow_parallel(frames, "dis", workers=0)


def test_flow_to_i3d_input_clips_and_scales():
    flow = np.array([[[[-40.0, 10.0], [20.0, -20.0]], [[0.5, -0.5], [100.0, 19.0]]]], dtype=np.float32)
    out = flow_to_i3d_input(flow)
    assert out.dtype == np.float32 and out.shape == flow.shape
    expected = np.array([[[[-1.0, 0.5], [1.0, -1.0]], [[0.025, -0.025], [1.0, 0.95]]]], dtype=np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert flow[0, 0, 0, 0] == -40.0  # input untouched
    np.testing.assert_allclose(flow_to_i3d_input(np.array([3.0, -12.0]), bound_px=6.0), [0.5, -1.0])
    with pytest.raises(ValueError, match="bound_px"):
        flow_to_i3d_input(flow, bound_px=0.0)
