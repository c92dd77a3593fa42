import numpy as np
import pytest

from wsal.timeline import SnippetGrid


def test_thumos_convention_snippet_is_0_64_s():
    grid = SnippetGrid(fps=25.0, clip_len_frames=16, stride_frames=16)
    assert grid.stride_s == pytest.approx(0.64)
    assert grid.start_s(0) == 0.0
    assert grid.end_s(0) == pytest.approx(0.64)
    assert grid.snippets_to_seconds(10, 12) == (pytest.approx(6.4), pytest.approx(8.32))


def test_overlapping_snippets_use_clip_len_for_end():
    grid = SnippetGrid(fps=30.0, clip_len_frames=16, stride_frames=8)
    assert grid.start_s(3) == pytest.approx(24 / 30)
    assert grid.end_s(3) == pytest.approx(40 / 30)


def test_seconds_round_trip_on_arrays():
    grid = SnippetGrid()
    idx = np.arange(0, 1000)
    np.testing.assert_allclose(grid.seconds_to_position(grid.start_s(idx)), idx)
    np.testing.assert_array_equal(grid.snippet_at(grid.start_s(idx)), idx)
    np.testing.assert_array_equal(grid.snippet_at(grid.start_s(idx) + 0.3), idx)


def test_num_full_snippets_60s_video():
    grid = SnippetGrid()
    assert grid.num_full_snippets(60 * 25) == 93
    assert grid.num_full_snippets(15) == 0
    assert grid.num_full_snippets(16) == 1


def test_rejects_bad_grid():
    with pytest.raises(ValueError):
        SnippetGrid(fps=0)
    with pytest.raises(ValueError):
        SnippetGrid(stride_frames=0)
