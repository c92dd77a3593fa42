"""wsal.npyfile: object-array .npy files are read without running code from them."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wsal.npyfile import load_npy


class _Payload:
    """Unpickles to a call of os.system: what a crafted .npy can carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted_npy(path: Path, marker: Path, protocol: int = 3) -> Path:
    """An object-array .npy whose pickle calls os.system (written by hand: np.save would need the payload class)."""
    array = np.empty(2, dtype=object)
    array[0], array[1] = np.zeros((2, 3), np.float32), _Payload(marker)
    header = {"descr": "|O", "fortran_order": False, "shape": (2,)}
    with path.open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        pickle.dump(array, fh, protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_a_crafted_object_array_is_refused_before_it_runs(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = _crafted_npy(tmp_path / "evil.npy", marker, protocol)
    with pytest.raises(pickle.UnpicklingError, match="refusing to call posix.system|refusing to call os.system"):
        load_npy(path)
    assert not marker.exists()


def test_object_arrays_of_arrays_strings_and_numbers_round_trip(tmp_path):
    array = np.empty(4, dtype=object)
    array[:] = [np.arange(6, dtype=np.float32).reshape(2, 3), "HighJump", b"v_abc", np.float64(2.5)]
    for protocol_path in ("a.npy",):
        np.save(tmp_path / protocol_path, array, allow_pickle=True)
        back = load_npy(tmp_path / protocol_path)
        assert back.dtype == object and back.shape == (4,)
        np.testing.assert_array_equal(back[0], array[0])
        assert back[1:].tolist() == ["HighJump", b"v_abc", 2.5]
    plain = np.arange(5.0)
    np.save(tmp_path / "plain.npy", plain)
    np.testing.assert_array_equal(load_npy(tmp_path / "plain.npy"), plain)


def test_not_an_npy_and_truncated_files(tmp_path):
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(ValueError):
        load_npy(tmp_path / "text.npy")
    array = np.empty(2, dtype=object)
    array[:] = [np.zeros(3), np.ones(3)]
    np.save(tmp_path / "full.npy", array, allow_pickle=True)
    data = (tmp_path / "full.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) - 20])
    with pytest.raises(pickle.UnpicklingError, match="truncated|damaged"):
        load_npy(tmp_path / "cut.npy")


def test_the_real_wtalc_annotation_files_read_as_numpy_reads_them(shared_data):
    for folder in ("activitynet/ActivityNet1.2-Annotations", "thumos14/Thumos14reduced-Annotations"):
        for path in sorted((shared_data / folder).glob("*.npy")):
            ours, numpys = load_npy(path, "latin1"), np.load(path, allow_pickle=True, encoding="latin1")
            assert ours.dtype == numpys.dtype and ours.shape == numpys.shape, path
            for a, b in zip(ours.reshape(-1), numpys.reshape(-1)):
                assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, path


def _wsal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wsal.cli", *args], capture_output=True, text=True, timeout=120)


def test_commands_refuse_crafted_wtalc_files_in_one_line(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "ann"
    folder.mkdir()
    np.save(folder / "videoname.npy", np.array([b"v1", b"v2"]))
    _crafted_npy(folder / "segments.npy", marker)
    for name in ("subset", "labels"):
        np.save(folder / f"{name}.npy", np.array([b"validation", b"test"]))
    out = _wsal("annotations", "--format", "wtalc", str(folder), "--out", str(tmp_path / "gt.json"))
    assert out.returncode == 2 and not marker.exists(), out.stderr
    assert out.stderr.startswith("wsal annotations: error: ") and len(out.stderr.strip().splitlines()) == 1
    assert "refusing to call" in out.stderr
    features = _crafted_npy(tmp_path / "JOINTFeatures.npy", marker)
    out = _wsal("import-features", "--layout", "wtalc", str(features), "--annotations-dir", str(folder),
                "--out", str(tmp_path / "store.h5"))  # fmt: skip
    assert out.returncode == 2 and not marker.exists(), out.stderr
    assert out.stderr.startswith("wsal import-features: error: ") and len(out.stderr.strip().splitlines()) == 1
    assert "refusing to call" in out.stderr
