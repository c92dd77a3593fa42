"""The hard benchmark's reporting helpers (bench/hard_benchmark.py): convergence and paired leads."""

import doctest
from types import SimpleNamespace

import numpy as np
import pytest

import hard_benchmark
from hard_benchmark import format_leads, steps_to_fraction
from research.multiseed import SeedResult
from wsal.config import LocalizeConfig


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


@pytest.mark.parametrize("has_base", [False, True])
def test_setting_choice_tries_both_nms_with_every_extension(monkeypatch, tmp_path, has_base):
    """The grid's best point first; then extension x NMS at its thresholds, where a soft-NMS that
    only wins with an extension is found, and a tie keeps the earlier setting; plain-CAS
    proposals are tried (and win here) only where the raw files hold a plain CAS; last the video
    score's weight, where a tie keeps the default."""
    class FakeScorer:
        def __init__(self, raw, gt, seed, method, tiou):
            self.seed, self.method, self.tiou = seed, method, tiou
            self.videos = [SimpleNamespace(base_probs=np.zeros((3, 2)) if has_base else None)]

        def __call__(self, overrides):
            return fake_score(overrides, self.seed, self.method, self.tiou)

    def fake_score(overrides, seed, method, tiou):
        o = set(overrides)
        value = 0.5 if "localize.signal=cas" in o and "localize.class_threshold=0.05" in o else 0.1
        if "localize.act_thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]" not in o:
            value -= 0.05
        if "localize.extend_ratio=0.3" in o:
            value += 0.1 if "localize.nms=soft" in o else 0.05
        if "localize.extend_ratio=0.5" in o:
            value += 0.1 if "localize.nms=soft" in o else 0.0  # ties with 0.3 + soft: the smaller ratio stays
        if "localize.base_proposals=true" in o:
            assert has_base, "plain-CAS proposals scored for raw files without a plain CAS"
            value += 0.02 if "localize.extend_ratio=0.3" in o else 0.0
        if "localize.video_score_weight=0.0" in o and has_base:
            value += 0.01  # without a plain CAS, every weight ties and the default stays
        return SeedResult(seed, method, tuple(tiou), np.array([value]), value, 1)

    class FakeGT:
        def subset(self, name):
            return self

    monkeypatch.setattr(hard_benchmark, "RawScorer", FakeScorer)
    monkeypatch.setattr(hard_benchmark, "load_ground_truth", lambda path: FakeGT())
    runs = [hard_benchmark.MethodRun("wsal", s, tmp_path, tmp_path / "gt.json", 1.0, 800, hard_benchmark.Optim(1e-4)) for s in (0, 1)]
    overrides, score = hard_benchmark.choose_setting(runs, (0.5,))
    assert overrides == [
        *hard_benchmark.FIXED_LOCALIZE, "localize.signal=cas", "localize.act_thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]",
        "localize.class_threshold=0.05", f"localize.base_proposals={str(has_base).lower()}", "localize.nms=soft",
        "localize.extend_ratio=0.3", f"localize.video_score_weight={0.0 if has_base else 0.2}",
    ]
    assert score == pytest.approx(0.63 if has_base else 0.6)
    assert hard_benchmark.VIDEO_SCORE_WEIGHTS[0] == LocalizeConfig().video_score_weight  # a tie keeps the default


def test_every_setting_is_scored_at_todays_segment_cap():
    """A reused run saved the cap of the wsal that trained it; the benchmark scores at today's."""
    assert hard_benchmark.FIXED_LOCALIZE == (f"localize.max_per_video={LocalizeConfig().max_per_video}",)
    assert all(point[0] == hard_benchmark.FIXED_LOCALIZE[0] for point in hard_benchmark.localize_grid())


def test_later_stages_can_lift_a_grid_point_that_was_not_the_best(monkeypatch, tmp_path):
    """Plain-CAS proposals help the grid's second point more than its first: the choice ends at
    the second point with them, which a search from the grid's best point alone would miss."""
    class FakeScorer:
        def __init__(self, raw, gt, seed, method, tiou):
            self.seed, self.method, self.tiou = seed, method, tiou
            self.videos = [SimpleNamespace(base_probs=np.zeros((3, 2)))]

        def __call__(self, overrides):
            o = set(overrides)
            value = 0.1
            if "localize.act_thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]" in o and "localize.class_threshold=0.05" in o:
                value = {"localize.signal=both": 0.50, "localize.signal=cas_x_attention": 0.49}.get(
                    next(x for x in o if x.startswith("localize.signal=")), 0.1)
                if "localize.base_proposals=true" in o and "localize.signal=cas_x_attention" in o:
                    value += 0.05
            return SeedResult(self.seed, self.method, tuple(self.tiou), np.array([value]), value, 1)

    class FakeGT:
        def subset(self, name):
            return self

    monkeypatch.setattr(hard_benchmark, "RawScorer", FakeScorer)
    monkeypatch.setattr(hard_benchmark, "load_ground_truth", lambda path: FakeGT())
    runs = [hard_benchmark.MethodRun("wsal", 0, tmp_path, tmp_path / "gt.json", 1.0, 800, hard_benchmark.Optim(1e-4))]
    overrides, score = hard_benchmark.choose_setting(runs, (0.5,))
    assert "localize.signal=cas_x_attention" in overrides and "localize.base_proposals=true" in overrides
    assert score == pytest.approx(0.54)
    assert hard_benchmark.GRID_BEAM >= 2
