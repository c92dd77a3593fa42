"""The hard benchmark's reporting helpers (bench/hard_benchmark.py): convergence and paired leads."""

import doctest

import numpy as np

import hard_benchmark
from hard_benchmark import format_leads, steps_to_fraction
from research.multiseed import SeedResult


def test_doctests():
    result = doctest.testmod(hard_benchmark)
    assert result.attempted >= 2 and result.failed == 0


def _result(seed: int, method: str, maps: list[float]) -> SeedResult:
    return SeedResult(seed, method, (0.3, 0.5), np.array(maps), float(np.mean(maps)), 10)


def test_leads_are_paired_by_seed_and_show_the_smallest():
    """A lead that flips sign on one seed shows a negative smallest value, whatever the means."""
    results = [
        _result(0, "wsal", [0.70, 0.50]), _result(1, "wsal", [0.60, 0.40]), _result(2, "wsal", [0.80, 0.60]),
        _result(0, "basnet", [0.50, 0.45]), _result(1, "basnet", [0.65, 0.30]), _result(2, "basnet", [0.60, 0.50]),
        _result(2, "cola", [0.10, 0.10]),  # one seed only: paired with wsal's seed 2
    ]
    lines = format_leads(results, "wsal").splitlines()
    assert lines[0] == "| wsal minus (seeds) | 0.3 | 0.5 | avg |"
    assert lines[2] == "| basnet (0, 1, 2) | 11.7 ± 14.4 (-5.0) | 8.3 ± 2.9 (5.0) | 10.0 ± 6.6 (2.5) |"
    assert lines[3] == "| cola (2) | 70.0 ± 0.0 (70.0) | 50.0 ± 0.0 (50.0) | 60.0 ± 0.0 (60.0) |"


def test_convergence_is_the_first_checkpoint_at_95_percent_of_the_final_score():
    assert steps_to_fraction([(100, 0.5), (200, 0.96), (300, 1.0)]) == 200
