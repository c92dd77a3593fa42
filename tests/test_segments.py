"""wsal.segments: tIoU (one zero-length convention) and NMS, against hand-worked cases and plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from wsal.segments import hard_nms, soft_nms, tiou, tiou_matrix


def test_tiou_identical_disjoint_nested_touching():
    segs = np.array([[2.0, 6.0], [7.0, 9.0], [3.0, 4.0], [6.0, 8.0], [0.0, 10.0], [4.0, 8.0]])
    got = tiou([2.0, 6.0], segs)
    np.testing.assert_allclose(got, [1.0, 0.0, 0.25, 0.0, 0.4, 2.0 / 6.0])


def test_tiou_is_symmetric_and_matrix_matches():
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 10, (5, 2)), axis=1)
    b = np.sort(rng.uniform(0, 10, (4, 2)), axis=1)
    m = tiou_matrix(a, b)
    assert m.shape == (5, 4)
    np.testing.assert_allclose(m, tiou_matrix(b, a).T)
    for i in range(5):
        np.testing.assert_allclose(m[i], tiou(a[i], b))
    assert np.all((m >= 0) & (m <= 1))


def test_tiou_zero_length():
    np.testing.assert_array_equal(tiou([3.0, 3.0], np.array([[3.0, 3.0], [2.0, 2.0], [2.0, 4.0]])), [1.0, 0.0, 0.0])


def test_soft_nms_decays_by_gaussian_of_tiou():
    start = np.array([0.0, 0.0, 10.0, 0.5])
    end = np.array([4.0, 2.0, 12.0, 4.0])
    scores = np.array([1.0, 0.8, 0.6, 0.0])
    order, new = soft_nms(start, end, scores, sigma=0.5)
    # pick 0 (1.0); 1 has tIoU 0.5 with it -> 0.8 * exp(-0.25/0.5); 2 untouched; 3 (tIoU 0.875) is the floor
    expected_1 = 0.8 * np.exp(-0.5)
    assert order.tolist() == [0, 2, 1, 3]
    assert new.tolist() == pytest.approx([1.0, 0.6, expected_1, 0.0])


def test_hard_nms_matches_a_plain_loop(rng):
    start = rng.random(40) * 10
    end = start + rng.random(40) * 3 + 0.01
    scores = rng.random(40)
    kept: list[int] = []
    for i in np.argsort(-scores):
        if all(_tiou(start[i], end[i], start[j], end[j]) <= 0.5 for j in kept):
            kept.append(int(i))
    assert hard_nms(start, end, scores, 0.5).tolist() == kept


def test_row_wise_nms_equals_matrix_nms(rng):
    start = rng.random(300) * 50
    end = start + rng.random(300) * 10 + 0.01
    scores = rng.random(300) - 0.3
    assert hard_nms(start, end, scores, 0.4).tolist() == hard_nms(start, end, scores, 0.4, matrix_limit=10).tolist()
    order_a, new_a = soft_nms(start, end, scores, 0.3)
    order_b, new_b = soft_nms(start, end, scores, 0.3, matrix_limit=10)
    assert order_a.tolist() == order_b.tolist()
    np.testing.assert_allclose(new_a, new_b)


def test_tiou_matrix_identical_disjoint_nested():
    segs = np.array([[0.0, 2.0], [0.0, 2.0], [5.0, 6.0], [1.0, 1.5]])
    m = tiou_matrix(segs, segs)
    assert m[0, 1] == 1.0 and m[0, 2] == 0.0 and m[0, 3] == pytest.approx(0.25)


def _tiou(s1, e1, s2, e2):
    inter = max(0.0, min(e1, e2) - max(s1, s2))
    return inter / (e1 - s1 + e2 - s2 - inter)
