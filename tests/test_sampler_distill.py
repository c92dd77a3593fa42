"""Tests of the event videos (actions of two classes and distractors) behind bench/sampler_distill.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wsal.features.sampler import coarse_signals
from research.synthetic_video import (
    DISTRACTOR_KINDS,
    Event,
    background,
    event_frame,
    event_layout,
    flicker_gain,
    motion_snippets,
    shake_offset,
    write_event_video,
)
from wsal.timeline import SnippetGrid

GRID = SnippetGrid(25.0, 16, 16)
YELLOW, CYAN = (240, 230, 40), (40, 200, 240)


def _count(frame: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((frame == np.array(colour, np.uint8)).all(axis=-1).sum())


def test_event_frames_by_hand():
    bg = background(32, 24, seed=0)  # (24, 32, 3)
    assert np.array_equal(event_frame(5, [Event(10, 20, "disc")], bg), bg)  # outside the event: the background
    # shake: the background rolled by shake_offset(i); offset of frame 1 = (round(3 sin 1.7), round(3 cos 2.3)) = (3, -2)
    assert shake_offset(1) == (3, -2)
    assert np.array_equal(event_frame(1, [Event(0, 5, "shake")], bg), np.roll(bg, (3, -2), axis=(0, 1)))
    # flicker: every pixel scaled by 1 + 0.06 sin(2.1 i)
    assert flicker_gain(1) == pytest.approx(1 + 0.06 * np.sin(2.1))
    flickered = event_frame(1, [Event(0, 5, "flicker")], bg)
    assert np.array_equal(flickered, np.clip(bg * flicker_gain(1), 0, 255).astype(np.uint8))
    # disc at its first frame: radius max(3, 24 // 8) = 3 centred at (x 3, y 12): the 29 lattice points x^2 + y^2 <= 9
    disc = event_frame(10, [Event(10, 20, "disc")], bg)
    assert _count(disc, YELLOW) == 29 and tuple(disc[12, 3]) == YELLOW
    # square: side max(4, 24 // 5) = 4 at rows 8..11, from the right edge (first frame) to the left edge (last frame)
    first, last = (event_frame(i, [Event(10, 20, "square")], bg) for i in (10, 19))
    assert _count(first, CYAN) == 16 and (first[8:12, 28:32] == CYAN).all()
    assert _count(last, CYAN) == 16 and (last[8:12, 0:4] == CYAN).all()


def test_events_are_checked():
    with pytest.raises(ValueError, match="unknown event kind"):
        Event(0, 5, "dance")
    with pytest.raises(ValueError, match="start < end"):
        Event(5, 5, "disc")
    with pytest.raises(ValueError, match="unknown action kind"):
        event_layout(500, "shake", 0.2, 0.1, np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(10))
def test_event_layout(seed):
    num_frames = 1000
    events = event_layout(num_frames, "square", 0.25, 0.15, np.random.default_rng(seed))
    assert events == event_layout(num_frames, "square", 0.25, 0.15, np.random.default_rng(seed))
    assert all(0 <= a.start and a.end <= b.start for a, b in zip(events, events[1:])) and events[-1].end <= num_frames
    assert all(e.end - e.start >= 25 for e in events)
    actions = [e for e in events if e.is_action]
    distractors = [e for e in events if not e.is_action]
    assert {e.kind for e in actions} == {"square"} and 2 <= len(actions) <= 3
    assert {e.kind for e in distractors} <= set(DISTRACTOR_KINDS) and 1 <= len(distractors) <= 2
    # lengths are rounded down one by one: at most one frame lost per event
    assert 250 - len(actions) <= sum(e.end - e.start for e in actions) <= 250
    assert 150 - len(distractors) <= sum(e.end - e.start for e in distractors) <= 150
    assert all(e.is_action for e in event_layout(num_frames, "disc", 0.25, 0.0, np.random.default_rng(seed)))


def test_event_video_signals(tmp_path):
    """What the bench relies on: each event shows in the coarse signals as designed. The disc (a
    small, concentrated mover) outscores the camera shake on motion energy, which pools the most
    moving grid cells; the shake still moves more than the slow square; flicker changes the
    colours; no cut is seen."""
    events = [Event(16, 80, "disc"), Event(112, 176, "shake"), Event(208, 272, "flicker"), Event(304, 368, "square")]
    path = tmp_path / "events.mp4"
    write_event_video(path, 400, events, size=(96, 72), seed=1, noise_std=2.0)
    signals = coarse_signals(path, GRID)
    starts = np.arange(len(signals.motion)) * GRID.stride_frames

    def inside(kind: str) -> np.ndarray:  # (T,) snippets wholly inside an event of this kind
        spans = [(e.start, e.end) for e in events if e.kind == kind]
        return np.array([any(a <= s and s + 16 <= b for a, b in spans) for s in starts])

    # still: no event frame in the snippet or its predecessor (a snippet's first frame difference reaches back)
    still = ~motion_snippets([(e.start, e.end + 16) for e in events], starts, GRID.clip_len_frames)
    assert len(signals.motion) == 25 and still.sum() >= 4
    assert signals.motion[still].max() == 0.0  # a static background under sensor noise: below the noise floor
    assert signals.motion[inside("disc")].min() > signals.motion[inside("shake")].max()
    assert signals.motion[inside("shake")].min() > 1.5 * signals.motion[inside("square")].max() > 0
    assert signals.appearance[inside("flicker")].mean() > 10 * signals.appearance[still].mean()
    assert not signals.cuts.any()


@pytest.mark.slow
def test_bench_runs_end_to_end_on_a_tiny_set(tmp_path):
    bench = Path(__file__).resolve().parents[1] / "bench" / "sampler_distill.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--train-videos", "4", "--test-videos", "2", "--seconds", "12", "--steps", "20",
         "--calibration-clips", "8", "--budgets", "0.5", "--no-teacher-on-test", "--keep", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    table = [line for line in out.stdout.splitlines() if line.startswith("| 0.5 |")]
    names = [line.split(" | ")[1] for line in table]
    assert len(names) == 4 and names[0] == "motion (`--sampler motion`)" and names[2] == "uniform subsampling"
    assert names[3] == "reference: skim model fitted to the training GT"
    assert names[1].startswith("learned (`--sampler learned`, distilled)")  # marked when 20 steps taught the teacher nothing
    kept = [float(line.split(" | ")[2].rstrip("%")) for line in table]
    assert all(0 < k <= 50 for k in kept)  # the budget holds
    assert (tmp_path / "work" / "skim.pt").is_file() and (tmp_path / "work" / "GT.json").is_file()
