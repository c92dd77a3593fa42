"""Frame pairs with known motion at every pixel, for testing and measuring optical flow.

:func:`motion_pairs` returns three (name, frame 0, frame 1, true flow) cases of one size: a
smooth random texture translated by (-2.5, +1.5) px, the same texture rotated by 3 degrees about
the frame centre, and a bright square moving 3 px right over a static noisy background (true flow
known inside the square only: ``truth_mask``). Frames are uint8 grey (H, W); flow (H, W, 2) in
pixels, channel 0 = x (right).

What this module does not do: compute flow, or write video files (research.synthetic_video).
"""

from __future__ import annotations

import cv2
import numpy as np


def _texture(seed: int, size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.uniform(0, 255, size).astype(np.float32), (0, 0), 2.5)
    return cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)


def _crop_moved(image: np.ndarray, matrix: np.ndarray, h: int, w: int) -> np.ndarray:
    """The centre h x w crop of ``image`` after the affine ``matrix`` (2, 3) moved its points."""
    moved = cv2.warpAffine(image, matrix.astype(np.float32), image.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return np.clip(np.rint(moved[top : top + h, left : left + w]), 0, 255).astype(np.uint8)


def motion_pairs(h: int, w: int, seed: int = 1) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, frame 0, frame 1, true flow (H, W, 2), truth_mask (H, W) bool) for each case.

    >>> [(name, a.shape, flow.shape) for name, a, _, flow, _ in motion_pairs(32, 40)]
    [('translation', (32, 40), (32, 40, 2)), ('rotation', (32, 40), (32, 40, 2)), ('moving square', (32, 40), (32, 40, 2))]
    """
    cases = []
    big = _texture(seed, (2 * h, 2 * w))
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    shift = identity.copy()
    shift[:, 2] = (-2.5, 1.5)
    everywhere = np.ones((h, w), dtype=bool)
    cases.append(("translation", _crop_moved(big, identity, h, w), _crop_moved(big, shift, h, w),
                  np.broadcast_to(np.array([-2.5, 1.5]), (h, w, 2)).copy(), everywhere))  # fmt: skip
    centre = (big.shape[1] / 2 - 0.5, big.shape[0] / 2 - 0.5)
    rot = cv2.getRotationMatrix2D(centre, 3.0, 1.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    px, py = xs + (big.shape[1] - w) // 2, ys + (big.shape[0] - h) // 2
    tx = rot[0, 0] * px + rot[0, 1] * py + rot[0, 2]
    ty = rot[1, 0] * px + rot[1, 1] * py + rot[1, 2]
    cases.append(("rotation", _crop_moved(big, identity, h, w), _crop_moved(big, rot, h, w),
                  np.stack([tx - px, ty - py], axis=-1), everywhere))  # fmt: skip
    noise = np.random.default_rng(seed + 1).normal(128, 12, (h, w))
    top, side = int(0.375 * h), max(4, int(0.3 * min(h, w)))
    left = int(0.25 * w)
    frames = []
    for x0 in (left, left + 3):
        frame = noise.copy()
        frame[top : top + side, x0 : x0 + side] = 235.0
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    truth = np.zeros((h, w, 2))
    mask = np.zeros((h, w), dtype=bool)
    mask[top : top + side, left + 3 : left + side] = True  # inside the square in both frames
    truth[mask, 0] = 3.0
    cases.append(("moving square", frames[0], frames[1], truth, mask))
    return cases
