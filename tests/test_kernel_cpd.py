"""Kernel change-point detection: planted points, brute-force agreement, hand-checked costs."""

import itertools

import numpy as np
import pytest

from research.kernel_cpd import kcpd_fixed, kcpd_penalized, rbf_gram, segment_costs
from research.piecewise import piecewise_sequence


def _direct_cost(gram, a, b):
    block = gram[a:b, a:b]
    return float(np.trace(block) - block.sum() / (b - a))


def _brute_force(gram, min_size, penalty=None, n=None):
    """Best partition by enumerating every admissible set of change points."""
    t = len(gram)
    best, best_points = np.inf, None
    for k in range(t):
        if n is not None and k != n:
            continue
        for points in itertools.combinations(range(1, t), k):
            bounds = (0, *points, t)
            if min(np.diff(bounds)) < min_size:
                continue
            total = sum(_direct_cost(gram, a, b) for a, b in zip(bounds[:-1], bounds[1:]))
            total += (penalty or 0.0) * k
            if total < best - 1e-12:
                best, best_points = total, list(points)
    return best_points


def test_segment_cost_by_hand():
    # Two snippets at distance 0 and one far away (kernel ~ 0): cost([0, 3)) = 3 - (1+1+1+1+1)/3 ~ 4/3.
    gram = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    c = segment_costs(gram)
    assert c[0, 2] == pytest.approx(0.0)
    assert c[0, 3] == pytest.approx(3.0 - 5.0 / 3.0)
    assert c[2, 3] == pytest.approx(0.0)
    assert np.isinf(c[1, 1]) and np.isinf(c[2, 0])


def test_segment_costs_match_direct(rng):
    gram, _ = rbf_gram(rng.normal(size=(9, 3)))
    c = segment_costs(gram)
    for a in range(9):
        for b in range(a + 1, 10):
            assert c[a, b] == pytest.approx(_direct_cost(gram, a, b), abs=1e-10)


def test_median_bandwidth():
    # Distances 1, 3, 4 -> median 3.
    gram, bw = rbf_gram([[0.0], [1.0], [4.0]])
    assert bw == 3.0
    assert gram[0, 2] == pytest.approx(np.exp(-16.0 / 18.0))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_size", [1, 2])
def test_agrees_with_brute_force(seed, min_size):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(0, 1, (3, 2)), rng.normal(2, 1, (5, 2))]  # T = 8, overlapping pieces
    gram, bw = rbf_gram(x)
    for n in range(4):
        assert kcpd_fixed(x, n, min_size=min_size).tolist() == _brute_force(gram, min_size, n=n)
    for penalty in (0.05, 0.3, 1.0):
        got = kcpd_penalized(x, penalty, min_size=min_size).tolist()
        assert got == _brute_force(gram, min_size, penalty=penalty), penalty


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_finds_planted_points(seed):
    rng = np.random.default_rng(seed)
    clean = piecewise_sequence(rng, num_snippets=300, feature_dim=16, phases_per_unit=(1, 1), noise=0.3)
    fixed = kcpd_fixed(clean.features, len(clean.all_points))
    assert np.abs(fixed - clean.all_points).max() <= 1
    # Minor changes (a small shift in half the dimensions) may be invisible in a draw; major ones not.
    seq = piecewise_sequence(rng, num_snippets=300, feature_dim=16, noise=0.3)
    pen = kcpd_penalized(seq.features, penalty=1.0)
    # With a moderate penalty every major change is found within one snippet and nothing spurious.
    assert all(np.abs(pen - p).min() <= 1 for p in seq.major_points)
    assert all(np.abs(seq.all_points - p).min() <= 1 for p in pen)


def test_too_many_points_is_an_error():
    with pytest.raises(ValueError, match="do not fit"):
        kcpd_fixed(np.zeros((5, 1)), 3, min_size=2)
