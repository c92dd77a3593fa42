"""Classical kernel change-point detection (RBF kernel), as a baseline for the learned detector.

Pure numpy. The cost of a segment ``[a, b)`` of snippets is its scatter in the kernel feature
space::

    cost(a, b) = sum_{i in [a,b)} K_ii  -  1/(b - a) * sum_{i,j in [a,b)} K_ij

read in O(1) from a 2D prefix sum of the Gram matrix ``K``. With every segment cost in one
(T+1, T+1) table, two searches are exact:

* :func:`kcpd_fixed` - the ``n`` change points minimising the total cost (dynamic programming,
  O(n T^2) vectorized);
* :func:`kcpd_penalized` - any number of change points minimising total cost + ``penalty`` per
  change point (optimal partitioning with PELT pruning, valid because the kernel cost never
  increases when a segment is split).

The Gram matrix is computed from the features directly (no PCA): T = 750, D = 2048 is one
(750 x 2048) @ (2048 x 750) product. Bandwidth by the median heuristic: ``K_ij = exp(-d_ij^2 /
(2 s^2))`` with ``s`` the median distance between distinct snippets (unless given).
A change point ``t`` means snippet ``t`` starts a new segment (as in wsal.eval.changepoints);
segments are at least ``min_size`` snippets long.

What this module does not do: choose the penalty or the number of change points for a dataset
(callers do, on training data), or use any learned model.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def rbf_gram(features: ArrayLike, bandwidth: float | None = None) -> tuple[NDArray[np.float64], float]:
    """(T, D) features -> (T, T) RBF Gram matrix and the bandwidth used.

    >>> k, s = rbf_gram([[0.0], [1.0], [3.0]])
    >>> s, round(float(k[0, 1]), 4)  # median distance of 1, 2, 3 is 2; exp(-1 / 8)
    (2.0, 0.8825)
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"features must be (T, D) with T >= 1, got shape {x.shape}")
    sq = (x * x).sum(axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None)  # (T, T)
    if bandwidth is None:
        upper = d2[np.triu_indices(len(x), k=1)]
        bandwidth = float(np.median(np.sqrt(upper))) if upper.size else 1.0
        if bandwidth <= 0.0:
            bandwidth = 1.0  # all snippets identical: any bandwidth gives the same (constant) Gram
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    return np.exp(-d2 / (2.0 * bandwidth**2)), float(bandwidth)


def segment_costs(gram: ArrayLike) -> NDArray[np.float64]:
    """(T, T) Gram -> (T+1, T+1) table ``c[a, b] = cost(a, b)`` for a < b, +inf elsewhere.

    >>> c = segment_costs(np.ones((3, 3)))  # identical snippets: every segment costs 0
    >>> float(np.abs(c[np.triu_indices(4, k=1)]).max()), bool(np.isinf(c[2, 1]))
    (0.0, True)
    """
    k = np.asarray(gram, dtype=np.float64)
    t = k.shape[0]
    prefix = np.zeros((t + 1, t + 1))
    prefix[1:, 1:] = k.cumsum(axis=0).cumsum(axis=1)  # prefix[i, j] = sum of k[:i, :j]
    diag = np.concatenate([[0.0], np.cumsum(np.diag(k))])  # (T+1,) sum of K_ii for i < n
    full = np.diag(prefix)  # (T+1,) block [0, n) x [0, n)
    idx = np.arange(t + 1)
    length = idx[None, :] - idx[:, None]  # (a, b) -> b - a
    block = full[None, :] - prefix - prefix.T + full[:, None]  # sum of the block [a, b) x [a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (diag[None, :] - diag[:, None]) - block / length
    cost[length <= 0] = np.inf
    return np.maximum(cost, 0.0, where=np.isfinite(cost), out=cost)  # round-off can dip below 0


def kernel_costs(features: ArrayLike, min_size: int = 2, bandwidth: float | None = None) -> NDArray[np.float64]:
    """The (T+1, T+1) segment-cost table of a video with segments shorter than ``min_size`` set to
    +inf; compute once, then search it with several penalties (:func:`penalized_from_costs`)."""
    return _allowed(segment_costs(rbf_gram(features, bandwidth)[0]), min_size)


def _allowed(costs: NDArray[np.float64], min_size: int) -> NDArray[np.float64]:
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    t = costs.shape[0] - 1
    idx = np.arange(t + 1)
    out = costs.copy()
    out[(idx[None, :] - idx[:, None]) < min_size] = np.inf
    return out


def kcpd_fixed(
    features: ArrayLike, num_changepoints: int, min_size: int = 2, bandwidth: float | None = None
) -> NDArray[np.int64]:
    """Exact best ``num_changepoints`` change points (dynamic programming on the kernel cost).

    >>> x = np.r_[np.zeros(5), np.ones(5), np.zeros(4)][:, None]
    >>> kcpd_fixed(x, 2).tolist()
    [5, 10]
    """
    return _fixed_from_costs(kernel_costs(features, min_size, bandwidth), num_changepoints)


def _fixed_from_costs(costs: NDArray[np.float64], num_changepoints: int) -> NDArray[np.int64]:
    t = costs.shape[0] - 1
    if num_changepoints < 0:
        raise ValueError(f"num_changepoints must be >= 0, got {num_changepoints}")
    best = costs[0].copy()  # best[b]: cost of [0, b) in one segment
    back = []
    for _ in range(num_changepoints):
        total = best[:, None] + costs  # (a, b): best split of [0, a) then one segment [a, b)
        arg = np.argmin(total, axis=0)
        best = total[arg, np.arange(t + 1)]
        back.append(arg)
    if not np.isfinite(best[t]):
        raise ValueError(f"{num_changepoints} change points do not fit in {t} snippets with this min_size")
    points = []
    end = t
    for arg in reversed(back):
        end = int(arg[end])
        points.append(end)
    return np.asarray(sorted(points), dtype=np.int64)


def kcpd_penalized(
    features: ArrayLike, penalty: float, min_size: int = 2, bandwidth: float | None = None
) -> NDArray[np.int64]:
    """Change points minimising total kernel cost + ``penalty`` x their number (PELT, exact).

    >>> x = np.r_[np.zeros(5), np.ones(5), np.zeros(4)][:, None]
    >>> kcpd_penalized(x, penalty=0.5).tolist(), kcpd_penalized(x, penalty=100.0).tolist()
    ([5, 10], [])
    """
    if penalty < 0:
        raise ValueError(f"penalty must be >= 0, got {penalty}")
    return penalized_from_costs(kernel_costs(features, min_size, bandwidth), penalty)


def penalized_from_costs(costs: NDArray[np.float64], penalty: float) -> NDArray[np.int64]:
    """PELT on a cost table from :func:`kernel_costs` (see :func:`kcpd_penalized`)."""
    t = costs.shape[0] - 1
    min_size = int(np.argmax(np.isfinite(costs[0])))  # shortest admissible segment
    best = np.full(t + 1, np.inf)
    best[0] = -penalty  # the first segment pays no penalty
    last = np.zeros(t + 1, dtype=np.int64)
    alive = np.array([0], dtype=np.int64)  # PELT: starts that can still be optimal
    doomed: dict[int, NDArray[np.int64]] = {}
    for b in range(1, t + 1):
        # A start ruled out by snippet s stays out once [s, b) is long enough to be a segment.
        gone = doomed.pop(b - min_size, None)
        if gone is not None:
            alive = np.setdiff1d(alive, gone, assume_unique=True)
        cand = best[alive] + costs[alive, b]
        i = int(np.argmin(cand))
        best[b] = cand[i] + penalty
        last[b] = alive[i]
        # cost(a, t) >= cost(a, b) + cost(b, t): a start worse than b now is worse for every t.
        doomed[b] = alive[np.isfinite(cand) & (cand > best[b])]
        alive = np.append(alive, b)
    if not np.isfinite(best[t]):
        raise ValueError(f"{t} snippets do not fit one segment of the minimum size")
    points = []
    end = t
    while end > 0:
        end = int(last[end])
        if end > 0:
            points.append(end)
    return np.asarray(sorted(points), dtype=np.int64)
