"""wsal.features.tvl1: torch Dual TV-L1 against OpenCV's and against known motion, on small frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from research.motion_pairs import motion_pairs
from wsal.features.flow import compute_flow, flow_to_i3d_input
from wsal.features.tvl1 import TVL1Params, rgb_to_grey, tvl1_flow

pytestmark = pytest.mark.skipif(not hasattr(cv2, "optflow"), reason="needs opencv-contrib (cv2.optflow) as the reference")

H, W = 64, 80


def _cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    return motion_pairs(H, W)


def _epe(flow: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    return float(np.linalg.norm(flow - truth, axis=-1)[where].mean())


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_agrees_with_opencv_and_the_true_motion(case):
    name, a, b, truth, known = case
    ref = cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None)
    ours = tvl1_flow(torch.from_numpy(a).float()[None], torch.from_numpy(b).float()[None])[0].numpy()
    assert ours.shape == (H, W, 2) and ours.dtype == np.float32
    # the two fields after I3D's +-20 px clip: mean end-point difference <= 0.25 px
    clipped = np.linalg.norm((flow_to_i3d_input(ours) - flow_to_i3d_input(ref)) * 20.0, axis=-1).mean()
    assert clipped <= 0.25, (name, clipped)
    # against the true motion, away from the borders (and, for the square, where its motion is known)
    where = np.zeros((H, W), dtype=bool)
    where[8:-8, 8:-8] = True
    where &= known
    assert _epe(ours, truth, where) <= 1.1 * _epe(ref, truth, where) + 0.01, name


def test_a_batch_computes_what_single_pairs_compute():
    """Each pair keeps its own stopping state: batching changes nothing."""
    cases = _cases()
    prev = torch.stack([torch.from_numpy(a).float() for _, a, _, _, _ in cases])
    nxt = torch.stack([torch.from_numpy(b).float() for _, _, b, _, _ in cases])
    batch = tvl1_flow(prev, nxt)
    for i in range(len(cases)):
        torch.testing.assert_close(batch[i], tvl1_flow(prev[i : i + 1], nxt[i : i + 1])[0], atol=1e-3, rtol=0)


def test_still_frames_give_zero_flow_and_parameters_matter():
    a = _cases()[0][1]
    still = tvl1_flow(torch.from_numpy(a).float()[None], torch.from_numpy(a).float()[None])

    _, a, b, _, _ = _cases()[0]
    prev, nxt = torch.from_numpy(a).float()[None], torch.from_numpy(b).float()[None]
    one_scale = tvl1_flow(prev, nxt, TVL1Params(scales=1, warps=1, outer=1, inner=2))
    assert not torch.allclose(one_scale, tvl1_flow(prev, nxt), atol=0.1)  # a short run has not converged


def test_grey_conversion_is_opencvs():
    rgb = np.random.default_rng(4).integers(0, 256, (3, 67, 71, 3), dtype=np.uint8)
    ours = rgb_to_grey(torch.from_numpy(rgb)).numpy()
    ref = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in rgb]).astype(np.float32)
    np.testing.assert_array_equal(ours, ref)


def test_compute_flow_on_a_device_matches_the_opencv_path():
    _, a, b, _, _ = _cases()[0]
    frames = np.stack([np.repeat(x[..., None], 3, axis=-1) for x in (a, b, a)])  # (3, H, W, 3) grey RGB
    ours = compute_flow(frames, "tvl1", device="cpu")
    ref = compute_flow(frames, "tvl1")
    assert ours.shape == ref.shape == (2, H, W, 2)
    assert np.linalg.norm(ours - ref, axis=-1).mean() <= 0.25
    assert compute_flow(frames[:1], "tvl1", device="cpu").shape == (0, H, W, 2)
    with pytest.raises(ValueError, match="torch TV-L1 only"):
        compute_flow(frames, "dis", device="cpu")
    with pytest.raises(ValueError, match="at least 3 x 3"):
        tvl1_flow(torch.zeros(1, 2, 5), torch.zeros(1, 2, 5))


def test_median_step_is_opencvs_and_is_applied():
    from wsal.features.tvl1 import _median

    field = np.random.default_rng(5).normal(size=(2, 23, 29)).astype(np.float32)
    ours = _median(torch.from_numpy(field), 5).numpy()
    np.testing.assert_array_equal(ours, np.stack([cv2.medianBlur(f, 5) for f in field]))
    _, a, b, _, _ = _cases()[2]
    prev, nxt = torch.from_numpy(a).float()[None], torch.from_numpy(b).float()[None]
    assert (tvl1_flow(prev, nxt) - tvl1_flow(prev, nxt, TVL1Params(median=1))).abs().max() > 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_computes_what_the_cpu_computes():
    cases = _cases()
    prev = torch.stack([torch.from_numpy(a).float() for _, a, _, _, _ in cases])
    nxt = torch.stack([torch.from_numpy(b).float() for _, _, b, _, _ in cases])
    on_gpu = tvl1_flow(prev.cuda(), nxt.cuda()).cpu()
    assert np.linalg.norm((on_gpu - tvl1_flow(prev, nxt)).numpy(), axis=-1).mean() <= 0.01
