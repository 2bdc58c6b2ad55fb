"""Several outputs are written all or nothing: a failure midway leaves the folder as it was."""

import os

import pytest

from seqgen import fileio
from seqgen.errors import SeqgenError


def test_a_failed_rename_midway_restores_replaced_files_and_removes_new_ones(tmp_path, monkeypatch):
    old = tmp_path / "a.mid"
    old.write_bytes(b"old song")
    paths = [old, tmp_path / "b.mid", tmp_path / "c.mid"]
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # a.mid and b.mid are in place when c.mid fails
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", failing_replace)
    with pytest.raises(SeqgenError, match="No space left on device"), fileio.atomic_paths(paths) as temps:
        for tmp, content in zip(temps, (b"new a", b"new b", b"new c")):
            tmp.write_bytes(content)
    monkeypatch.setattr(fileio.os, "replace", real_replace)
    assert old.read_bytes() == b"old song"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mid"]


def test_success_replaces_every_file_and_leaves_no_temp(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    fileio.write_texts_atomic([tmp_path / "a.txt", tmp_path / "b.txt"], ["one", "two"])
    assert [p.read_text() for p in sorted(tmp_path.iterdir())] == ["one", "two"]
