"""Change-point metrics: hand-checked matching, precision/recall/F1, rates and the coverage bound."""

import itertools

import numpy as np
import pytest

from wsal.eval.changepoints import (
    BoundaryCounts,
    best_cover_tiou,
    boundary_counts,
    boundary_counts_at,
    changepoints_per_minute,
    coverage,
    gt_boundaries,
    match_boundaries,
    points_from_mask,
)


def test_perfect_and_empty():
    c = boundary_counts([5, 9], [5.0, 9.0], margin=1)
    assert (c.precision, c.recall, c.f1) == (1.0, 1.0, 1.0)
    none = boundary_counts([], [5.0], margin=1)
    assert (none.precision, none.recall, none.f1) == (1.0, 0.0, 0.0)
    no_gt = boundary_counts([5], [], margin=1)
    assert (no_gt.precision, no_gt.recall, no_gt.f1) == (0.0, 1.0, 0.0)
    both = boundary_counts([], [], margin=1)
    assert (both.precision, both.recall, both.f1) == (1.0, 1.0, 1.0)


def test_one_to_one():
    # Three predictions crowd one boundary: only one may match it.
    c = boundary_counts([9, 10, 11], [10.0], margin=1)
    assert (c.num_matched, c.precision, c.recall) == (1, pytest.approx(1 / 3), 1.0)
    assert c.f1 == pytest.approx(0.5)
    # Two ground-truth boundaries next to one prediction: one match.
    assert boundary_counts([10], [9.0, 11.0], margin=1).num_matched == 1


def test_optimal_not_greedy():
    # pred 6 is equally close to gt 5 and 7; a greedy pass taking 6->5 leaves 4 unmatched.
    assert match_boundaries([6, 4], [5, 7], margin=1).tolist() == [[0, 1], [1, 0]]
    # With equal counts the smaller total distance wins: 10->10, 11->11 (0), not crossed (2).
    assert match_boundaries([10, 11], [10.0, 11.0], margin=1).tolist() == [[0, 0], [1, 1]]


def test_matches_brute_force(rng):
    for _ in range(30):
        pred = rng.integers(0, 20, rng.integers(0, 6))
        gt = rng.integers(0, 20, rng.integers(0, 6)).astype(float)
        best = 0
        for k in range(min(len(pred), len(gt)), 0, -1):
            if any(
                all(abs(pred[i] - gt[j]) <= 2 for i, j in zip(ps, gs))
                for ps in itertools.combinations(range(len(pred)), k)
                for gs in itertools.permutations(range(len(gt)), k)
            ):
                best = k
                break
        assert len(match_boundaries(pred, gt, 2)) == best


def test_margins():
    # Distances 0.5, 1.5, 3.5 -> 1, 2, 3 matches at margins 1, 2, 4.
    got = boundary_counts_at([10, 20, 30], [10.5, 21.5, 33.5])
    assert {m: c.num_matched for m, c in got.items()} == {1: 1, 2: 2, 4: 3}


def test_micro_average():
    total = BoundaryCounts(2, 4, 1) + BoundaryCounts(3, 1, 1)
    assert (total.num_pred, total.num_gt, total.num_matched) == (5, 5, 2)
    assert total.precision == pytest.approx(0.4) and total.recall == pytest.approx(0.4)


def test_gt_boundaries():
    # Two instances sharing a boundary, one starting at the video start, one ending at the end.
    got = gt_boundaries([[0.0, 5.0], [5.0, 8.0], [12.0, 20.0]], num_snippets=20)
    assert got.tolist() == [5.0, 8.0, 12.0]


def test_rates_and_masks():
    mask = np.zeros((2, 100), dtype=bool)
    mask[0, [10, 20, 30]] = True
    mask[1, 20] = True
    assert changepoints_per_minute(mask, duration_s=90.0).tolist() == [2.0, pytest.approx(2 / 3)]
    assert [p.tolist() for p in points_from_mask(mask)] == [[10, 20, 30], [20]]
    with pytest.raises(ValueError):
        changepoints_per_minute(mask, duration_s=0.0)


def test_cover_by_hand():
    # Candidates 0, 10, 20, 30, 50. [10, 20) exactly; [12, 28) best by [10, 30): 16/20 = 0.8;
    # [22, 45) best by [20, 50): 23/30; [31, 34) best by [30, 50): 3/20 = 0.15 (no tighter pair).
    best = best_cover_tiou([10, 20, 30], 50, [[10, 20], [12, 28], [22, 45], [31, 34]])
    assert best.tolist() == pytest.approx([1.0, 0.8, 23 / 30, 0.15])
    assert coverage(best, (0.5, 0.7)) == {0.5: 0.75, 0.7: 0.75}
    assert coverage(best, (0.8,)) == {0.8: 0.5}


def test_cover_uses_non_adjacent_pairs_and_video_ends():
    # The instance spans two detected pieces; no detection at all still allows [0, T).
    assert best_cover_tiou([10, 20, 30], 40, [[10, 30]]).tolist() == [1.0]
    assert best_cover_tiou([], 40, [[0, 40], [0, 20]]).tolist() == [1.0, 0.5]


def test_cover_matches_brute_force(rng):
    for _ in range(50):
        t = 30
        points = np.unique(rng.integers(1, t, rng.integers(0, 8)))
        seg = np.sort(rng.uniform(0, t, (3, 2)), axis=1)
        cand = np.unique(np.r_[0, points, t]).astype(float)
        for (s, e), got in zip(seg, best_cover_tiou(points, t, seg)):
            brute = max(
                max(0.0, min(b, e) - max(a, s)) / (max(b, e) - min(a, s))
                for a, b in itertools.combinations(cand, 2)
            )
            assert got == pytest.approx(brute)


def test_coverage_empty():
    assert np.isnan(coverage([], (0.5,))[0.5])
