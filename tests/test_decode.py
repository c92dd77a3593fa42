import re
from fractions import Fraction

import av
import numpy as np
import pytest

from wsal.errors import WsalError
from wsal.features.decode import (
    DecodeConfig,
    DecodeError,
    TimestampResampler,
    VideoDecoder,
    decode_video,
    repeat_counts,
    resize_and_crop,
)
from research.synthetic_video import frame_index_of, write_video

RAW = DecodeConfig(resize_short=0, crop=0)  # keep the source pixels: the frame index stays readable


def reference_sources(starts_s, duration_s, fps):
    """Brute force: output frame k = last source frame with start <= k / fps, for k / fps < duration."""
    starts_s = [Fraction(s).limit_denominator(1000) for s in starts_s]
    duration_s = Fraction(duration_s).limit_denominator(1000)
    out = []
    k = 0
    while Fraction(k) / Fraction(fps) < Fraction(duration_s):
        t = Fraction(k) / Fraction(fps)
        out.append(max(j for j, s in enumerate(starts_s) if Fraction(s) <= t))
        k += 1
    return out


@pytest.mark.parametrize(
    ("fps", "n", "expected_frames"),
    [(25, 37, 37), (30, 37, 31), (24, 37, 39)],  # 37/30 s -> ceil(30.83) = 31; 37/24 s -> ceil(38.54) = 39
)
def test_constant_rate_resampled_by_timestamps(tmp_path, fps, n, expected_frames):
    path = tmp_path / f"v{fps}.mp4"
    write_video(path, n, fps, picture="index")
    frames, result = decode_video(path, RAW)
    assert result.num_frames == expected_frames == len(frames)
    assert result.source_frames == n
    assert result.duration_s == pytest.approx(n / fps)
    got = [frame_index_of(f) for f in frames]
    want = [j % 28 for j in reference_sources([Fraction(j, fps) for j in range(n)], Fraction(n, fps), 25)]
    assert got == want


def test_30fps_drops_every_sixth_frame(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, 12, 30, picture="index")
    frames, _ = decode_video(path, RAW)
    # t_k = 0, .04, .08, .12, .16, .2, .24, .28, .32, .36 -> source floor(30 t_k)
    assert [frame_index_of(f) for f in frames] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]


def test_variable_frame_rate_follows_real_timestamps(tmp_path):
    path = tmp_path / "vfr.mkv"
    times = [0.0, 0.1, 0.15, 0.16, 0.3, 0.31]
    write_video(path, len(times), 25, picture="index", codec="ffv1", times_s=times)
    frames, result = decode_video(path, RAW)
    # the last frame lasts 1/25 s (the stream's rate) -> duration 0.35 s -> ceil(8.75) = 9 frames
    assert result.duration_s == pytest.approx(0.35)
    # hand check: t = 0, .04, .08 -> 0; .12 -> 1; .16 (== start of 3) .. .28 -> 3; .32 -> 5 (start .31)
    assert [frame_index_of(f) for f in frames] == [0, 0, 0, 1, 3, 3, 3, 3, 5]
    assert [frame_index_of(f) for f in frames] == reference_sources(times, 0.35, 25)


def test_first_frame_is_time_zero_even_with_a_start_offset(tmp_path):
    path = tmp_path / "late.mkv"
    times = [1.0, 1.04, 1.08, 1.2]
    write_video(path, len(times), 25, picture="index", codec="ffv1", times_s=times)
    frames, result = decode_video(path, RAW)
    assert result.duration_s == pytest.approx(0.24)
    assert [frame_index_of(f) for f in frames] == [0, 1, 2, 2, 2, 3]


def test_repeat_counts_matches_brute_force(rng):
    for _ in range(50):
        gaps = rng.choice([0.0, 0.01, 0.02, 0.04, 0.05, 1 / 30, 0.1], size=int(rng.integers(1, 30)))
        starts = np.concatenate([[0.0], np.cumsum(gaps)])[:-1]
        starts = [Fraction(s).limit_denominator(1000) for s in starts]
        duration = starts[-1] + Fraction(1, 25)
        counts = repeat_counts(starts, duration, 25)
        expanded = [j for j, c in enumerate(counts) for _ in range(c)]
        assert expanded == reference_sources(starts, duration, 25)


def test_resampler_is_exact_over_long_videos():
    # 1 hour at 29.97 fps: with floats the boundaries would drift; fractions give exactly ceil(3600 * 25)
    resampler = TimestampResampler(25)
    step = Fraction(1001, 30000)
    total = sum(resampler.frames_until(step * (j + 1)) for j in range(107892))  # 107892 frames = 3599.96 s
    assert total == resampler.emitted == 90000  # ceil(107892 * 1001 / 30000 * 25) = ceil(89999.91)


def test_chunks_stream_and_agree_with_one_piece(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, 50, 25, size=(80, 60))
    whole, _ = decode_video(path, DecodeConfig(resize_short=48, crop=40))
    with VideoDecoder(path, DecodeConfig(resize_short=48, crop=40, chunk_frames=16)) as decoder:
        with pytest.raises(RuntimeError):
            decoder.result  # noqa: B018 - not known before the chunks are read
        chunks = list(decoder.chunks())
        assert [len(c) for c in chunks] == [16, 16, 16, 2]
        assert decoder.result.num_frames == 50
    assert whole.shape == (50, 40, 40, 3) and whole.dtype == np.uint8
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_resize_shorter_side_then_centre_crop():
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[:, 40:] = 200  # right half bright
    out = resize_and_crop(frame, 48, 40)  # 80x60 -> 64x48 -> centre 40x40 (columns 12..51)
    assert out.shape == (40, 40, 3)
    assert out[:, :18].max() == 0 and out[:, 22:].min() == 200  # the edge stays at the middle
    tall = resize_and_crop(np.zeros((100, 50, 3), np.uint8), 256, 224)  # portrait: width is the short side
    assert tall.shape == (224, 224, 3)
    assert resize_and_crop(np.zeros((100, 50, 3), np.uint8), 64, 0).shape == (128, 64, 3)


def test_60s_320x240_video_frame_count(tmp_path):
    # The 320x240 case at a reduced size (decoding and resizing do not change the count; this keeps it fast).
    path = tmp_path / "minute.mp4"
    write_video(path, 1500, 25, size=(64, 48), picture="index")
    with VideoDecoder(path, DecodeConfig(resize_short=32, crop=32, chunk_frames=256)) as decoder:
        count = sum(len(c) for c in decoder.chunks())
        assert count == decoder.result.num_frames == 1500
        assert decoder.result.duration_s == pytest.approx(60.0)


@pytest.fixture
def bad_files(tmp_path):
    good = tmp_path / "good.mp4"
    write_video(good, 30, 25)
    data = good.read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "random.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 3])
    audio = tmp_path / "audio.m4a"
    with av.open(str(audio), "w") as c:
        stream = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            c.mux(packet)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.mp4", "empty file"),
        ("random.mp4", "cannot open as a video"),
        ("truncated.mp4", "(no video stream|cannot open as a video)"),
        ("audio.m4a", "no video stream"),
        ("missing.mp4", "not found"),
    ],
)
def test_unreadable_files_raise_one_line_decode_error(bad_files, name, message):
    with pytest.raises(DecodeError) as info:
        decode_video(bad_files / name)
    text = str(info.value)
    assert isinstance(info.value, WsalError)
    assert name in text and re.search(message, text) and "\n" not in text


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        DecodeConfig(fps=0)
    with pytest.raises(ValueError):
        DecodeConfig(resize_short=200, crop=224)
    with pytest.raises(ValueError):
        DecodeConfig(chunk_frames=0)


def test_frame_smaller_than_crop_without_resize(tmp_path):
    path = tmp_path / "small.mp4"
    write_video(path, 5, 25, size=(64, 48))
    with pytest.raises(DecodeError, match="smaller than the 56px crop"):
        decode_video(path, DecodeConfig(resize_short=0, crop=56))
