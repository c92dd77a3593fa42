"""Extraction pipeline and the `wsal extract` / `wsal merge-stores` commands, on tiny generated videos.

Pipeline tests use a cheap stand-in model (a fixed linear map of the per-channel clip means) so
that the expected features can be computed independently; the command tests load real
InceptionI3d checkpoints with random weights at a 32 px crop.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import wsal.features.extract as extract_mod
from wsal.cli import main
from wsal.commands.extract import resolve_flow_device, resolve_shard
from wsal.errors import WsalError
from wsal.features.decode import DecodeConfig, decode_video
from wsal.features.extract import (
    ExtractConfig,
    Failed,
    Finished,
    VideoTask,
    _WorkerPool,
    extract_store,
    find_videos,
    parse_shard,
    select_shard,
)
from wsal.features.flow import compute_flow, flow_to_i3d_input
from wsal.features.i3d import InceptionI3d
from wsal.features.snippets import SnippetAssembler, num_snippets
from wsal.features.store import FeatureStore, merge_stores
from research.synthetic_video import EXAMPLE_BURSTS, write_example_burst_videos, write_video

SMALL = dict(resize_short=40, crop=32, flow="farneback", batch_size=2)
CLI_SMALL = ["--resize", "40", "--crop", "32", "--device", "cpu", "--batch-size", "4"]


class MeanProjection(torch.nn.Module):
    """Stand-in for I3D: (B, C, T, H, W) -> per-channel mean (B, C) @ fixed (C, 1024) weights."""

    def __init__(self, channels: int, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed + channels)
        self.weight = torch.nn.Parameter(torch.randn(channels, 1024, generator=gen), requires_grad=False)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        return clips.mean(dim=(2, 3, 4)) @ self.weight

    forward = features


def stand_in_models():
    return {"rgb": MeanProjection(3), "flow": MeanProjection(2)}


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    """Good videos at 25/30/24 fps and variable rate, plus an empty, a random-bytes and a truncated file."""
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "a25.mp4", 40, 25, size=(64, 48))  # 40 frames -> 3 snippets (16 + 16 + 8-frame tail)
    write_video(root / "b30.mp4", 47, 30, size=(64, 48))  # 47/30 s -> 40 frames at 25 fps -> 3 snippets
    write_video(root / "c24.avi", 33, 24, size=(48, 64), codec="mpeg4")  # 33/24 s -> 35 frames -> 2 snippets
    # 24 frames, the last at 1.25 s lasting 1/25 s -> 1.29 s -> ceil(32.25) = 33 frames -> 2 snippets
    vfr_times = [0.0, 0.1, 0.15, 0.16, 0.3] + [0.3 + 0.05 * i for i in range(1, 20)]
    write_video(root / "d_vfr.mkv", len(vfr_times), 25, size=(64, 48), codec="ffv1", times_s=vfr_times)
    (root / "empty.mp4").write_bytes(b"")
    (root / "random.mp4").write_bytes(np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    data = (root / "a25.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (root / "notes.txt").write_text("not a video: ignored when listing the folder")
    return root


GOOD = {"a25": (40, 3), "b30": (40, 3), "c24": (35, 2), "d_vfr": (33, 2)}  # id -> (frames at 25 fps, snippets)
BAD = {"empty", "random", "truncated"}


def expected_features(path, config):
    """The stand-in model's features computed directly from the decoder and the snippet assembler."""
    frames, _ = decode_video(path, DecodeConfig(fps=config.fps, resize_short=config.resize_short, crop=config.crop))
    assembler = SnippetAssembler(config.grid(), lambda f: compute_flow(f, config.flow))
    batches = [b for b in (assembler.push(frames), assembler.finish()) if b is not None]
    rgb = np.concatenate([b.rgb for b in batches]).astype(np.float64) / 127.5 - 1  # (n, L, H, W, 3)
    flow = flow_to_i3d_input(np.concatenate([b.flow for b in batches])).astype(np.float16).astype(np.float64)
    models = stand_in_models()
    rgb_feats = rgb.mean(axis=(1, 2, 3)) @ models["rgb"].weight.numpy().astype(np.float64)
    flow_feats = flow.mean(axis=(1, 2, 3)) @ models["flow"].weight.numpy().astype(np.float64)
    return np.concatenate([rgb_feats, flow_feats], axis=1)


def read_all(path):
    with FeatureStore(path) as store:
        return {v: store.read(v) for v in store.video_ids}, store.failures(), store.meta


def test_find_videos_sorted_by_stem_and_errors(video_dir, tmp_path):
    videos = find_videos([video_dir])
    assert [v.video_id for v in videos] == ["a25", "b30", "c24", "d_vfr", "empty", "random", "truncated"]
    assert find_videos([video_dir / "c24.avi", video_dir / "a25.mp4"])[0].video_id == "a25"
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "same.mp4").write_bytes(b"1")
    (tmp_path / "y" / "same.mkv").write_bytes(b"2")
    with pytest.raises(WsalError, match="two videos have the id 'same'"):
        find_videos([tmp_path])
    with pytest.raises(WsalError, match="no such file or folder"):
        find_videos([tmp_path / "nope"])
    (tmp_path / "z").mkdir()
    with pytest.raises(WsalError, match="no videos found"):
        find_videos([tmp_path / "z"])
    (tmp_path / "z" / "_6fbXk6y8X0.mp4").write_bytes(b"1")  # YouTube ids can start with '_'
    assert [t.video_id for t in find_videos([tmp_path / "z"])] == ["_6fbXk6y8X0"]


def test_shards_and_devices():
    assert parse_shard("0/1") == (0, 1) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(WsalError):
            parse_shard(bad)
    items = list(range(7))
    assert select_shard(items, 0, 3) == [0, 3, 6] and select_shard(items, 2, 3) == [2, 5]
    assert resolve_shard(None, {}) == (0, 1)
    assert resolve_shard(None, {"RANK": "2", "WORLD_SIZE": "4"}) == (2, 4)
    assert resolve_shard("1/2", {"RANK": "2", "WORLD_SIZE": "4"}) == (1, 2)  # explicit --shard wins


def test_pipeline_features_failures_and_snippet_counts(video_dir, tmp_path):
    config = ExtractConfig(workers=0, **SMALL)
    out = tmp_path / "s.h5"
    summary = extract_store(find_videos([video_dir]), out, config, stand_in_models(), "cpu", "test")
    assert sorted(summary.done) == sorted(GOOD) and set(summary.failed) == BAD
    videos, failures, meta = read_all(out)
    assert set(videos) == set(GOOD)
    assert set(failures) == BAD and "empty file" in failures["empty"]
    assert meta.streams == ("rgb", "flow") and meta.stream_dims == (1024, 1024)
    assert (meta.fps, meta.clip_len_frames, meta.stride_frames) == (25.0, 16, 16)
    for vid, (frames, snippets) in GOOD.items():
        assert videos[vid].num_frames == frames
        assert videos[vid].num_snippets == snippets == num_snippets(frames, config.grid())
    assert videos["b30"].duration_s == pytest.approx(47 / 30)
    assert videos["a25"].source == str(video_dir / "a25.mp4")
    for vid in ("a25", "d_vfr"):
        path = next(video_dir.glob(vid + ".*"))
        np.testing.assert_allclose(videos[vid].features, expected_features(path, config), rtol=1e-4, atol=1e-4)


def test_resume_after_interrupt_skips_staged_videos(video_dir, tmp_path, monkeypatch):
    config = ExtractConfig(workers=0, **SMALL)
    out = tmp_path / "s.h5"
    videos = [v for v in find_videos([video_dir]) if v.video_id in GOOD]
    real = extract_mod.process_video
    calls = []

    def interrupted_on_third(task, cfg):
        calls.append(task.video_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        yield from real(task, cfg)

    monkeypatch.setattr(extract_mod, "process_video", interrupted_on_third)
    with pytest.raises(KeyboardInterrupt):
        extract_store(videos, out, config, stand_in_models(), "cpu", "test")
    assert not out.exists()  # nothing committed: partial results are never visible
    assert len(list(Path(str(out) + ".parts").glob("*.part.h5"))) == 2

    def counted(task, cfg):
        calls.append(task.video_id)
        yield from real(task, cfg)

    calls.clear()
    monkeypatch.setattr(extract_mod, "process_video", counted)
    summary = extract_store(videos, out, config, stand_in_models(), "cpu", "test")
    assert calls == ["c24", "d_vfr"] and summary.skipped == ["a25", "b30"]
    assert summary.stored == 4 and not Path(str(out) + ".parts").exists()
    again = extract_store(videos, out, config, stand_in_models(), "cpu", "test")
    assert calls == ["c24", "d_vfr"] and again.done == [] and len(again.skipped) == 4


def test_worker_processes_and_shards_match_a_single_run(video_dir, tmp_path):
    videos = find_videos([video_dir])
    single = tmp_path / "single.h5"
    extract_store(videos, single, ExtractConfig(workers=0, **SMALL), stand_in_models(), "cpu", "test")
    parts = []
    for index, workers in ((0, 1), (1, 2)):  # spawned decode workers, two shards
        part = tmp_path / f"part-{index}.h5"
        shard = select_shard(videos, index, 2)
        extract_store(shard, part, ExtractConfig(workers=workers, **SMALL), stand_in_models(), "cpu", "test")
        parts.append(part)
    merged = tmp_path / "merged.h5"
    assert merge_stores(parts, merged) == len(GOOD)
    want, want_failures, want_meta = read_all(single)
    got, got_failures, got_meta = read_all(merged)
    assert got_meta == want_meta and set(got_failures) == set(want_failures) == BAD
    assert sorted(got) == sorted(want)
    for vid in want:
        np.testing.assert_array_equal(got[vid].features, want[vid].features)
        assert got[vid].num_frames == want[vid].num_frames


def crash_on_boom(conn, config, cv_threads):
    """Stand-in worker (same signature as extract._worker_main): dies hard on the video 'boom'."""
    while (task := conn.recv()) is not None:
        if task.video_id == "boom":
            os._exit(3)  # like FFmpeg crashing: no exception, no message
        conn.send(Finished(task.video_id, 16, 0.64, 1))


def test_a_dead_worker_fails_its_video_and_is_replaced(tmp_path):
    tasks = [VideoTask(v, tmp_path / f"{v}.mp4") for v in ("a", "boom", "c", "d")]
    pool = _WorkerPool(tasks, ExtractConfig(workers=1), target=crash_on_boom)
    try:
        messages = list(pool.messages())
    finally:
        pool.close()
    finished = [m.video_id for m in messages if isinstance(m, Finished)]
    failed = {m.video_id: m.reason for m in messages if isinstance(m, Failed)}
    assert finished == ["a", "c", "d"]  # the replacement worker took the rest
    assert list(failed) == ["boom"] and "worker process died (exit code 3)" in failed["boom"]


# ---- the commands, with real (random-weight) I3D checkpoints ----


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    paths = {}
    for name, channels, seed in (("rgb", 3, 0), ("rgb_other", 3, 1), ("flow", 2, 2)):
        torch.manual_seed(seed)
        paths[name] = root / f"{name}.pt"
        torch.save(InceptionI3d(channels).state_dict(), paths[name])
    return paths


@pytest.fixture(scope="module")
def cli_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_videos")
    write_video(root / "v1.mp4", 24, 25, size=(64, 48))  # 24 frames -> 2 snippets (16 + 8-frame tail)
    write_video(root / "v2.mp4", 12, 30, size=(64, 48))  # 12/30 s -> 10 frames -> 1 snippet
    (root / "v3.mp4").write_bytes(b"")
    return root


def test_cli_extract_records_failures_and_weights_matter(cli_videos, weights, tmp_path, capsys):
    # DIS flow keeps this fast (TV-L1 takes ~0.2 s per frame pair even at 32 px on this CPU)
    base = [str(cli_videos), "--flow", "dis", "--flow-weights", str(weights["flow"]), "--workers", "0", *CLI_SMALL]
    out1, out2 = tmp_path / "s1.h5", tmp_path / "s2.h5"
    assert main(["extract", *base, "--out", str(out1), "--rgb-weights", str(weights["rgb"])]) == 0
    assert f"{out1}: 2 extracted, 0 skipped (already done), 1 failed" in capsys.readouterr().out
    only_v1 = [str(cli_videos / "v1.mp4"), *base[1:]]
    assert main(["extract", *only_v1, "--out", str(out2), "--rgb-weights", str(weights["rgb_other"])]) == 0
    first, failures, meta = read_all(out1)
    second, _, meta2 = read_all(out2)
    assert set(first) == {"v1", "v2"} and set(failures) == {"v3"}
    assert [first["v1"].num_snippets, first["v2"].num_snippets] == [2, 1]
    assert meta.stream_dims == (1024, 1024) and meta.backbone.startswith("i3d rgb:") and "flow:dis:" in meta.backbone
    assert meta.backbone != meta2.backbone  # the weights' digests are part of the note
    a, b = first["v1"].features, second["v1"].features
    assert not np.allclose(a[:, :1024], b[:, :1024])  # other rgb weights -> other rgb features
    np.testing.assert_array_equal(a[:, 1024:], b[:, 1024:])  # same flow weights -> same flow features
    assert np.abs(a[0] - a[1]).max() > 0  # snippets differ (the video moves)

    # the same command again resumes: nothing to do
    assert main(["extract", *base, "--out", str(out1), "--rgb-weights", str(weights["rgb"])]) == 0
    assert "0 extracted, 2 skipped (already done), 1 failed" in capsys.readouterr().out
    # other weights into the same store: refused, store untouched
    assert main(["extract", *base, "--out", str(out1), "--rgb-weights", str(weights["rgb_other"])]) == 2
    assert "store settings differ" in capsys.readouterr().err


def test_cli_flow_none_and_torchrun_sharding(cli_videos, weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    args = ["extract", str(cli_videos), "--rgb-weights", str(weights["rgb"]), "--flow", "none", "--workers", "0", *CLI_SMALL]
    assert main([*args, "--out", str(tmp_path / "all.h5")]) == 2
    assert "must contain {rank}" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "part-{rank}.h5")]) == 0
    videos, failures, meta = read_all(tmp_path / "part-1.h5")
    assert list(videos) == ["v2"] and failures == {}  # sorted v1, v2, v3: rank 1 of 2 takes v2
    assert meta.streams == ("rgb",) and meta.stream_dims == (1024,) and videos["v2"].features.shape == (1, 1024)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    assert main([*args, "--shard", "0/2", "--out", str(tmp_path / "part-{rank}.h5")]) == 0
    assert main(["merge-stores", str(tmp_path / "part-0.h5"), str(tmp_path / "part-1.h5"), "--out", str(tmp_path / "m.h5")]) == 0
    assert "m.h5: 2 videos from 2 stores, 1 failed videos listed" in capsys.readouterr().out
    merged, failures, _ = read_all(tmp_path / "m.h5")
    assert sorted(merged) == ["v1", "v2"] and set(failures) == {"v3"}
    assert main(["merge-stores", str(tmp_path / "part-0.h5"), str(tmp_path / "nope.h5"), "--out", str(tmp_path / "x.h5")]) == 2
    assert "nope.h5: feature store not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rgb-weights", "missing.pt", "--flow", "none"], "I3D weights file not found: missing.pt"),
        (["--rgb-weights", "{flow}", "--flow", "none"], "do not match the pytorch-i3d InceptionI3d layout"),
        (["--rgb-weights", "{rgb}", "--flow", "dis"], "needs --flow-weights"),
        (["--rgb-weights", "{rgb}", "--flow", "dis", "--flow-weights", "{flow}", "--flow-device", "cpu"], "runs TV-L1 only"),
        (["--rgb-weights", "{rgb}", "--flow", "none", "--shard", "2/2"], "--shard 2/2"),
        (["--rgb-weights", "{rgb}", "--flow", "none", "--fps", "0"], "fps must be positive"),
        (["--rgb-weights", "{rgb}", "--flow", "none", "--sampler", "motion"], "nothing to skip"),
        (["--rgb-weights", "{rgb}", "--flow", "none", "--sampler", "motion", "--budget", "0"], "budget must be in (0, 1]"),
        (["--rgb-weights", "{rgb}", "--flow", "none", "--sampler", "learned", "--sampler-scope", "all"], "needs a skim model"),
        (["--rgb-weights", "{rgb}", "--flow", "none", "--sampler", "learned", "--sampler-scope", "all", "--sampler-model", "nope.pt"], "nope.pt"),
    ],
)
def test_cli_errors_are_one_line(cli_videos, weights, tmp_path, capsys, extra, message):
    extra = [e.format(rgb=weights["rgb"], flow=weights["flow"]) for e in extra]
    code = main(["extract", str(cli_videos), "--out", str(tmp_path / "s.h5"), *extra, *CLI_SMALL])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("wsal extract: error: ")
    assert not (tmp_path / "s.h5").exists()


def test_flow_device_auto_and_cuda_without_a_gpu():
    assert resolve_flow_device("auto", "tvl1", "cpu") == "opencv"  # CPU extraction keeps OpenCV
    assert resolve_flow_device("auto", "dis", "cpu") == "opencv"  # only TV-L1 has a torch version
    assert resolve_flow_device("auto", "dis", "cuda:1") == "opencv"
    assert resolve_flow_device("auto", "tvl1", "cuda:1") == "cuda:1"  # flow on the extraction's GPU
    assert resolve_flow_device("cuda", "tvl1", "cuda:1") == "cuda:1"
    assert resolve_flow_device("cpu", "tvl1", "cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(WsalError, match="--flow-device cuda: CUDA is not available"):
            resolve_flow_device("cuda", "tvl1", "cpu")


def test_cli_flow_device_runs_torch_tvl1_and_the_store_says_so(cli_videos, weights, tmp_path, capsys):
    """--flow-device cpu: wsal's torch TV-L1 in the workers; rgb is untouched, flow features close to
    OpenCV's, and the store's backbone names the implementation so the two are never mixed."""
    video = [str(cli_videos / "v1.mp4"), "--flow", "tvl1", "--flow-weights", str(weights["flow"]), "--rgb-weights", str(weights["rgb"]), *CLI_SMALL]
    torch_store, cv_store = tmp_path / "torch.h5", tmp_path / "cv.h5"
    assert main(["extract", *video, "--workers", "1", "--flow-device", "cpu", "--out", str(torch_store)]) == 0
    assert main(["extract", *video, "--workers", "0", "--flow-device", "opencv", "--out", str(cv_store)]) == 0
    (got, _, meta), (ref, _, ref_meta) = read_all(torch_store), read_all(cv_store)
    assert "flow:tvl1-torch:" in meta.backbone and "flow:tvl1:" in ref_meta.backbone
    a, b = got["v1"].features, ref["v1"].features
    np.testing.assert_array_equal(a[:, :1024], b[:, :1024])
    cosine = (a[:, 1024:] * b[:, 1024:]).sum(1) / (np.linalg.norm(a[:, 1024:], axis=1) * np.linalg.norm(b[:, 1024:], axis=1))
    assert cosine.min() > 0.99 and not np.array_equal(a[:, 1024:], b[:, 1024:]), cosine  # close, yet not OpenCV itself
    capsys.readouterr()
    assert main(["extract", *video, "--workers", "0", "--flow-device", "opencv", "--out", str(torch_store)]) == 2
    assert "store settings differ" in capsys.readouterr().err  # resuming with the other TV-L1 is refused


def test_cli_no_videos_found(tmp_path, weights, capsys):
    (tmp_path / "empty_dir").mkdir()
    code = main(["extract", str(tmp_path / "empty_dir"), "--out", str(tmp_path / "s.h5"), "--rgb-weights", str(weights["rgb"]), "--flow", "none"])
    assert code == 2 and "no videos found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def burst_video(tmp_path_factory):
    from research.synthetic_video import write_burst_video

    path = tmp_path_factory.mktemp("burst") / "burst.mp4"
    write_burst_video(path, 160, bursts=[(48, 80)], size=(64, 64))  # 10 snippets; the disc moves in snippets 3 and 4
    return path


@pytest.mark.parametrize("scope", ["flow", "all"])
def test_motion_sampler_skips_flow_of_unkept_snippets(burst_video, tmp_path, scope):
    from wsal.features.sampler import SamplerConfig, plan_video

    videos = find_videos([burst_video])
    dense_out, sampled_out = tmp_path / "dense.h5", tmp_path / "sampled.h5"
    extract_store(videos, dense_out, ExtractConfig(workers=0, **SMALL), stand_in_models(), "cpu", "test")
    config = ExtractConfig(workers=0, sampler="motion", budget=0.5, sampler_scope=scope, **SMALL)
    extract_store(videos, sampled_out, config, stand_in_models(), "cpu", "test")
    dense = read_all(dense_out)[0]["burst"]
    sampled = read_all(sampled_out)[0]["burst"]
    kept = sampled.kept
    assert dense.kept is None and kept is not None
    np.testing.assert_array_equal(kept, plan_video(burst_video, config.grid(), SamplerConfig(budget=0.5)).kept)
    assert kept[3] and kept[4] and kept.sum() <= 5  # the moving snippets are kept, within the budget
    rgb, flow = sampled.features[:, :1024], sampled.features[:, 1024:]
    # kept snippets: the same features as without the sampler
    np.testing.assert_allclose(sampled.features[kept], dense.features[kept], rtol=1e-5, atol=1e-5)
    # skipped snippets: the zero-flow clip's feature (the stand-in model maps zero flow to 0)
    assert not flow[~kept].any()
    if scope == "flow":
        np.testing.assert_allclose(rgb, dense.features[:, :1024], rtol=1e-5, atol=1e-5)
    else:  # rgb copied from the nearest kept snippet (ties: the earlier one)
        kept_rows = np.flatnonzero(kept)
        for i in np.flatnonzero(~kept):
            nearest = kept_rows[np.argmin(np.abs(kept_rows - i))]
            np.testing.assert_array_equal(rgb[i], rgb[nearest])


@pytest.fixture(scope="module")
def sampler_videos(tmp_path_factory):
    """A folder with the two burst videos of EXAMPLE_BURSTS (96x96, 25 fps, about 30 % motion)."""
    root = tmp_path_factory.mktemp("sampler_videos")
    write_example_burst_videos(root)
    return root


@pytest.mark.parametrize("scope", ["flow", "all"])
def test_sampled_store_keeps_the_motion_snippets_within_budget(sampler_videos, tmp_path, scope):
    """The sampler end to end, untimed part: the kept masks of an extracted store (bench/extract_sampler.py times it)."""
    from wsal.features.sampler import max_kept
    from research.synthetic_video import motion_snippets

    config = ExtractConfig(workers=0, sampler="motion", budget=0.5, sampler_scope=scope, **{**SMALL, "flow": "dis"})
    out = tmp_path / "sampled.h5"
    extract_store(find_videos([sampler_videos]), out, config, stand_in_models(), "cpu", "test")
    videos, failures, meta = read_all(out)
    assert sorted(videos) == sorted(EXAMPLE_BURSTS) and not failures
    moving_total = moving_kept = 0
    for name, (frames, bursts) in EXAMPLE_BURSTS.items():
        kept = videos[name].kept
        assert kept.shape == (num_snippets(frames, config.grid()),)
        assert kept.sum() <= max_kept(len(kept), 0.5)  # the budget holds per video
        moving = motion_snippets(bursts, np.arange(len(kept)) * meta.stride_frames, meta.clip_len_frames)
        moving_total, moving_kept = moving_total + moving.sum(), moving_kept + (kept & moving).sum()
    assert moving_kept >= 0.98 * moving_total


@pytest.mark.slow
def test_sixty_second_video_through_the_cli(tmp_path, weights, capsys):
    """A whole video through `wsal extract`: 60 s, 25 fps, 320x240 -> 93 full snippets + the 12-frame tail = 94 rows of
    2048-d features on the SnippetGrid; other rgb weights change the rgb features; `wsal train` takes the store.
    (About 15 s on 2 CPU cores: random I3D at a 32 px crop, DIS flow.)"""
    from wsal.annotations import write_ground_truth
    from wsal.timeline import SnippetGrid

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "video_validation_0000001.mp4", 1500, 25, size=(320, 240))
    big = ["--resize", "40", "--crop", "32", "--device", "cpu", "--batch-size", "32", "--workers", "1"]
    store = tmp_path / "store.h5"
    assert main(["extract", str(videos), "--flow", "dis", "--flow-weights", str(weights["flow"]),
                 "--rgb-weights", str(weights["rgb"]), "--out", str(store), *big]) == 0  # fmt: skip
    assert "1 extracted, 0 skipped (already done), 0 failed" in capsys.readouterr().out
    first, failures, meta = read_all(store)
    video = first["video_validation_0000001"]
    assert not failures and video.features.shape == (94, 2048) and video.kept is None
    assert video.num_frames == 1500 and video.duration_s == pytest.approx(60.0)
    grid = SnippetGrid(meta.fps, meta.clip_len_frames, meta.stride_frames)
    assert (meta.fps, meta.clip_len_frames, meta.stride_frames) == (25.0, 16, 16)
    assert grid.num_full_snippets(video.num_frames) == 93
    np.testing.assert_allclose(grid.start_s(np.arange(94)), 0.64 * np.arange(94))
    assert grid.end_s(92) == pytest.approx(59.52) and grid.end_s(93) == pytest.approx(60.16)  # the tail row: 12 real frames
    assert grid.snippet_at(59.99) == 93
    assert np.isfinite(video.features).all() and np.abs(np.diff(video.features, axis=0)).max() > 0
    other_store = tmp_path / "other.h5"
    assert main(["extract", str(videos), "--flow", "dis", "--flow-weights", str(weights["flow"]),
                 "--rgb-weights", str(weights["rgb_other"]), "--out", str(other_store), *big]) == 0  # fmt: skip
    other = read_all(other_store)[0]["video_validation_0000001"].features
    assert other.shape == (94, 2048) and not np.allclose(video.features[:, :1024], other[:, :1024])  # other rgb weights
    np.testing.assert_array_equal(video.features[:, 1024:], other[:, 1024:])  # same flow weights, same flow features

    gt = tmp_path / "gt.json"
    write_ground_truth(
        {"video_validation_0000001": {"subset": "validation", "duration": 60.0,
                                      "annotations": [{"segment": [10.0, 20.0], "label": "Move"}]}},
        gt,
    )  # fmt: skip
    config = tmp_path / "tiny.toml"
    config.write_text("[data]\nnum_snippets = 32\n\n[mil]\nembed_dim = 8\n\n[train]\nmax_steps = 2\nbatch_size = 1\n"
                      "checkpoint_every = 2\nlog_every = 1\n")  # fmt: skip
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--features", str(store), "--annotations", str(gt),
                 "--out", str(run), "--device", "cpu"]) == 0  # fmt: skip
    assert (run / "model.pt").is_file()


def test_learned_sampler_in_extract(sampler_videos, tmp_path):
    """--sampler learned: the skim model's scores drive the same policy; its mask is stored."""
    import dataclasses

    from wsal.features.sampler import SamplerConfig, coarse_signals, max_kept, plan_video
    from wsal.features.skim import fit_skim, load_skim, save_skim, skim_inputs
    from research.synthetic_video import motion_snippets

    grid = ExtractConfig().grid()
    inputs, targets, moving = [], [], {}
    for name, (frames, bursts) in EXAMPLE_BURSTS.items():  # teacher: attention 1 where the disc moves
        signals = coarse_signals(sampler_videos / f"{name}.mp4", grid)
        moving[name] = motion_snippets(bursts, np.arange(len(signals.motion)) * grid.stride_frames, grid.clip_len_frames)
        inputs.append(skim_inputs(signals))
        targets.append(np.where(moving[name], 1.0, 0.0).astype(np.float32))
    model = tmp_path / "skim.pt"
    save_skim(fit_skim(inputs, targets, grid, SamplerConfig()), model)
    skim = load_skim(model)

    config = ExtractConfig(workers=0, sampler="learned", sampler_model=str(model), budget=0.5, **{**SMALL, "flow": "dis"})
    out = tmp_path / "learned.h5"
    extract_store(find_videos([sampler_videos]), out, config, stand_in_models(), "cpu", "test")
    videos = read_all(out)[0]
    for name in EXAMPLE_BURSTS:
        kept = videos[name].kept
        expected = plan_video(sampler_videos / f"{name}.mp4", grid, dataclasses.replace(skim.sampler, budget=0.5), skim.scores)
        np.testing.assert_array_equal(kept, expected.kept)
        assert kept.sum() <= max_kept(len(kept), 0.5) and (kept & moving[name]).sum() >= 0.98 * moving[name].sum()
        assert not videos[name].features[~kept, 1024:].any()  # zero-flow stand-in, as with the motion sampler

    with pytest.raises(WsalError, match="needs a skim model"):
        ExtractConfig(sampler="learned")
    with pytest.raises(WsalError, match="fitted on snippets"):
        other_grid = ExtractConfig(workers=0, sampler="learned", sampler_model=str(model), snippet_frames=8, **SMALL)
        extract_store(find_videos([sampler_videos]), tmp_path / "x.h5", other_grid, stand_in_models(), "cpu", "test")


def test_cli_all_videos_failed_is_an_error(tmp_path, weights, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b"):
        (videos / f"{name}.mp4").write_bytes(b"not a video at all")
    out = tmp_path / "s.h5"
    code = main(["extract", str(videos), "--out", str(out), "--rgb-weights", str(weights["rgb"]), "--flow", "none",
                 "--workers", "0", "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("wsal extract: error: ") and "every one of the 2 videos failed" in err[-1]
    assert any(line.startswith("wsal extract: failed: a: ") for line in err)
    with FeatureStore(out) as store:  # the failures are recorded for the user to read
        assert sorted(store.failures()) == ["a", "b"]
