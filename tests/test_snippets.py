import numpy as np
import pytest

from wsal.features.snippets import SnippetAssembler, min_tail_frames, num_snippets
from wsal.timeline import SnippetGrid

GRID = SnippetGrid(25.0, 16, 16)


def numbered_frames(n):
    """Frame j is filled with the value j (mod 256): snippets can be checked by value."""
    return (np.arange(n, dtype=np.int64)[:, None, None, None] % 256 * np.ones((1, 2, 3, 3))).astype(np.uint8)


def pair_index_flow(frames):
    """A fake flow whose field j (frames j -> j+1) holds (value of frame j, value of frame j+1)."""
    a = frames[:-1, ..., 0].astype(np.float32)
    b = frames[1:, ..., 0].astype(np.float32)
    return np.stack([a, b], axis=-1)


def assemble(n, chunk, grid=GRID, flow=True):
    assembler = SnippetAssembler(grid, pair_index_flow if flow else None)
    frames = numbered_frames(n)
    batches = []
    for start in range(0, n, chunk):
        batch = assembler.push(frames[start : start + chunk])
        if batch is not None:
            batches.append(batch)
    last = assembler.finish()
    if last is not None:
        batches.append(last)
    assert assembler.num_frames == n
    firsts = [b.first_index for b in batches]
    assert firsts == sorted(firsts)
    rgb = np.concatenate([b.rgb for b in batches]) if batches else np.zeros((0,))
    fl = np.concatenate([b.flow for b in batches]) if batches and flow else None
    return rgb, fl


def test_tail_policy_counts_by_hand():
    assert min_tail_frames(GRID) == 8
    # 0 frames: nothing; under half a clip: the single padded snippet; 16+7: the 7-frame tail is dropped
    assert [num_snippets(n, GRID) for n in (0, 1, 7, 8, 15, 16, 23, 24, 31, 32)] == [0, 1, 1, 1, 1, 1, 1, 2, 2, 2]
    assert num_snippets(1500, GRID) == 94  # 60 s at 25 fps: 93 full + a 12-frame tail
    assert num_snippets(1495, GRID) == 93  # 93 full + a 7-frame tail (dropped)
    assert num_snippets(1496, GRID) == 94  # 93 full + an 8-frame tail (kept)
    assert min_tail_frames(SnippetGrid(25.0, 15, 15)) == 8  # odd clip: half rounded up


def test_snippets_agree_with_the_timeline_grid():
    rgb, _ = assemble(1500, 128, flow=False)
    assert len(rgb) == 94 == GRID.num_full_snippets(1500) + 1
    for i in (0, 1, 50, 92, 93):
        first_frame = int(round(GRID.start_s(i) * GRID.fps))
        assert rgb[i, 0, 0, 0, 0] == first_frame % 256
    # the tail snippet 93 starts at 59.52 s and holds frames 1488..1499, then frame 1499 repeated
    assert GRID.start_s(93) == pytest.approx(59.52)
    expected = [f % 256 for f in list(range(1488, 1500)) + [1499] * 4]
    assert rgb[93, :, 0, 0, 0].tolist() == expected


@pytest.mark.parametrize("chunk", [1, 5, 16, 17, 1000])
def test_chunking_does_not_change_snippets_or_flow(chunk):
    ref_rgb, ref_flow = assemble(61, 61)
    rgb, flow = assemble(61, chunk)
    np.testing.assert_array_equal(rgb, ref_rgb)
    np.testing.assert_array_equal(flow, ref_flow)


def test_flow_uses_seventeen_frames_and_repeats_the_last_field_at_the_end():
    rgb, flow = assemble(40, 7)  # 2 full snippets + an 8-frame tail (frames 32..39)
    assert rgb.shape == (3, 16, 2, 3, 3) and flow.shape == (3, 16, 2, 3, 2)
    # snippet 0: fields 0->1 .. 15->16 (field 15 needs frame 16, the first of snippet 1)
    assert flow[0, :, 0, 0, 0].tolist() == list(range(16))
    assert flow[0, :, 0, 0, 1].tolist() == list(range(1, 17))
    # snippet 1 has all its fields (frame 32 exists)
    assert flow[1, -1, 0, 0].tolist() == [31, 32]
    # tail: fields 32->33 .. 38->39 then the last field (38->39) repeated 9 times
    assert flow[2, :, 0, 0, 0].tolist() == list(range(32, 39)) + [38] * 9
    assert rgb[2, :, 0, 0, 0].tolist() == list(range(32, 40)) + [39] * 8


def test_last_full_snippet_without_a_following_frame_repeats_its_last_field():
    _, flow = assemble(32, 32)  # exactly 2 snippets: snippet 1's field 31 -> 32 does not exist
    assert flow[1, :, 0, 0, 0].tolist() == list(range(16, 31)) + [30]


def test_one_frame_video_gets_one_snippet_with_zero_flow():
    rgb, flow = assemble(1, 1)
    assert rgb.shape[0] == 1 and (rgb == 0).all()
    assert flow.shape == (1, 16, 2, 3, 2) and not flow.any()


def test_overlapping_stride():
    grid = SnippetGrid(25.0, 16, 8)
    rgb, flow = assemble(40, 9, grid=grid)
    # starts 0, 8, 16, 24 are full; 32 has 8 frames (kept, padded); 40 would have none
    assert len(rgb) == num_snippets(40, grid) == 5
    assert [r[0, 0, 0, 0] for r in rgb] == [0, 8, 16, 24, 32]
    assert flow[3, :, 0, 0, 0].tolist() == list(range(24, 39)) + [38]


def test_no_flow_function_means_no_flow():
    assembler = SnippetAssembler(GRID, None)
    batch = assembler.push(numbered_frames(16))  # complete at once: no extra frame needed
    assert batch is not None and batch.flow is None and len(batch) == 1
    with pytest.raises(RuntimeError):
        assembler.finish()
        assembler.push(numbered_frames(1))
