"""wsal.raw (raw-output file) and `wsal localize --from-raw` on hand-made outputs."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from wsal.cli import main
from wsal.config import ExperimentConfig, LocalizeConfig
from wsal.errors import WsalError
from wsal.raw import RawHeader, RawReader, RawVideo, RawWriter
from wsal.timeline import SnippetGrid

CLASSES = ("Jump", "Run")


def header(**localize) -> RawHeader:
    config = ExperimentConfig(localize=LocalizeConfig(act_thresholds=(0.5,), **localize))
    return RawHeader(classes=CLASSES, grid=SnippetGrid(25.0, 16, 16), config=config, subset="test", checkpoint="c.pt")


def video(vid: str, first: int, last: int, T: int = 20, num_snippets: int | None = None, change=False) -> RawVideo:
    cas = np.zeros((T, 2), dtype=np.float32)
    cas[first : last + 1, 1] = 0.9
    att = np.zeros(T, dtype=np.float32)
    att[first : last + 1] = 1.0
    return RawVideo(
        video_id=vid,
        cas_probs=cas,
        attention=att,
        video_scores=np.array([0.05, 0.9], dtype=np.float32),
        num_snippets=num_snippets or T,
        duration_s=12.5,
        change_scores=np.ones((2, T), dtype=np.float32) if change else None,
    )


def test_roundtrip_keeps_arrays_header_and_config(tmp_path):
    path = tmp_path / "raw.h5"
    with RawWriter(path, header(nms="soft")) as writer:
        writer.add(video("v/1", 2, 4, change=True))  # a '/' in the id survives
        writer.add(video("v2", 5, 9, T=10, num_snippets=40))
    assert not list(tmp_path.glob("*.tmp"))
    with RawReader(path) as reader:
        assert reader.video_ids == ["v/1", "v2"]
        assert reader.header.classes == CLASSES
        assert reader.header.grid == SnippetGrid(25.0, 16, 16)
        assert reader.header.config.localize.nms == "soft"
        assert reader.header.config.localize.act_thresholds == (0.5,)
        v1, v2 = reader.read("v/1"), reader.read("v2")
    np.testing.assert_array_equal(v1.cas_probs, video("v/1", 2, 4).cas_probs)
    assert v1.change_scores.shape == (2, 20) and v2.change_scores is None
    assert v1.duration_s == 12.5 and v1.num_original_snippets is None
    assert v2.num_original_snippets == 40


def test_base_probs_are_kept_when_given_and_checked(tmp_path):
    path = tmp_path / "raw.h5"
    with_base = video("a", 1, 2)
    with_base.base_probs = np.full((20, 2), 0.25, dtype=np.float32)
    with RawWriter(path, header()) as writer:
        writer.add(with_base)
        writer.add(video("b", 1, 2))
    with RawReader(path) as reader:
        np.testing.assert_array_equal(reader.read("a").base_probs, with_base.base_probs)
        assert reader.read("b").base_probs is None
    bad = video("c", 1, 2)
    bad.base_probs = np.zeros((19, 2), dtype=np.float32)
    with RawWriter(tmp_path / "raw2.h5", header()) as writer:
        with pytest.raises(WsalError, match=r"'c'.*base_probs shape \(19, 2\) is not \(20, 2\)"):
            writer.add(bad)


def test_unknown_duration_is_none(tmp_path):
    path = tmp_path / "raw.h5"
    v = video("a", 1, 2)
    v.duration_s = None
    with RawWriter(path, header()) as writer:
        writer.add(v)
    with RawReader(path) as reader:
        assert reader.read("a").duration_s is None


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "raw.h5"
    with pytest.raises(RuntimeError):
        with RawWriter(path, header()) as writer:
            writer.add(video("a", 1, 2))
            raise RuntimeError("killed")
    assert not path.exists() and not list(tmp_path.glob("*.tmp"))


def test_bad_shapes_are_refused(tmp_path):
    v = video("a", 1, 2)
    v.attention = v.attention[:-1]
    with RawWriter(tmp_path / "raw.h5", header()) as writer:
        with pytest.raises(WsalError, match="'a'.*attention shape"):
            writer.add(v)


def test_bad_video_in_a_raw_file_is_found_when_opened(tmp_path):
    path = tmp_path / "raw.h5"
    with RawWriter(path, header()) as writer:
        writer.add(video("a", 1, 2))
    with h5py.File(path, "a") as f:
        del f["a"]["attention"]
        f["a"]["attention"] = np.zeros(3, np.float32)
    with pytest.raises(WsalError, match=r"video 'a': attention shape \(3,\) is not \(20,\)"):
        RawReader(path)
    with h5py.File(path, "a") as f:
        del f["a"]["attention"]
        del f["a"].attrs["num_snippets"]
    with pytest.raises(WsalError, match="video 'a' lacks dataset 'attention', attribute 'num_snippets'"):
        RawReader(path)


def test_not_a_raw_file(tmp_path):
    with pytest.raises(WsalError, match="not found"):
        RawReader(tmp_path / "none.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["schema_version"] = 1
    with pytest.raises(WsalError, match="not a wsal raw-output file"):
        RawReader(other)


def test_localize_from_raw_cli(tmp_path):
    raw = tmp_path / "raw.h5"
    with RawWriter(raw, header()) as writer:
        writer.add(video("a", 2, 4))
        writer.add(video("b", 5, 9, T=10, num_snippets=20))  # resampled: positions 5..9 = snippets 10..19
    out = tmp_path / "pred.json"
    assert main(["localize", "--from-raw", str(raw), "--out", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [d["label"] for d in results["a"]] == ["Run"]
    assert results["a"][0]["segment"] == pytest.approx([2 * 0.64, 5 * 0.64])
    assert results["b"][0]["segment"] == pytest.approx([10 * 0.64, 12.5])  # clipped at the 12.5 s duration
    assert results["a"][0]["score"] == pytest.approx(0.9 + 0.2 * 0.9, abs=1e-6)


def test_from_raw_overrides_change_post_processing_only(tmp_path, capsys):
    raw = tmp_path / "raw.h5"
    with RawWriter(raw, header()) as writer:
        writer.add(video("a", 2, 4))
    out = tmp_path / "pred.json"
    # threshold 0.95 is above the 0.9 bump: no proposal
    assert main(["localize", "--from-raw", str(raw), "--out", str(out), "--set", "localize.act_thresholds=[0.95]"]) == 0
    assert json.loads(out.read_text())["results"]["a"] == []
    assert main(["localize", "--from-raw", str(raw), "--out", str(out), "--set", "train.lr=1.0"]) == 2
    assert "localize.* keys" in capsys.readouterr().err
    assert main(["localize", "--from-raw", str(raw), "--out", str(out), "--set", "localize.nope=1"]) == 2
    assert "unknown key 'nope'" in capsys.readouterr().err


def test_localize_argument_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "p.json")
    assert main(["localize", "--out", out]) == 2
    assert "--checkpoint is required" in capsys.readouterr().err
    assert main(["localize", "--from-raw", str(tmp_path / "x.h5"), "--checkpoint", "c.pt", "--out", out]) == 2
    assert "drop --checkpoint" in capsys.readouterr().err
    assert main(["localize", "--from-raw", str(tmp_path / "x.h5"), "--subset", "test", "--out", out]) == 2
    assert "drop --subset" in capsys.readouterr().err
    assert main(["localize", "--from-raw", str(tmp_path / "x.h5"), "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "raw-output file not found" in err
