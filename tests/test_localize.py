"""wsal.localize: hand-made CAS / attention arrays with known segments in seconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wsal.config import LocalizeConfig
from wsal.errors import WsalError
from wsal.localize import (
    BASE_PROPOSAL_WEIGHT,
    check_config,
    find_runs,
    localize_video,
    outer_inner_scores,
)
from wsal.timeline import SnippetGrid

GRID = SnippetGrid(25.0, 16, 16)  # 0.64 s per snippet
CLASSES = ("A", "B")


def bump_video(T: int, runs: list[tuple[int, int]], level: float = 0.9, video_scores=(0.9, 0.05)):
    """CAS of class A and attention equal to ``level`` on the runs (inclusive), 0 elsewhere."""
    cas = np.zeros((T, 2))
    att = np.zeros(T)
    for first, last in runs:
        cas[first : last + 1, 0] = level
        att[first : last + 1] = 1.0
    return cas, att, np.asarray(video_scores, dtype=float)


def cfg(**kw) -> LocalizeConfig:
    return dataclasses.replace(LocalizeConfig(act_thresholds=(0.5,), signal="both", nms="hard"), **kw)


def test_single_clean_bump_gives_exactly_its_seconds():
    cas, att, vs = bump_video(20, [(5, 9)])
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg())
    assert len(segs) == 1  # CAS*attention and CAS give the same run; NMS keeps one
    seg = segs[0]
    assert seg.label == "A"
    assert seg.start_s == pytest.approx(5 * 0.64) and seg.end_s == pytest.approx(10 * 0.64)
    # inside mean 0.9, outer band mean 0, plus 0.2 * video score 0.9
    assert seg.score == pytest.approx(0.9 + 0.2 * 0.9)


def test_two_bumps_give_two_segments_best_contrast_first():
    cas, att, vs = bump_video(20, [(2, 4), (12, 15)])
    cas[12:16, 0] = 0.7  # the second bump is weaker
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg(signal="cas"))
    assert [(round(s.start_s, 4), round(s.end_s, 4)) for s in segs] == [(1.28, 3.2), (7.68, 10.24)]
    assert segs[0].score == pytest.approx(0.9 + 0.18) and segs[1].score == pytest.approx(0.7 + 0.18)


def test_extend_ratio_widens_each_run_in_proportion_to_its_length():
    cas, att, vs = bump_video(40, [(2, 3), (20, 29)])  # a run of 2 and a run of 10 snippets
    cas[20:30, 0] = 0.8
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg(signal="cas", extend_ratio=0.2))
    # round(0.2 * 2) = 0 snippets for the short run, round(0.2 * 10) = 2 each side for the long one
    spans = sorted((round(s.start_s / 0.64), round(s.end_s / 0.64)) for s in segs)
    assert spans == [(2, 4), (18, 32)]
    # at the video's ends the extension is cut: a run of 10 ending at the last snippet
    cas, att, vs = bump_video(12, [(2, 11)])
    [seg] = localize_video(cas, att, vs, GRID, CLASSES, cfg(signal="cas", extend_ratio=0.2))
    assert (round(seg.start_s / 0.64), round(seg.end_s / 0.64)) == (0, 12)
    # the extended run is scored as itself: two snippets of 0 inside each side lower its contrast
    plain = localize_video(*bump_video(40, [(20, 29)]), GRID, CLASSES, cfg(signal="cas"))[0]
    wide = localize_video(*bump_video(40, [(20, 29)]), GRID, CLASSES, cfg(signal="cas", extend_ratio=0.2))[0]
    assert wide.score == pytest.approx(plain.score - 0.9 * 4 / 14, abs=1e-9)


def test_extend_ratio_applies_to_changepoint_runs_too():
    cas, att, vs = bump_video(30, [(10, 19)])
    change = np.zeros((1, 30))
    change[0, [10, 20]] = 0.9  # segments [0, 10), [10, 20), [20, 30): the middle one is foreground
    config = cfg(boundaries="changepoint", signal="cas", cp_attention=(0.5,), extend_ratio=0.1)
    [seg] = localize_video(cas, att, vs, GRID, CLASSES, config, change_scores=change)
    assert (round(seg.start_s / 0.64), round(seg.end_s / 0.64)) == (9, 21)


def test_hard_nms_removes_duplicates_from_several_thresholds():
    cas, att, vs = bump_video(20, [(5, 9)])
    config = cfg(act_thresholds=(0.1, 0.3, 0.5, 0.7))  # 4 thresholds x 2 signals = 8 identical runs
    segs = localize_video(cas, att, vs, GRID, CLASSES, config)
    assert len(segs) == 1


def test_soft_nms_keeps_duplicates_with_decayed_scores():
    cas, att, vs = bump_video(20, [(5, 9)])
    cas[7, 0] = 0.95  # a peak: threshold 0.92 gives the one-snippet run 7..7, a weaker proposal
    config = cfg(act_thresholds=(0.5, 0.92), signal="cas", nms="soft")
    segs = localize_video(cas, att, vs, GRID, CLASSES, config)
    assert len(segs) == 2
    big, small = sorted(segs, key=lambda s: s.end_s - s.start_s, reverse=True)
    inner = (0.9 * 4 + 0.95) / 5
    assert big.score == pytest.approx(inner + 0.18)
    # the small run: inside 0.95, outer band (snippets 6 and 8) 0.9 -> raw 0.05 + 0.18; it is the
    # lowest score, so soft-NMS (which decays the height above the lowest score) leaves it there
    assert small.score == pytest.approx(0.05 + 0.18)
    assert (small.start_s, small.end_s) == pytest.approx((7 * 0.64, 8 * 0.64))


def test_cap_per_video_keeps_the_best():
    runs = [(3 * k, 3 * k + 1) for k in range(10)]
    cas, att, vs = bump_video(40, runs)
    for k, (first, last) in enumerate(runs):
        cas[first : last + 1, 0] = 0.5 + 0.04 * k  # later bumps score higher
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg(signal="cas", act_thresholds=(0.3,), max_per_video=3))
    assert len(segs) == 3
    assert [round(s.start_s / 0.64) for s in segs] == [27, 24, 21]
    assert segs[0].score >= segs[1].score >= segs[2].score


def test_the_default_cap_leaves_room_for_every_instance_of_the_most_crowded_thumos14_video(shared_data):
    """The official THUMOS-14 kit caps nothing: the default cap must exceed, with room for false
    positives, the instances of its most crowded video (218 in the test subset)."""
    from wsal.annotations import load_ground_truth

    gt = load_ground_truth(shared_data / "thumos14" / "derived" / "thumos14_official_gt.json")
    most = max(len(v.labels) for v in gt.videos.values())
    assert most > 100
    assert LocalizeConfig().max_per_video >= 4 * most


def test_class_threshold_and_top1_fallback():
    cas, att, _ = bump_video(20, [(5, 9)])
    cas[5:10, 1] = 0.8
    both = localize_video(cas, att, np.array([0.5, 0.3]), GRID, CLASSES, cfg(class_threshold=0.2))
    assert sorted({s.label for s in both}) == ["A", "B"]
    only_b = localize_video(cas, att, np.array([0.1, 0.15]), GRID, CLASSES, cfg(class_threshold=0.2))
    assert {s.label for s in only_b} == {"B"}  # no class passes: top-1 (B) is kept
    only_a = localize_video(cas, att, np.array([0.5, 0.1]), GRID, CLASSES, cfg(class_threshold=0.2))
    assert {s.label for s in only_a} == {"A"}


def test_attention_removes_background_only_in_cas_x_attention_mode():
    cas, att, vs = bump_video(20, [(5, 9)])
    cas[14:17, 0] = 0.9  # CAS fires on background that attention rejects (att = 0 there)
    fused = localize_video(cas, att, vs, GRID, CLASSES, cfg(signal="cas_x_attention"))
    cas_only = localize_video(cas, att, vs, GRID, CLASSES, cfg(signal="cas"))
    assert len(fused) == 1 and len(cas_only) == 2


def test_resampled_positions_scale_back_to_original_snippets():
    # 11 positions standing for 21 real snippets, first and last kept: position p sits at snippet 2p
    # and stands for snippet units [2p - 0.5, 2p + 1.5); positions 2..4 -> [3.5, 9.5)
    cas, att, vs = bump_video(11, [(2, 4)])
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg(), num_original_snippets=21)
    assert len(segs) == 1
    assert (segs[0].start_s, segs[0].end_s) == pytest.approx((3.5 * 0.64, 9.5 * 0.64))
    # a run over every position covers the whole original video
    cas, att, vs = bump_video(11, [(0, 10)])
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg(), num_original_snippets=21)
    assert (segs[0].start_s, segs[0].end_s) == pytest.approx((0.0, 21 * 0.64))


def test_resampling_matches_the_training_interpolation():
    # a bump on real snippets 40..59 of 200, interpolated to 50 positions like wsal.data does
    # for training, comes back within one position (4 snippets) of its true seconds
    from wsal.data import interpolate_sequence

    signal = np.zeros((200, 1))
    signal[40:60] = 1.0
    resampled = interpolate_sequence(signal, 50)[:, 0]  # (50,)
    cas = np.stack([resampled * 0.9, np.zeros(50)], axis=1)
    att = (resampled > 0.5).astype(float)
    segs = localize_video(cas, att, np.array([0.9, 0.0]), GRID, CLASSES, cfg(signal="cas", act_thresholds=(0.45,)),
                          num_original_snippets=200)
    r = 199 / 49
    assert segs[0].start_s == pytest.approx(40 * 0.64, abs=r * 0.64)
    assert segs[0].end_s == pytest.approx(60 * 0.64, abs=r * 0.64)


def test_clipped_to_known_duration():
    cas, att, vs = bump_video(10, [(7, 9)])
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg(), duration_s=6.0)
    assert (segs[0].start_s, segs[0].end_s) == pytest.approx((7 * 0.64, 6.0))


def test_overlapping_snippets_use_the_grid():
    grid = SnippetGrid(30.0, 16, 8)  # snippet i covers frames [8i, 8i + 16)
    cas, att, vs = bump_video(20, [(3, 5)])
    segs = localize_video(cas, att, vs, grid, CLASSES, cfg())
    assert (segs[0].start_s, segs[0].end_s) == pytest.approx((24 / 30, (40 + 16) / 30))


def test_no_run_above_threshold_gives_nothing():
    cas, att, vs = bump_video(20, [(5, 9)], level=0.3)
    assert localize_video(cas, att, vs, GRID, CLASSES, cfg()) == []


def test_changepoint_mode_needs_change_scores():
    cas, att, vs = bump_video(20, [(5, 9)])
    with pytest.raises(WsalError, match="changepoint.enabled"):
        localize_video(cas, att, vs, GRID, CLASSES, cfg(boundaries="changepoint"))
    with pytest.raises(WsalError, match="change scores"):
        localize_video(cas, att, vs, GRID, CLASSES, cfg(boundaries="changepoint"), change_scores=np.zeros((2, 19)))


def _two_level_video():
    """T = 10. Level 0 cuts at 3 (score 0.9), 5 (0.6, weak), 8 (0.7); level 1 only at 3 (0.9).

    Attention 0.9 on 3-4, 0.8 on 5-7, 0.1 on 8-9: level 0 selects [3, 5) and [5, 8), which merge
    across the weak cut -> snippets 3..7; level 1 has [0, 3) (mean 0) and [3, 10) (mean 4.4 / 7 =
    0.63) -> snippets 3..9. CAS of class A is 1 on 3..7, 0 elsewhere.
    """
    att = np.array([0.0, 0.0, 0.0, 0.9, 0.9, 0.8, 0.8, 0.8, 0.1, 0.1])
    cas = np.zeros((10, 2))
    cas[3:8, 0] = 1.0
    change = np.zeros((2, 10))
    change[0, [3, 5, 8]] = [0.9, 0.6, 0.7]
    change[1, 3] = 0.9
    return cas, att, np.array([0.5, 0.0]), change


def test_changepoint_mode_two_levels_by_hand():
    cas, att, vs, change = _two_level_video()
    config = cfg(
        boundaries="changepoint", signal="cas", cp_attention=(0.5,), cp_merge=0.8, nms_iou=0.9, class_threshold=0.2, outer_ratio=0.25
    )
    segs = localize_video(cas, att, vs, GRID, CLASSES, config, change_scores=change)
    # 3..7: inner 1, outer band ceil(0.25 * 5) = 2 snippets each side (1-2 and 8-9), all 0 -> 1 + 0.2 * 0.5.
    # 3..9: inner 5/7, band 1-2 on the left only (cut at the end) -> 5/7 + 0.1. tIoU 5/7 < 0.9: both kept.
    assert [(s.start_s, s.end_s, s.label) for s in segs] == [
        pytest.approx((1.92, 5.12, "A")),
        pytest.approx((1.92, 6.4, "A")),
    ]
    assert [s.score for s in segs] == pytest.approx([1.1, 5 / 7 + 0.1])
    # default NMS (tIoU 5/7 > 0.6) keeps only the better one
    segs = localize_video(cas, att, vs, GRID, CLASSES, dataclasses.replace(config, nms_iou=0.6), change_scores=change)
    assert [(s.start_s, s.end_s) for s in segs] == [pytest.approx((1.92, 5.12))]


def test_changepoint_mode_strong_cut_keeps_actions_apart():
    cas, att, vs, change = _two_level_video()
    # cp_merge 0.5: every change point is strong, so level 0 gives 3..4 and 5..7 separately
    config = cfg(boundaries="changepoint", signal="cas", cp_attention=(0.5,), cp_merge=0.5, nms_iou=0.99)
    segs = localize_video(cas, att, vs, GRID, CLASSES, config, change_scores=change)
    assert sorted((round(s.start_s, 2), round(s.end_s, 2)) for s in segs) == [(1.92, 3.2), (1.92, 6.4), (3.2, 5.12)]
    # a higher attention threshold drops the level-1 segment (mean 0.63) and the 0.8 segment
    config = dataclasses.replace(config, cp_attention=(0.85,))
    segs = localize_video(cas, att, vs, GRID, CLASSES, config, change_scores=change)
    assert [(round(s.start_s, 2), round(s.end_s, 2)) for s in segs] == [(1.92, 3.2)]


def test_changepoint_mode_merge_list_gives_split_and_merged_runs():
    cas, att, vs, change = _two_level_video()
    config = cfg(boundaries="changepoint", signal="cas", cp_attention=(0.5,), cp_merge=(0.5, 0.8), nms_iou=0.99)
    segs = localize_video(cas, att, vs, GRID, CLASSES, config, change_scores=change[:1])  # level 0 only
    # cp_merge 0.5 splits level 0 at the weak cut (3..4, 5..7); 0.8 merges them (3..7): all three pooled
    assert sorted((round(s.start_s, 2), round(s.end_s, 2)) for s in segs) == [(1.92, 3.2), (1.92, 5.12), (3.2, 5.12)]


def test_changepoint_mode_signal_selection_uses_class_signal_and_act_thresholds():
    cas, att, vs, change = _two_level_video()
    att = np.zeros(10)  # the attention selects nothing ...
    config = cfg(boundaries="changepoint", signal="cas", cp_attention=(0.5,), cp_merge=0.8, nms_iou=0.99)
    assert localize_video(cas, att, vs, GRID, CLASSES, config, change_scores=change[:1]) == []  # level 0 only
    # ... but the CAS of class A (1 on 3..7) selects level-0 segments [3, 5) and [5, 8) at 0.5, merged across the weak cut
    config = dataclasses.replace(config, cp_select="signal", act_thresholds=(0.5,))
    segs = localize_video(cas, att, vs, GRID, CLASSES, config, change_scores=change[:1])
    assert [(round(s.start_s, 2), round(s.end_s, 2), s.label) for s in segs] == [(1.92, 5.12, "A")]


def test_changepoint_mode_without_change_points_is_one_segment():
    # no change point at all: the whole video is one segment, foreground if its mean attention passes
    cas, att, vs = bump_video(8, [(0, 7)])
    segs = localize_video(cas, att, vs, GRID, CLASSES, cfg(boundaries="changepoint"), change_scores=np.zeros((3, 8)))
    assert len(segs) == 1 and (segs[0].start_s, segs[0].end_s) == pytest.approx((0.0, 5.12))


def test_base_proposals_find_an_action_the_attention_took_for_context():
    """Snippets 10-12 carry class A in the plain CAS only (the attention is 0 there, so the
    suppressed CAS and CAS x attention see nothing): found with base_proposals, at
    BASE_PROPOSAL_WEIGHT of their contrast; not found without the option or without base_probs."""
    cas, att, vs = bump_video(20, [(3, 6)])
    base = np.zeros((20, 2))
    base[3:7, 0] = 0.8
    base[10:13, 0] = 0.8
    config = cfg(signal="cas_x_attention", base_proposals=True)
    segs = localize_video(cas, att, vs, GRID, CLASSES, config, base_probs=base)
    found = {(round(s.start_s / 0.64), round(s.end_s / 0.64)): s.score for s in segs}
    assert set(found) == {(3, 7), (10, 13)}  # the base row's copy of 3-6 is dropped by hard NMS
    inside, outside = 0.8, 0.0  # the base row's run 10-12 and its outer band (2 snippets each side)
    w = config.video_score_weight
    assert found[(10, 13)] == pytest.approx(BASE_PROPOSAL_WEIGHT * (inside - outside) + w * 0.9)
    assert found[(3, 7)] == pytest.approx(0.9 + w * 0.9)  # the attention's run keeps its full score
    for off in (dataclasses.replace(config, base_proposals=False), config):
        kwargs = {"base_probs": base} if off is not config else {}
        segs = localize_video(cas, att, vs, GRID, CLASSES, off, **kwargs)
        assert [(round(s.start_s / 0.64), round(s.end_s / 0.64)) for s in segs] == [(3, 7)]
    with pytest.raises(WsalError, match="base probs"):
        localize_video(cas, att, vs, GRID, CLASSES, config, base_probs=base[:-1])


def test_video_score_weight_ranks_classes_by_their_video_scores():
    """A proposal's score is its contrast plus video_score_weight x its class's video score: at
    0 a sharp segment of a class the video barely holds outranks a blurrier one of its main
    class; at the default 0.2 the video scores decide."""
    cas = np.zeros((20, 2))
    att = np.ones(20)
    cas[2:6, 0] = 0.6  # class A: contrast 0.6, video score 0.9
    cas[12:16, 1] = 0.7  # class B: contrast 0.7, video score 0.3
    vs = np.array([0.9, 0.3])
    config = cfg(signal="cas_x_attention", act_thresholds=(0.5,), class_threshold=0.1)
    for w, first in ((0.0, "B"), (0.2, "A"), (1.0, "A")):
        segs = localize_video(cas, att, vs, GRID, CLASSES, dataclasses.replace(config, video_score_weight=w))
        assert [s.label for s in segs] == [first, "A" if first == "B" else "B"]
        assert {s.label: s.score for s in segs} == pytest.approx({"A": 0.6 + w * 0.9, "B": 0.7 + w * 0.3})


def test_shape_mismatch_is_an_error():
    cas, att, vs = bump_video(20, [(5, 9)])
    with pytest.raises(WsalError, match="shapes"):
        localize_video(cas, att[:-1], vs, GRID, CLASSES, cfg())
    with pytest.raises(WsalError, match="class names"):
        localize_video(cas, att, vs, GRID, ("A",), cfg())


def test_check_config_rejects_nonsense():
    check_config(LocalizeConfig())
    with pytest.raises(WsalError, match="nms_iou"):
        check_config(LocalizeConfig(nms_iou=1.5))
    with pytest.raises(WsalError, match="act_thresholds"):
        check_config(LocalizeConfig(act_thresholds=()))
    check_config(LocalizeConfig(cp_merge=(0.6, 1.0)))
    for field, bad in (("class_threshold", float("nan")), ("act_thresholds", (0.1, float("nan"))),
                       ("outer_ratio", float("inf")), ("extend_ratio", -0.1), ("extend_ratio", float("nan")),
                       ("video_score_weight", -0.2), ("video_score_weight", float("nan"))):  # fmt: skip
        with pytest.raises(WsalError, match=f"localize.{field} must be"):
            check_config(LocalizeConfig(**{field: bad}))
    for bad in (1.2, (0.8, -0.1), ()):
        with pytest.raises(WsalError, match="cp_merge"):
            check_config(LocalizeConfig(cp_merge=bad))


# --------------------------------------------------------------------------- cross-checks


def test_find_runs_matches_a_plain_loop(rng):
    for _ in range(20):
        mask = rng.random(int(rng.integers(1, 30))) > 0.5
        runs, start = [], None
        for i, m in enumerate(mask):
            if m and start is None:
                start = i
            if not m and start is not None:
                runs.append((start, i - 1))
                start = None
        if start is not None:
            runs.append((start, len(mask) - 1))
        first, last = find_runs(mask)
        assert list(zip(first.tolist(), last.tolist())) == runs


def test_outer_inner_matches_a_plain_loop(rng):
    signal = rng.random(30)
    first = np.array([0, 3, 10, 25, 0])
    last = np.array([2, 9, 10, 29, 29])
    got = outer_inner_scores(signal, first, last, 0.25)
    for k, (f, l) in enumerate(zip(first, last)):
        w = max(1, int(np.ceil(0.25 * (l - f + 1))))
        outer = list(signal[max(0, f - w) : f]) + list(signal[l + 1 : min(30, l + 1 + w)])
        expected = signal[f : l + 1].mean() - (np.mean(outer) if outer else 0.0)
        assert got[k] == pytest.approx(expected)
