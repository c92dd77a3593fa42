"""Seeking over skipped stretches in the fine pass (decode.SeekPlan, sampler.frames_needed, extract scope "all").

Every test compares a seeking decode with a decode of every frame of the same file: the output
frames a kept snippet uses must be bit-identical, and the seeking decode must really decode fewer
frames (or, where seeking is not usable, fall back and still be identical).
"""

from fractions import Fraction

import numpy as np
import pytest
import torch

from wsal.errors import WsalError
from wsal.features.decode import DecodeConfig, SeekPlan, VideoDecoder, decode_video
from wsal.features.extract import ExtractConfig, extract_store, find_videos
from wsal.features.i3d import InceptionI3d
from wsal.features.sampler import SamplerConfig, coarse_signals, frames_needed, plan_video
from wsal.features.snippets import num_snippets
from wsal.features.store import FeatureStore
from research.synthetic_video import encode_frames, shapes_frame, write_burst_video, write_video
from wsal.timeline import SnippetGrid

GRID = SnippetGrid(25, 16, 16)
RAW = DecodeConfig(resize_short=0, crop=0, chunk_frames=64)


def encode(path, num_frames, fps=25, keyint=25, preset="ultrafast", size=(64, 48), times_s=None):
    """The "shapes" picture (moving square and disc) in H.264 with a keyframe every ``keyint`` frames."""
    if times_s is not None:
        time_base = Fraction(1, 1000)
        pts = [round(Fraction(t).limit_denominator(1000) / time_base) for t in times_s]
    else:
        time_base, pts = 1 / Fraction(fps), range(num_frames)
    options = {"crf": "18", "preset": preset, "g": str(keyint)}
    frames = (shapes_frame(i, *size) for i in range(num_frames))
    encode_frames(path, frames, pts, Fraction(fps), time_base, size, "libx264", options)


def seek_decode(path, kept, min_skip_s=1.0, seek_points_s=None, config=RAW, flow=True):
    """Decode ``path`` with and without a seek plan for snippets ``kept``: (wanted, full frames, seeking frames, result)."""
    signals = coarse_signals(path, GRID)
    wanted = frames_needed(kept, GRID, signals.num_frames, flow)
    points = signals.seek_points_s if seek_points_s is None else seek_points_s
    plan = SeekPlan(wanted, points, signals.num_frames, signals.duration_s, min_skip_s)
    full, full_result = decode_video(path, config)
    with VideoDecoder(path, config, plan) as decoder:
        frames = np.concatenate(list(decoder.chunks()))
        result = decoder.result
    assert (result.num_frames, result.duration_s) == (full_result.num_frames, full_result.duration_s)
    assert frames.shape == full.shape
    assert not frames[~wanted].any()  # frames no kept snippet uses: all-zero placeholders, never converted
    assert full_result.source_frames == signals.source_frames and full_result.seeks == 0
    return wanted, full, frames, result


def sparse_mask(num_snippets, runs):
    kept = np.zeros(num_snippets, bool)
    for lo, hi in runs:
        kept[lo:hi] = True
    return kept


def test_frames_needed_covers_kept_frames_and_the_flow_edge():
    grid = SnippetGrid(25, 4, 4)
    # 14 frames: snippets 0..2 full, snippet 3 = frames 12, 13 padded (kept: 2 >= half of 4)
    kept = np.array([True, False, False, True])
    assert frames_needed(kept, grid, 14, flow=True).astype(int).tolist() == [1, 1, 1, 1, 1] + [0] * 7 + [1, 1]
    assert frames_needed(kept, grid, 14, flow=False).astype(int).tolist() == [1, 1, 1, 1, 0] + [0] * 7 + [1, 1]
    assert frames_needed(np.array([True]), grid, 1, flow=True).tolist() == [True]  # one-frame video
    assert not frames_needed(np.zeros(4, bool), grid, 14, flow=True).any()


def test_full_pass_records_keyframes(tmp_path):
    path = tmp_path / "k.mp4"
    encode(path, 130, keyint=25)  # 5.2 s, a keyframe every second
    assert coarse_signals(path, GRID).seek_points_s == tuple(Fraction(i) for i in range(6))


@pytest.mark.parametrize(
    ("name", "fps", "frames", "preset"),
    [
        ("b.mp4", 25, 400, "medium"),  # B-frames: presentation order differs from decoding order
        ("c30.mp4", 30, 480, "medium"),  # 30 fps -> 25 fps: every 6th source frame dropped
        ("m.mkv", 25, 400, "ultrafast"),
        ("t.ts", 25, 400, "ultrafast"),
    ],
)
def test_wanted_frames_are_identical_and_fewer_frames_are_decoded(tmp_path, name, fps, frames, preset):
    path = tmp_path / name
    encode(path, frames, fps=fps, keyint=fps, preset=preset)  # 16 s, a keyframe every second
    # 25 snippets of 0.64 s: kept runs around 0-2, 9-11 and 20 -> gaps of 4.5 s and 5.1 s, then a tail
    kept = sparse_mask(25, [(0, 2), (9, 11), (20, 21)])
    wanted, full, seeking, result = seek_decode(path, kept)
    np.testing.assert_array_equal(seeking[wanted], full[wanted])
    assert result.seeks == 2 and result.seek_fallbacks == 0
    # needed: frames 0-32, 144-176, 320-336 (at 25 fps); seeks from 1.32 s to 5 s and from 7.08 s to 12 s,
    # and nothing is decoded after 13.48 s
    assert result.source_frames < 0.4 * frames


@pytest.mark.parametrize("seed", [0, 1])
def test_random_masks_and_chunking_stay_exact(tmp_path, seed):
    path = tmp_path / "r.mp4"
    encode(path, 500, keyint=20, preset="medium")  # 20 s, a keyframe every 0.8 s
    rng = np.random.default_rng(seed)
    kept = rng.random(31) < 0.25
    config = DecodeConfig(resize_short=40, crop=32, chunk_frames=int(rng.integers(5, 40)))
    wanted, full, seeking, result = seek_decode(path, kept, min_skip_s=0.5, config=config)
    np.testing.assert_array_equal(seeking[wanted], full[wanted])
    assert result.source_frames < 500 and result.seek_fallbacks == 0


def test_variable_frame_rate_file_stays_exact(tmp_path):
    path = tmp_path / "vfr.mkv"
    rng = np.random.default_rng(4)
    steps = rng.choice([0.02, 0.04, 0.05, 0.1], size=359)  # irregular frame durations
    times = np.concatenate([[0.0], np.cumsum(steps)])
    encode(path, len(times), keyint=30, times_s=[round(t, 3) for t in times])
    signals = coarse_signals(path, GRID)
    assert len(signals.seek_points_s) == 12  # a keyframe every 30 frames; not at whole seconds
    assert any(p.denominator != 1 for p in signals.seek_points_s)
    kept = sparse_mask(num_snippets(signals.num_frames, GRID), [(1, 3), (14, 16)])
    wanted, full, seeking, result = seek_decode(path, kept)
    np.testing.assert_array_equal(seeking[wanted], full[wanted])
    assert result.seeks >= 1 and result.seek_fallbacks == 0 and result.source_frames < 360


def test_a_seek_that_lands_after_the_wanted_time_falls_back(tmp_path):
    """MPEG-TS has no index: a seek to a time without a keyframe lands on a later one, which is refused."""
    path = tmp_path / "t.ts"
    encode(path, 400, keyint=25)
    kept = sparse_mask(25, [(0, 2), (9, 11), (20, 21)])
    claimed = tuple(Fraction(i, 5) for i in range(80))  # "keyframes" every 0.2 s: most are not
    wanted, full, seeking, result = seek_decode(path, kept, seek_points_s=claimed)
    np.testing.assert_array_equal(seeking[wanted], full[wanted])
    # after frame 33 (1.32 s) it seeks to "5.6 s" for frame 144 (5.76 s) and lands on the 6 s keyframe: refused;
    # the file is reopened and decoded through (no more seeks) up to frame 337, where nothing is needed any more
    assert result.seek_fallbacks == 1 and result.seeks == 0
    assert result.source_frames >= 34 + 1 + 338


def test_a_seek_that_lands_before_the_current_frame_decodes_on_from_there(tmp_path):
    """mp4 seeks backward to the real keyframe at or before the claimed one; it may lie behind the current frame."""
    path = tmp_path / "long_gop.mp4"
    encode(path, 400, keyint=100)  # keyframes at 0, 4, 8 and 12 s
    claimed = tuple(Fraction(i, 5) for i in range(80))  # "keyframes" every 0.2 s
    # needed: frames 0-112, then 144-176. After frame 113 (4.52 s) it seeks to "5.6 s" for frame 144 and lands
    # on the 4 s keyframe (frame 100): frames 100-113 are decoded again and dropped, then it decodes on to 177.
    kept = sparse_mask(25, [(0, 7), (9, 11)])
    wanted, full, seeking, result = seek_decode(path, kept, seek_points_s=claimed)
    np.testing.assert_array_equal(seeking[wanted], full[wanted])
    assert (result.seeks, result.seek_fallbacks, result.source_frames) == (0, 1, 114 + 78)
    # needed: 0-32, then 224-256. After frame 33 (1.32 s) it seeks to "8.8 s" for frame 224 (8.96 s) and lands on
    # the 8 s keyframe (frame 200): a usable seek although not where it was aimed.
    kept = sparse_mask(25, [(0, 2), (14, 16)])
    wanted, full, seeking, result = seek_decode(path, kept, seek_points_s=claimed)
    np.testing.assert_array_equal(seeking[wanted], full[wanted])
    assert (result.seeks, result.seek_fallbacks, result.source_frames) == (1, 0, 34 + 58)


def test_no_timestamps_no_seeking(tmp_path):
    """A raw H.264 stream has no timestamps: the full pass offers no seek points, the decoder decodes through."""
    path = tmp_path / "raw.h264"
    encode(path, 300, keyint=25)
    kept = sparse_mask(19, [(0, 2), (12, 19)])  # nothing to stop early for: the last snippet is kept
    wanted, full, seeking, result = seek_decode(path, kept)
    np.testing.assert_array_equal(seeking[wanted], full[wanted])
    assert coarse_signals(path, GRID).seek_points_s == ()
    assert (result.seeks, result.seek_fallbacks, result.source_frames) == (0, 0, 300)


def test_min_skip_s_decides_whether_to_seek(tmp_path):
    path = tmp_path / "g.mp4"
    encode(path, 400, keyint=25)
    # needed 0-32, 144-176, 384-399 (the last snippet: no early stop); seeks would skip 1.32 -> 5 s and 7.08 -> 15 s
    kept = sparse_mask(25, [(0, 2), (9, 11), (24, 25)])
    assert seek_decode(path, kept, min_skip_s=3.0)[3].seeks == 2
    assert seek_decode(path, kept, min_skip_s=5.0)[3].seeks == 1
    never = seek_decode(path, kept, min_skip_s=9.0)[3]
    assert (never.seeks, never.source_frames) == (0, 400)


def test_seek_plan_checks_its_shape():
    with pytest.raises(ValueError, match="shape"):
        SeekPlan(np.zeros(3, bool), (), 4, 1.0)
    with pytest.raises(ValueError, match="min_skip_s"):
        SeekPlan(np.zeros(4, bool), (), 4, 1.0, min_skip_s=0)
    with pytest.raises(WsalError, match="seek_min_s"):
        ExtractConfig(seek_min_s=-1)


class ClipStatistics(torch.nn.Module):
    """A fast stand-in for I3D: per-channel mean and standard deviation of the clip, times fixed random weights."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(channels)
        self.weight = torch.nn.Parameter(torch.randn(2 * channels, 1024, generator=gen), requires_grad=False)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W) -> (B, 1024)
        return torch.cat([clips.mean(dim=(2, 3, 4)), clips.std(dim=(2, 3, 4))], dim=1) @ self.weight

    features = forward


def make_models(kind):
    torch.manual_seed(0)
    if kind == "i3d":
        return {"rgb": InceptionI3d(3).eval(), "flow": InceptionI3d(2).eval()}
    return {"rgb": ClipStatistics(3), "flow": ClipStatistics(2)}


@pytest.mark.parametrize("kind", ["stand-in", pytest.param("i3d", marks=pytest.mark.slow)])
def test_extracted_features_are_identical_with_and_without_seeking(tmp_path, monkeypatch, kind):
    """The real pipeline (a fast stand-in model, or a random-weight I3D): scope "all" with seeking == without."""
    import wsal.features.decode as decode_mod

    root = tmp_path / "videos"
    root.mkdir()
    write_burst_video(root / "a.mp4", 500, [(60, 110), (330, 380)], size=(64, 64), keyint=25, noise_std=2)
    write_burst_video(root / "b.mkv", 450, [(250, 320)], size=(64, 64), seed=1, keyint=20, noise_std=2)
    results = []

    class CountingDecoder(decode_mod.VideoDecoder):
        def close(self):
            if self._result is not None:
                results.append((self.seek is not None, self._result))
            super().close()

    monkeypatch.setattr(decode_mod, "VideoDecoder", CountingDecoder)
    common = dict(workers=0, resize_short=40, crop=32, flow="farneback", batch_size=4, sampler="motion", budget=0.3, sampler_scope="all")
    stores = {}
    for seek_min_s in (0.0, 1.0):
        out = tmp_path / f"seek{seek_min_s}.h5"
        extract_store(find_videos([root]), out, ExtractConfig(seek_min_s=seek_min_s, **common), make_models(kind), "cpu", "test")
        with FeatureStore(out) as store:
            stores[seek_min_s] = {v: store.read(v) for v in store.video_ids}
    assert sorted(stores[0.0]) == ["a", "b"]
    for vid, dense in stores[0.0].items():
        seeking = stores[1.0][vid]
        np.testing.assert_array_equal(seeking.kept, dense.kept)
        np.testing.assert_array_equal(seeking.features, dense.features)
        assert (seeking.num_frames, seeking.duration_s) == (dense.num_frames, dense.duration_s)
    with_plan = [r for planned, r in results if planned]
    without = [r for planned, r in results if not planned]
    assert len(with_plan) == len(without) == 2
    assert all(r.seeks >= 1 for r in with_plan)
    assert sum(r.source_frames for r in with_plan) < 0.75 * sum(r.source_frames for r in without)


def test_scope_flow_never_seeks(tmp_path, monkeypatch):
    """With scope "flow" every snippet's rgb is computed, so every frame is needed: no seek plan."""
    import wsal.features.decode as decode_mod
    from wsal.features.extract import VideoTask, process_video

    path = tmp_path / "a.mp4"
    write_burst_video(path, 300, [(60, 110)], size=(64, 64), keyint=25)
    plans = []

    class Spy(decode_mod.VideoDecoder):
        def __init__(self, path, config, seek=None):
            plans.append(seek)
            super().__init__(path, config, seek)

    monkeypatch.setattr(decode_mod, "VideoDecoder", Spy)
    base = dict(workers=0, resize_short=40, crop=32, flow="none", sampler="motion", budget=0.3)
    for scope, seek_min_s in (("all", 2.0), ("all", 0.0)):
        list(process_video(VideoTask("a", path), ExtractConfig(sampler_scope=scope, seek_min_s=seek_min_s, **base)))
    list(process_video(VideoTask("a", path), ExtractConfig(sampler_scope="flow", **{**base, "flow": "dis"})))
    assert isinstance(plans[0], SeekPlan) and plans[1] is None and plans[2] is None
    assert plans[0].min_skip_s == 2.0
    # flow "none": the frame after a kept snippet is not needed
    np.testing.assert_array_equal(plans[0].wanted, frames_needed(plan_video(path, GRID, SamplerConfig(budget=0.3)).kept, GRID, 300, False))


def test_cli_passes_seek_min_s_and_refuses_a_negative_one(tmp_path, monkeypatch, capsys):
    import wsal.features.extract as extract_mod
    from wsal.cli import main

    write_video(tmp_path / "v.mp4", 20, size=(64, 48))
    torch.save(InceptionI3d(3).state_dict(), tmp_path / "rgb.pt")
    seen = []

    def fake_extract_store(videos, out, config, *args, **kwargs):
        seen.append(config)
        return extract_mod.ExtractSummary(seconds=1.0)

    monkeypatch.setattr(extract_mod, "extract_store", fake_extract_store)
    base = ["extract", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "s.h5"), "--rgb-weights", str(tmp_path / "rgb.pt")]
    base += ["--flow", "none", "--sampler", "motion", "--sampler-scope", "all", "--device", "cpu"]
    assert main(base + ["--seek-min-s", "0.5"]) == 0 and seen[0].seek_min_s == 0.5
    assert main(base) == 0 and seen[1].seek_min_s == ExtractConfig().seek_min_s == 2.0
    assert main(base + ["--seek-min-s", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wsal extract: error: seek_min_s must be") and err.count("\n") == 1
