"""Dual TV-L1 optical flow in torch, batched over frame pairs, on any device.

The algorithm and default parameters of OpenCV's ``DualTVL1OpticalFlow`` (Zach, Pock and Bischof,
"A Duality Based Approach for Realtime TV-L1 Optical Flow", 2007; the variant of Sanchez,
Meinhardt-Llopis and Facciolo, IPOL 2013), written from its definition so that the flow the
usual THUMOS-14 / ActivityNet I3D features were computed with can run on a GPU:

* a pyramid of ``scales`` levels, each ``scale_step`` times the size of the one above (bilinear
  resampling, sizes rounded; a level under 16 px on a side ends the pyramid), coarse to fine; the
  flow of a level is resized to the next and divided by ``scale_step``;
* per level ``warps`` times: warp the second image and its centred gradient (replicated border)
  by the current flow with bicubic interpolation (zero outside the image), linearise the data
  term around it, then up to ``outer`` rounds of a 5x5 median filter of the flow followed by up to
  ``inner`` iterations of the primal-dual scheme: the thresholding step for v (data term, weight
  ``lam * theta``), u = v + theta * div p (backward differences, zero outside), and the dual step
  p = (p + tau/theta * grad u) / (1 + tau/theta * |grad u|) (forward differences, zero on the last
  row / column). A pair stops for the rest of the warp once an iteration moves its flow by no
  more than ``epsilon**2 * area`` (sum of squared changes), as OpenCV's loops do.

Every pair keeps its own stopping state, so a batch computes what one OpenCV call per pair
would; pairs that stopped are masked, not removed, so the work per call is that of the slowest
pair. Agreement with OpenCV is measured, not exact: interpolation kernels round differently
and float sums run in another order.

What this module does not do: read video, choose the device (callers pass tensors where they
want the work done), or scale flow for I3D (:func:`wsal.features.flow.flow_to_i3d_input`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MIN_LEVEL_PX = 16  # a pyramid level smaller than this on either side is not used


@dataclass(frozen=True)
class TVL1Params:
    """OpenCV's defaults (``cv2.optflow.DualTVL1OpticalFlow_create()``)."""

    tau: float = 0.25  # time step of the dual update
    lam: float = 0.15  # weight of the data term
    theta: float = 0.3  # coupling of u and v
    scales: int = 5
    scale_step: float = 0.8
    warps: int = 5
    epsilon: float = 0.01  # stopping threshold, per pixel
    inner: int = 30
    outer: int = 10
    median: int = 5  # median filter size (1: none)


def rgb_to_grey(frames: Tensor) -> Tensor:
    """(N, H, W, 3) uint8 RGB -> (N, H, W) float32 grey in 0..255, rounded like OpenCV's
    ``cvtColor(RGB2GRAY)`` (fixed-point BT.601 weights), so both flows start from the same pixels."""
    rgb = frames.to(torch.int32)
    grey = (rgb[..., 0] * 9798 + rgb[..., 1] * 19235 + rgb[..., 2] * 3735 + 16384) >> 15  # BT.601, 15-bit fixed point
    return grey.to(torch.float32)


def _sample(images: Tensor, x: Tensor, y: Tensor, mode: str, padding: str) -> Tensor:
    """``images`` (N, C, H, W) at pixel positions ``x``, ``y`` (N, H', W') -> (N, C, H', W')."""
    h, w = images.shape[-2:]
    grid = torch.stack([(2 * x + 1) / w - 1, (2 * y + 1) / h - 1], dim=-1)  # pixel centres, align_corners=False
    return F.grid_sample(images, grid, mode=mode, padding_mode=padding, align_corners=False)


def _resize(images: Tensor, out_h: int, out_w: int, step_y: float, step_x: float) -> Tensor:
    """Bilinear resize (N, C, H, W) -> (N, C, out_h, out_w) sampling source position
    ``(dst + 0.5) / step - 0.5`` with the border replicated (OpenCV's INTER_LINEAR)."""
    ys = (torch.arange(out_h, device=images.device, dtype=torch.float64) + 0.5) / step_y - 0.5
    xs = (torch.arange(out_w, device=images.device, dtype=torch.float64) + 0.5) / step_x - 0.5
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    n = images.shape[0]
    # float64 positions (see the warp in _one_level); the result in the images' dtype
    return _sample(images.double(), x.expand(n, -1, -1), y.expand(n, -1, -1), "bilinear", "border").to(images.dtype)


def _centred_gradient(image: Tensor) -> tuple[Tensor, Tensor]:
    """(N, H, W) -> d/dx, d/dy: half the difference of the two neighbours, border replicated."""
    padded = F.pad(image.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    dx = 0.5 * (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
    dy = 0.5 * (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
    return dx, dy


def _forward_gradient(u: Tensor) -> tuple[Tensor, Tensor]:
    """(N, H, W) -> forward differences, 0 on the last column / row."""
    dx = F.pad(u[:, :, 1:] - u[:, :, :-1], (0, 1))
    dy = F.pad(u[:, 1:, :] - u[:, :-1, :], (0, 0, 0, 1))
    return dx, dy


def _divergence(px: Tensor, py: Tensor) -> Tensor:
    """Backward differences of (px, py) (N, H, W), values outside the image taken as 0."""
    return px - F.pad(px[:, :, :-1], (1, 0)) + py - F.pad(py[:, :-1, :], (0, 0, 1, 0))


def _median(u: Tensor, size: int) -> Tensor:
    """size x size median of (N, H, W), border replicated."""
    r = size // 2
    padded = F.pad(u.unsqueeze(1), (r, r, r, r), mode="replicate")
    patches = F.unfold(padded, size)  # (N, size*size, H*W)
    return patches.median(dim=1).values.view_as(u)


def _one_level(i0: Tensor, i1: Tensor, u1: Tensor, u2: Tensor, p: TVL1Params) -> tuple[Tensor, Tensor]:
    """Refine the flow (u1, u2) (N, H, W) of one pyramid level between i0 and i1 (N, H, W)."""
    n, h, w = i0.shape
    scaled_eps = p.epsilon * p.epsilon * h * w
    l_t, taut = p.lam * p.theta, p.tau / p.theta
    i1x, i1y = _centred_gradient(i1)
    stacked = torch.stack([i1, i1x, i1y], dim=1)  # (N, 3, H, W)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=i0.device, dtype=torch.float32), torch.arange(w, device=i0.device, dtype=torch.float32), indexing="ij"
    )
    stacked64, xs64, ys64 = stacked.double(), xs.double(), ys.double()
    p11, p12, p21, p22 = (torch.zeros_like(i0) for _ in range(4))
    check_each_step = i0.device.type == "cpu"  # a host read per iteration costs nothing there
    for _ in range(p.warps):
        # in float64: grid_sample's normalised coordinates round in float32, enough to move a pixel
        # that should stay in place and to let the zero border leak into a still image's flow
        warped = _sample(stacked64, xs64 + u1.double(), ys64 + u2.double(), "bicubic", "zeros").float()
        i1w, i1wx, i1wy = warped.unbind(1)
        grad = i1wx * i1wx + i1wy * i1wy
        rho_c = i1w - i1wx * u1 - i1wy * u2 - i0
        active = torch.ones(n, 1, 1, dtype=torch.bool, device=i0.device)
        for _ in range(p.outer):
            if p.median > 1:
                u1 = torch.where(active, _median(u1, p.median), u1)
                u2 = torch.where(active, _median(u2, p.median), u2)
            for _ in range(p.inner):
                rho = rho_c + i1wx * u1 + i1wy * u2
                fi = torch.where(grad > torch.finfo(torch.float32).eps, -rho / grad.clamp_min(1e-30), torch.zeros_like(rho))
                step = torch.where(rho < -l_t * grad, torch.full_like(rho, l_t), torch.where(rho > l_t * grad, torch.full_like(rho, -l_t), fi))
                v1, v2 = u1 + step * i1wx, u2 + step * i1wy
                new1 = v1 + p.theta * _divergence(p11, p12)
                new2 = v2 + p.theta * _divergence(p21, p22)
                error = ((new1 - u1) ** 2 + (new2 - u2) ** 2).sum(dim=(1, 2), keepdim=True)  # (N, 1, 1)
                u1, u2 = torch.where(active, new1, u1), torch.where(active, new2, u2)
                u1x, u1y = _forward_gradient(u1)
                u2x, u2y = _forward_gradient(u2)
                ng1 = 1.0 + taut * torch.hypot(u1x, u1y)
                ng2 = 1.0 + taut * torch.hypot(u2x, u2y)
                p11 = torch.where(active, (p11 + taut * u1x) / ng1, p11)
                p12 = torch.where(active, (p12 + taut * u1y) / ng1, p12)
                p21 = torch.where(active, (p21 + taut * u2x) / ng2, p21)
                p22 = torch.where(active, (p22 + taut * u2y) / ng2, p22)
                active = active & (error > scaled_eps)
                if check_each_step and not bool(active.any()):
                    break
            if not bool(active.any()):
                break
    return u1, u2


def tvl1_flow(prev: Tensor, nxt: Tensor, params: TVL1Params = TVL1Params()) -> Tensor:
    """Flow from ``prev`` to ``nxt``: (N, H, W) float32 grey (0..255) each, on the device that
    should do the work -> (N, H, W, 2) float32 pixels (channel 0 = x, right; 1 = y, down)."""
    if prev.shape != nxt.shape or prev.ndim != 3:
        raise ValueError(f"expected two (N, H, W) image batches of one shape, got {tuple(prev.shape)} and {tuple(nxt.shape)}")
    if min(prev.shape[1:]) < 3:
        raise ValueError(f"frames must be at least 3 x 3 pixels, got {tuple(prev.shape[1:])}")
    prev, nxt = prev.float(), nxt.float()
    levels = [(prev, nxt)]
    for _ in range(1, params.scales):
        h, w = levels[-1][0].shape[1:]
        out_h, out_w = round(h * params.scale_step), round(w * params.scale_step)
        if out_h < MIN_LEVEL_PX or out_w < MIN_LEVEL_PX:
            break
        both = _resize(torch.stack(levels[-1], dim=1), out_h, out_w, params.scale_step, params.scale_step)
        levels.append((both[:, 0], both[:, 1]))
    u1 = torch.zeros_like(levels[-1][0])
    u2 = torch.zeros_like(u1)
    for index in range(len(levels) - 1, -1, -1):
        i0, i1 = levels[index]
        u1, u2 = _one_level(i0, i1, u1, u2, params)
        if index == 0:
            break
        fine_h, fine_w = levels[index - 1][0].shape[1:]
        coarse_h, coarse_w = u1.shape[1:]
        up = _resize(torch.stack([u1, u2], dim=1), fine_h, fine_w, fine_h / coarse_h, fine_w / coarse_w)
        u1, u2 = up[:, 0] / params.scale_step, up[:, 1] / params.scale_step
    return torch.stack([u1, u2], dim=-1)
