"""wsal.outputs: the one atomic writer, and output paths checked before the work."""

from __future__ import annotations

import os

import pytest

from wsal.errors import WsalError
from wsal.outputs import atomic_path, check_writable, write_text_atomic


def test_a_failed_write_leaves_the_target_as_it_was_and_no_temp_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_two_writers_of_one_target_get_their_own_temp_files(tmp_path):
    target = tmp_path / "sub" / "out.txt"  # the folder is created
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == target.parent
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first"  # the outer block ends last: its file is the one that stays
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_written_files_get_the_mode_open_would_give(tmp_path):
    old = os.umask(0o027)
    try:
        write_text_atomic("x", tmp_path / "a.txt")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_check_writable_refuses_a_folder_and_a_path_under_a_file(tmp_path):
    with pytest.raises(WsalError, match="is a folder"):
        check_writable(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(WsalError, match="cannot write the output here"):
        check_writable(tmp_path / "file" / "out.json")
