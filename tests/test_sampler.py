"""Tests of the coarse-to-fine sampler: coarse pass on generated videos, policy, report metrics, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsal.cli import main
from research.synthetic_video import (
    EXAMPLE_BURSTS,
    motion_snippets,
    write_burst_video,
    write_example_burst_videos,
    write_small_actor_video,
)
from wsal.features.decode import DecodeConfig, DecodeError, decode_video
from wsal.features.sampler import (
    FieldMaskedFlow,
    SamplerConfig,
    coarse_signals,
    fill_skipped,
    flow_fields_needed,
    max_kept,
    plan_video,
    select_snippets,
    spread,
    top_cells_mean,
)
from wsal.features.sampler_metrics import SamplerTotals, boundary_kept, video_totals
from wsal.features.snippets import SnippetAssembler, num_snippets
from wsal.features.store import StoreMeta, StoreWriter
from wsal.timeline import SnippetGrid

GRID = SnippetGrid(25.0, 16, 16)

VIDEOS = EXAMPLE_BURSTS  # two 96x96 videos at 25 fps, a disc moving in bursts: name -> (frames, bursts)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return write_example_burst_videos(tmp_path_factory.mktemp("sampler_videos"))


# ---- coarse pass on generated videos ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_motion_snippets_kept_at_half_budget(videos, name):
    frames, bursts = VIDEOS[name]
    plan = plan_video(videos[name], GRID, SamplerConfig(budget=0.5))
    starts = np.arange(plan.num_snippets) * GRID.stride_frames
    moving = motion_snippets(bursts, starts, GRID.clip_len_frames)
    assert plan.kept.mean() <= 0.5
    assert (plan.kept & moving).sum() >= 0.98 * moving.sum()
    # The signal itself separates the two: every motion-free snippet scores below every snippet
    # that moves for at least half of its frames.
    inside = np.array([sum(max(0, min(e, s + 16) - max(b, s)) for b, e in bursts) for s in starts])
    assert plan.signals.motion[~moving].max() < plan.signals.motion[inside >= 8].min()


SMALL_MOVES = [(64, 112), (272, 320), (480, 528)]  # frames: the actor crosses the frame in snippets 4-6, 17-19, 30-32
SMALL_FADES = [(160, 224), (368, 432), (560, 624)]  # frames: lighting fades, nothing moves, in snippets 10-13, 23-26, 35-38


@pytest.mark.parametrize("seed", [0, 1])
def test_a_small_mover_outranks_still_snippets_whose_lighting_changes(tmp_path, seed):
    """A 40x40 px actor on a 320x240 frame (1/48 of it) moving is kept over still snippets with a fade.

    Averaged over all pixels its motion energy scored under a fifth of the fades' appearance term
    and all 9 motion snippets were skipped at budget 0.5 (both seeds); over the cells that change
    most it scores above the fades.
    """
    path = tmp_path / "small_actor.mp4"
    write_small_actor_video(path, 640, SMALL_MOVES, SMALL_FADES, size=(320, 240), side=40, seed=seed, noise_std=2.0)
    plan = plan_video(path, GRID, SamplerConfig(budget=0.5))
    starts = np.arange(plan.num_snippets) * GRID.stride_frames
    moving = motion_snippets(SMALL_MOVES, starts, GRID.clip_len_frames)
    fading = motion_snippets(SMALL_FADES, starts, GRID.clip_len_frames)
    assert plan.num_snippets == 40 and moving.sum() == 9 and fading.sum() == 12
    assert plan.signals.appearance[fading].min() > 0.05  # the fades do change the colours
    assert plan.signals.motion[fading].max() == 0.0  # slowly: under the noise floor from one sample to the next
    assert plan.kept.sum() <= max_kept(40, 0.5)
    assert plan.kept[moving].all()


def test_top_cells_mean_by_hand():
    values = np.zeros((5, 7))  # cells of 2 px: 3 rows (2, 2, 1 px) x 4 columns (2, 2, 2, 1 px)
    values[4, 6] = 1.0  # the 1-pixel corner cell
    values[0, 0] = 2.0
    assert top_cells_mean(values, 2, 1 / 12) == 1.0  # one cell: the corner, mean 1
    assert top_cells_mean(values, 2, 2 / 12) == pytest.approx(3.0 / 5)  # corner + top-left cell: 3 over 1 + 4 pixels
    assert top_cells_mean(values, 2, 1.0) == pytest.approx(3.0 / 35)  # the mean over all pixels
    assert top_cells_mean(values, 2, 0.01) == 1.0  # at least one cell
    with pytest.raises(ValueError, match="motion_top_share"):
        SamplerConfig(motion_top_share=0.0)


def test_plan_has_the_extractors_frame_and_snippet_counts(videos, tmp_path):
    for path in videos.values():
        _, result = decode_video(path, DecodeConfig(resize_short=0, crop=0))
        signals = coarse_signals(path, GRID)
        assert signals.num_frames == result.num_frames
        assert len(signals.motion) == num_snippets(result.num_frames, GRID)
    # A 30 fps source resampled to 25 fps (frames dropped by timestamps), with a partial tail.
    path = tmp_path / "thirty.mp4"
    write_burst_video(path, 100, [(20, 60)], fps=30.0, size=(64, 48))
    _, result = decode_video(path, DecodeConfig(resize_short=0, crop=0))
    signals = coarse_signals(path, GRID)
    assert signals.num_frames == result.num_frames == 84  # ceil(100 / 30 * 25)
    assert len(signals.motion) == num_snippets(84, GRID) == 5  # 5 full; the 4-frame tail is dropped
    assert signals.sampled_frames == 42  # every 2nd of 84


def test_plan_is_deterministic(videos):
    path = videos["four_bursts"]
    first, second = plan_video(path, GRID), plan_video(path, GRID)
    np.testing.assert_array_equal(first.scores, second.scores)
    np.testing.assert_array_equal(first.kept, second.kept)
    np.testing.assert_array_equal(first.cuts, second.cuts)


def test_scene_cuts_are_found_and_kept(tmp_path):
    path = tmp_path / "cuts.mp4"
    write_burst_video(path, 500, [(100, 180)], size=(96, 96), seed=0, cuts=[250, 410])
    plan = plan_video(path, GRID, SamplerConfig(budget=0.5))
    # Frame 250 is in snippet 15 (frames 240..255), as is the sampled frame before it (248);
    # frame 410 in snippet 25, the frame before it (408) too.
    assert np.flatnonzero(plan.cuts).tolist() == [15, 25]
    assert plan.kept[15] and plan.kept[25]


def test_unreadable_files_raise_decode_error(tmp_path):
    with pytest.raises(DecodeError, match="not found"):
        coarse_signals(tmp_path / "missing.mp4", GRID)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    with pytest.raises(DecodeError, match="junk.mp4"):
        coarse_signals(junk, GRID)


def test_frame_step_larger_than_half_a_snippet_is_refused(videos):
    with pytest.raises(ValueError, match="frame_step"):
        coarse_signals(videos["three_bursts"], GRID, SamplerConfig(frame_step=9))


# ---- policy, by hand ----------------------------------------------------------------------------


def _ints(mask):
    return mask.astype(int).tolist()


def test_budget_count_and_spread():
    assert [max_kept(t, 0.5) for t in (0, 1, 2, 3, 10, 11)] == [0, 1, 1, 1, 5, 5]
    assert max_kept(10, 0.3) == 3  # floor(3.0000000000000004) is 3, not 2 or 4
    assert spread(0, 10, 2) == [2, 6]  # unpicked stretches 2, 3, 3
    assert spread(3, 4, 4) == [3, 4, 5, 6]


def test_neighbours_come_with_their_seed():
    scores = np.array([0, 0, 9, 0, 0, 0, 0, 8, 0, 0.0])
    # Budget 6 of 10, d = 1: units 1..3 and 6..8, no coverage guard.
    assert _ints(select_snippets(scores, None, 0.6, neighbours=1, coverage_snippets=0)) == [0, 1, 1, 1, 0, 0, 1, 1, 1, 0]
    # Budget 5: the second unit (3 more) does not fit; the next units overlapping the first add 1
    # (0..2 adds 0, then 2..4 adds 4), ties broken by index.
    assert _ints(select_snippets(scores, None, 0.5, neighbours=1, coverage_snippets=0)) == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]


def test_a_unit_that_does_not_fit_is_skipped_for_a_smaller_one():
    scores = np.array([8, 0, 0, 6, 5, 9, 4, 7, 0, 0.0])
    # 5 -> {4,5,6}; 0 -> {0,1} would make 5 > 4; 7 -> adds 7,8: no; 3 -> adds 2,3: no;
    # 4 -> adds 3: yes (4); nothing else fits.
    assert _ints(select_snippets(scores, None, 0.4, neighbours=1, coverage_snippets=0)) == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]


def test_coverage_is_reserved_and_spread():
    scores = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 5.0])
    # K = 4, budget 5, d = 0. Seeds 9, 0, 1, 2 fit with the reserve (gap 3..8 needs 1 pick);
    # 3 and 4 would not; 5 splits the gap into 3..4 and 6..8 and needs no pick: it fits.
    assert _ints(select_snippets(scores, None, 0.5, neighbours=0, coverage_snippets=4)) == [1, 1, 1, 0, 0, 1, 0, 0, 0, 1]
    # Budget 3: seed 9 (+ 2 reserved for gap 0..8: 3); seed 0 leaves gap 1..8 (2 picks): 4, no;
    # seed 1 leaves 0..0 and 2..8 (1 pick): 3, yes; 2, 3, 4 do not fit; 5 leaves 2..4 and 6..8: 3, yes.
    assert _ints(select_snippets(scores, None, 0.3, neighbours=0, coverage_snippets=4)) == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    # Without seeds (budget 3, K = 4, d = 0 on a 9-snippet video): the reserve of 2 is spread.
    assert _ints(select_snippets(np.zeros(9), None, 0.34, neighbours=3, coverage_snippets=4)) == [0, 0, 1, 0, 0, 1, 0, 0, 0]


def test_budget_below_coverage_spreads_evenly():
    scores = np.arange(20, dtype=float)
    kept = select_snippets(scores, None, 0.2, neighbours=1, coverage_snippets=4)  # needs 5 > 4
    assert np.flatnonzero(kept).tolist() == [3, 7, 11, 15]


def test_cuts_come_before_scores_and_yield_to_the_budget():
    scores = np.arange(10, dtype=float)
    cuts = np.zeros(10, bool)
    cuts[0] = True
    assert np.flatnonzero(select_snippets(scores, cuts, 0.2, 0, 0)).tolist() == [0, 9]
    assert np.flatnonzero(select_snippets(scores, None, 0.2, 0, 0)).tolist() == [8, 9]
    many = np.array([0, 3, 1, 2, 0, 0, 0, 0, 0, 0.0])
    cuts = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    assert np.flatnonzero(select_snippets(many, cuts, 0.2, 0, 0)).tolist() == [1, 3]  # the two best cuts


def test_at_least_one_snippet_is_kept():
    assert _ints(select_snippets(np.array([0.3]), None, 0.5, 1, 10)) == [1]
    # n_max = 1 but every unit with d = 1 has 2 or 3 snippets: the top score is kept alone.
    assert _ints(select_snippets(np.array([1, 5, 2.0]), None, 0.5, 1, 10)) == [0, 1, 0]
    assert select_snippets(np.zeros(0), None, 0.5).shape == (0,)


def test_ties_are_broken_by_index():
    assert _ints(select_snippets(np.zeros(10), None, 0.5, 0, 0)) == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]


def test_policy_invariants_on_random_scores():
    rng = np.random.default_rng(0)
    for _ in range(300):
        num = int(rng.integers(1, 200))
        budget = float(rng.uniform(0.05, 1.0))
        neighbours, coverage = int(rng.integers(0, 4)), int(rng.integers(0, 15))
        scores = np.round(rng.random(num), 1)  # many ties
        cuts = rng.random(num) < 0.05
        kept = select_snippets(scores, cuts, budget, neighbours, coverage)
        limit = max_kept(num, budget)
        assert kept.sum() <= limit
        if coverage and num // coverage < limit:  # the budget leaves room for coverage: it holds
            runs = np.diff(np.flatnonzero(np.concatenate([[True], kept, [True]]))) - 1
            assert runs.max() < coverage
        np.testing.assert_array_equal(kept, select_snippets(scores, cuts, budget, neighbours, coverage))


def test_policy_rejects_bad_input():
    with pytest.raises(ValueError):
        select_snippets(np.zeros(3), np.zeros(4, bool), 0.5)
    with pytest.raises(ValueError):
        select_snippets(np.zeros(3), None, 0.0)
    with pytest.raises(ValueError):
        SamplerConfig(budget=1.5)


# ---- stand-ins and flow restriction -------------------------------------------------------------


def test_fill_skipped_copies_the_nearest_kept_row():
    features = np.arange(12, dtype=np.float32).reshape(6, 2)
    kept = np.array([0, 0, 1, 0, 0, 1], bool)
    np.testing.assert_array_equal(fill_skipped(features, kept)[:, 0], [4, 4, 4, 4, 10, 10])
    tie = fill_skipped(features[:3], np.array([1, 0, 1], bool))  # row 1 is as near to 0 as to 2
    np.testing.assert_array_equal(tie[:, 0], [0, 0, 4])
    with pytest.raises(ValueError):
        fill_skipped(features, np.zeros(6, bool))


def test_flow_fields_needed_by_kept_snippets():
    grid = SnippetGrid(25, 4, 4)
    # 14 frames -> 13 fields 0..12; snippet 3 (frames 12..15) uses fields 12, 12, 12, 12 (past the end).
    fields = flow_fields_needed(np.array([True, False, False, True]), grid, 14)
    assert np.flatnonzero(fields).tolist() == [0, 1, 2, 3, 12]


def _fake_flow(frames):  # (m, H, W, 3) -> (m - 1, H, W, 2): differences of two channels, exact
    return frames[1:, ..., :2].astype(np.float32) - frames[:-1, ..., :2].astype(np.float32)


@pytest.mark.parametrize("chunk", [1, 7, 16, 100])
def test_masked_flow_matches_full_flow_on_kept_snippets(chunk):
    grid = SnippetGrid(25, 4, 4)
    rng = np.random.default_rng(chunk)
    frames = rng.integers(0, 255, size=(30, 3, 3, 3), dtype=np.uint8)  # 30 frames -> 7 full snippets + tail
    kept = np.array([1, 0, 0, 1, 1, 0, 0, 1], bool)  # snippet 7: frames 28, 29 (+ padding)

    def run(flow_fn):
        assembler = SnippetAssembler(grid, flow_fn)
        batches = [assembler.push(frames[i : i + chunk]) for i in range(0, len(frames), chunk)] + [assembler.finish()]
        return np.concatenate([b.flow for b in batches if b is not None])  # (T, 4, H, W, 2)

    full = run(_fake_flow)
    masked_fn = FieldMaskedFlow(_fake_flow, flow_fields_needed(kept, grid, len(frames)))
    masked = run(masked_fn)
    assert len(full) == len(masked) == len(kept) == num_snippets(30, grid)
    np.testing.assert_array_equal(masked[kept], full[kept])
    assert full[~kept].any() and not masked[~kept].any()  # skipped snippets: all-zero flow
    assert masked_fn.computed == 4 * 3 + 1  # snippets 0, 3, 4: 4 fields each; snippet 7: fields 28 (last)


# ---- report metrics, by hand --------------------------------------------------------------------


def test_video_totals_by_hand():
    grid = SnippetGrid(25, 16, 16)  # 0.64 s snippets
    kept = np.array([0, 1, 1, 0, 0, 1, 0, 0], bool)  # kept time [0.64, 1.92) and [3.2, 3.84)
    segments = np.array([[0.0, 1.28], [3.0, 3.5], [4.0, 5.0]])
    t = video_totals(kept, segments, grid)
    assert t.action_s == pytest.approx(1.28 + 0.5 + 1.0)
    assert t.kept_action_s == pytest.approx(0.64 + 0.3 + 0.0)
    # instance 1: 0.64 of 1.28 kept (50 %: kept); 2: 0.3 of 0.5 (kept); 3: none.
    assert (t.instances, t.kept_instances) == (3, 2)
    # boundaries: 0.0 (snippet 0, neighbour 1 kept) yes; 1.28 (snippet 2) yes; 3.0 (snippet 4,
    # neighbour 5) yes; 3.5 (snippet 5) yes; 4.0 (snippet 6, neighbour 5) yes; 5.0 (snippet 7) no.
    assert (t.boundaries, t.kept_boundaries) == (6, 5)
    assert (t.snippets, t.kept_snippets) == (8, 3)
    assert t.skipped_share == pytest.approx(5 / 8)
    assert video_totals(kept, segments, grid, instance_fraction=0.6).kept_instances == 1


def test_overlapping_ground_truth_is_counted_once_and_tail_time_is_not_kept():
    grid = SnippetGrid(25, 16, 16)
    kept = np.ones(2, bool)  # the grid ends at 1.28 s
    segments = np.array([[0.0, 1.0], [0.5, 2.0]])
    t = video_totals(kept, segments, grid)
    assert t.action_s == pytest.approx(2.0)
    assert t.kept_action_s == pytest.approx(1.28)
    assert t.kept_instances == 2  # the second: 0.78 of its 1.5 s kept (52 %)
    assert video_totals(kept, segments, grid, instance_fraction=0.6).kept_instances == 1
    assert boundary_kept(np.array([2.0, 1.9]), kept, grid).tolist() == [False, True]


def test_totals_pool_over_videos():
    a = SamplerTotals(action_s=10, kept_action_s=9, instances=2, kept_instances=2, snippets=10, kept_snippets=5)
    b = SamplerTotals(action_s=30, kept_action_s=15, instances=2, kept_instances=1, snippets=30, kept_snippets=10)
    a += b
    assert a.action_recall == pytest.approx(24 / 40)
    assert a.instance_recall == pytest.approx(3 / 4)
    assert a.kept_share == pytest.approx(15 / 40)


# ---- the command --------------------------------------------------------------------------------


def _gt_file(path, videos_frames):
    database = {}
    for name, (frames, bursts) in videos_frames.items():
        database[name] = {
            "subset": "test",
            "duration": frames / 25.0,
            "annotations": [{"segment": [b / 25.0, e / 25.0], "label": "Move"} for b, e in bursts],
        }
    path.write_text(json.dumps({"database": database}))
    return path


def test_sampler_report_command(videos, tmp_path, capsys):
    meta = StoreMeta(fps=25.0, clip_len_frames=16, stride_frames=16, streams=("rgb",), stream_dims=(4,), backbone="test")
    store = tmp_path / "store.h5"
    with StoreWriter(store, meta) as writer:
        for name, path in videos.items():
            plan = plan_video(path, GRID)
            feats = np.zeros((plan.num_snippets, 4), np.float32)
            writer.add(name, feats, num_frames=plan.signals.num_frames, duration_s=plan.signals.duration_s,
                       source=str(path), kept=plan.kept)  # fmt: skip
    gt = _gt_file(tmp_path / "gt.json", VIDEOS)
    out = tmp_path / "report"
    code = main(["sampler-report", "--features", str(store), "--annotations", str(gt), "--subset", "test",
                 "--videos", str(next(iter(videos.values())).parent), "--budgets", "0.3", "0.5", "1.0",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads((out / "sampler_report.json").read_text())
    assert report["store"]["videos"] == 2
    assert report["store"]["kept_share"] <= 0.5
    assert report["store"]["action_recall"] >= 0.98
    curve = {row["budget"]: row for row in report["sweep"]["curve"]}
    assert curve[0.5]["action_recall"] == pytest.approx(report["store"]["action_recall"])  # same settings
    assert curve[1.0]["action_recall"] == pytest.approx(1.0) and curve[1.0]["kept_share"] == 1.0
    assert curve[0.3]["uniform_action_recall"] < curve[0.3]["action_recall"]
    assert (out / "recall_vs_budget.png").stat().st_size > 0
    assert len((out / "per_video.csv").read_text().splitlines()) == 3


def test_sampler_report_without_masks_is_an_error(tmp_path, capsys):
    meta = StoreMeta(fps=25.0, clip_len_frames=16, stride_frames=16, streams=("rgb",), stream_dims=(4,), backbone="test")
    store = tmp_path / "store.h5"
    with StoreWriter(store, meta) as writer:
        writer.add("three_bursts", np.zeros((46, 4), np.float32), num_frames=750, duration_s=30.0, source="x")
    gt = _gt_file(tmp_path / "gt.json", VIDEOS)
    assert main(["sampler-report", "--features", str(store), "--annotations", str(gt)]) == 2
    err = capsys.readouterr().err
    assert "no video has a kept mask" in err and len(err.strip().splitlines()) == 2  # warning + error


def test_sampler_report_needs_every_video_file(videos, tmp_path, capsys):
    meta = StoreMeta(fps=25.0, clip_len_frames=16, stride_frames=16, streams=("rgb",), stream_dims=(4,), backbone="test")
    store = tmp_path / "store.h5"
    with StoreWriter(store, meta) as writer:
        for name in VIDEOS:
            writer.add(name, np.zeros((3, 4), np.float32), num_frames=48, duration_s=1.92, source="x", kept=np.ones(3, bool))
    gt = _gt_file(tmp_path / "gt.json", VIDEOS)
    empty = tmp_path / "no_videos"
    empty.mkdir()
    assert main(["sampler-report", "--features", str(store), "--annotations", str(gt), "--videos", str(empty)]) == 2
    assert "no video file for 2 videos" in capsys.readouterr().err
    # The video files exist but the store has 3 snippets per video: a mismatch is an error.
    folder = str(next(iter(videos.values())).parent)
    assert main(["sampler-report", "--features", str(store), "--annotations", str(gt), "--videos", folder]) == 2
    assert "the store has 3" in capsys.readouterr().err


# ---- learned sampler (skim model) ---------------------------------------------------------------


def _teacher_raw(path, folder_videos, frames_bursts):
    """A raw file whose attention is 1 on snippets that share a frame with a burst, else 0.05.

    Stands in for a trained localizer's attention (the skim model only ever sees the attention).
    """
    from wsal.config import ExperimentConfig
    from wsal.raw import RawHeader, RawVideo, RawWriter

    with RawWriter(path, RawHeader(("Move",), GRID, ExperimentConfig(), "validation")) as writer:
        for name, (frames, bursts) in frames_bursts.items():
            count = num_snippets(frames, GRID)
            moving = motion_snippets(bursts, np.arange(count) * GRID.stride_frames, GRID.clip_len_frames)
            attention = np.where(moving, 1.0, 0.05).astype(np.float32)
            writer.add(RawVideo(name, attention[:, None], attention, np.ones(1, np.float32), count, frames / 25.0))


HELD_OUT = {"held_out": (600, [(60, 130), (300, 350), (480, 530)])}  # 24 s, 28 % motion


def test_learned_sampler_fit_report_and_errors(videos, tmp_path, capsys):
    from wsal.features.skim import load_skim

    raw = tmp_path / "raw.h5"
    _teacher_raw(raw, videos, VIDEOS)
    model = tmp_path / "skim.pt"
    folder = str(next(iter(videos.values())).parent)
    assert main(["sampler-fit", folder, "--raw", str(raw), "--out", str(model), "--steps", "300"]) == 0
    out = capsys.readouterr().out
    assert "fitted on 2 videos, 103 snippets" in out  # 47 + 56 snippets
    assert float(out.split("correlation with the attention ")[1].split()[0]) > 0.8
    skim = load_skim(model)
    assert skim.grid == GRID and skim.sampler == SamplerConfig()

    # held-out video: the learned scores keep the motion snippets within the budget, like the motion policy
    held = tmp_path / "held"
    held.mkdir()
    frames, bursts = HELD_OUT["held_out"]
    write_burst_video(held / "held_out.mp4", frames, bursts, size=(96, 96), seed=7)
    signals = coarse_signals(held / "held_out.mp4", GRID)
    moving = motion_snippets(bursts, np.arange(len(signals.motion)) * GRID.stride_frames, GRID.clip_len_frames)
    kept = select_snippets(skim.scores(signals), signals.cuts, 0.5)
    assert kept.sum() <= max_kept(len(kept), 0.5) and (kept & moving).sum() >= 0.98 * moving.sum()

    # the same report compares both samplers
    store = tmp_path / "store.h5"
    meta = StoreMeta(fps=25.0, clip_len_frames=16, stride_frames=16, streams=("rgb",), stream_dims=(4,), backbone="test")
    with StoreWriter(store, meta) as writer:
        writer.add("held_out", np.zeros((len(kept), 4), np.float32), num_frames=frames, duration_s=frames / 25.0,
                   source="x", kept=kept)  # fmt: skip
    gt = _gt_file(tmp_path / "gt.json", HELD_OUT)
    code = main(["sampler-report", "--features", str(store), "--annotations", str(gt), "--videos", str(held),
                 "--sampler-model", str(model), "--budgets", "0.5", "1.0", "--out", str(tmp_path / "rep")])  # fmt: skip
    assert code == 0 and "learned: kept%" in capsys.readouterr().out
    curve = json.loads((tmp_path / "rep" / "sampler_report.json").read_text())["sweep"]["curve"]
    assert curve[0]["learned_action_recall"] == pytest.approx(curve[0]["action_recall"], abs=0.02)
    assert curve[1]["learned_kept_share"] == 1.0
    assert curve[1]["learned_boundary_recall"] == 1.0 and curve[1]["uniform_boundary_recall"] == 1.0  # everything kept

    # errors: one line, exit 2
    assert main(["sampler-fit", str(held), "--raw", str(raw), "--out", str(tmp_path / "x.pt")]) == 2
    assert "2 of 2 videos have no file" in capsys.readouterr().err
    assert main(["sampler-report", "--features", str(store), "--annotations", str(gt), "--videos", str(held),
                 "--sampler-model", str(raw)]) == 2  # fmt: skip
    assert "not a readable skim model file" in capsys.readouterr().err


def test_a_skim_model_without_its_weights_is_a_one_line_error(tmp_path):
    import torch

    from wsal.errors import WsalError
    from wsal.features.skim import SKIM_KIND, SKIM_VERSION, load_skim

    path = tmp_path / "m.pt"
    torch.save({"kind": SKIM_KIND, "version": SKIM_VERSION, "hidden": 4}, path)
    with pytest.raises(WsalError, match=r"m.pt: damaged skim model \(KeyError") as err:
        load_skim(path)
    assert "\n" not in str(err.value)


def test_a_skim_model_from_before_top_cells_keeps_its_motion_measure(tmp_path):
    """A skim file without ``motion_top_share`` was fitted on motion energy over all pixels: it is
    scored on the same measure (1.0), not on the new default's top cells."""
    import torch

    from wsal.features.sampler import SkimFitConfig
    from wsal.features.skim import fit_skim, load_skim, save_skim

    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(12, 5)).astype(np.float32)]
    targets = [rng.uniform(size=12).astype(np.float32)]
    path = tmp_path / "m.pt"
    save_skim(fit_skim(inputs, targets, GRID, SamplerConfig(), SkimFitConfig(steps=2)), path)
    assert load_skim(path).sampler.motion_top_share == SamplerConfig().motion_top_share
    data = torch.load(path, weights_only=True)
    del data["sampler"]["motion_top_share"]
    torch.save(data, path)
    assert load_skim(path).sampler == SamplerConfig(motion_top_share=1.0)
