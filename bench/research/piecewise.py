"""Synthetic piecewise-constant feature sequences with planted change points at two scales.

For tests and benches of change-point detectors. A sequence is cut into *units* (new mean in every
dimension: a major change) and each unit into one or more *phases* (a smaller shift in a random
half of the dimensions: a minor change); Gaussian noise is added to every snippet. A change point
``t`` means snippet ``t`` is the first of a new piece (the convention of wsal.eval.changepoints).

What this module does not do: imitate real video features or THUMOS timing (that is
wsal.synthetic); it is a controlled signal with known boundaries, nothing more.

>>> seq = piecewise_sequence(np.random.default_rng(0), num_snippets=100, feature_dim=4)
>>> seq.features.shape, bool(set(seq.major_points) <= set(seq.all_points))
((100, 4), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class PiecewiseSequence:
    """One synthetic sequence: features and the planted change points (snippet indices, sorted)."""

    features: NDArray[np.float32]  # (T, D)
    major_points: NDArray[np.int64]  # starts of units (every dimension changes)
    all_points: NDArray[np.int64]  # starts of units and of phases inside units


def piecewise_sequence(
    rng: np.random.Generator,
    num_snippets: int = 200,
    feature_dim: int = 32,
    unit_len: tuple[int, int] = (30, 70),
    phases_per_unit: tuple[int, int] = (1, 3),
    min_phase_len: int = 8,
    major_scale: float = 1.0,
    minor_scale: float = 0.6,
    noise: float = 0.3,
) -> PiecewiseSequence:
    """Draw one sequence; lengths in snippets, ranges inclusive; means ~ N(0, scale^2) per dimension."""
    features = np.empty((num_snippets, feature_dim), dtype=np.float32)
    major, every = [], []
    start = 0
    while start < num_snippets:
        unit_end = min(num_snippets, start + int(rng.integers(unit_len[0], unit_len[1] + 1)))
        if start > 0:
            major.append(start)
            every.append(start)
        mean = rng.normal(0.0, major_scale, feature_dim)
        n_phases = int(rng.integers(phases_per_unit[0], phases_per_unit[1] + 1))
        length = unit_end - start
        n_phases = max(1, min(n_phases, length // min_phase_len))
        # Phase starts: sorted distinct offsets keeping every phase >= min_phase_len snippets long.
        slack = length - n_phases * min_phase_len
        offsets = np.sort(rng.integers(0, slack + 1, n_phases - 1)) + min_phase_len * np.arange(1, n_phases)
        bounds = [start, *(start + offsets).tolist(), unit_end]
        for i in range(n_phases):
            if i > 0:
                every.append(bounds[i])
                shifted = rng.random(feature_dim) < 0.5
                mean = mean + shifted * rng.normal(0.0, minor_scale, feature_dim)
            features[bounds[i] : bounds[i + 1]] = mean
        start = unit_end
    features += rng.normal(0.0, noise, features.shape).astype(np.float32)
    return PiecewiseSequence(features, np.asarray(major, dtype=np.int64), np.asarray(every, dtype=np.int64))
