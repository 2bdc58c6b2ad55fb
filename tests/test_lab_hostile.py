"""`seqgen lab report` on tampered results folders: wrong JSON types, deep nesting, a FIFO, UTF-16, truncated
or non-gzip files each give one line naming the file, never a traceback or a hang; on a full disk the report
writes nothing (all its files or none)."""

from __future__ import annotations

import errno
import gzip
import json
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest

from seqgen.errors import SeqgenError
from seqgen.lab.records import FIELDS, PACKED
from seqgen.lab.report import write_report

COMMITTED = Path(__file__).parents[1] / "results" / "lab" / "seed001_digits_long" / PACKED
WRONG = {str: 5, bool: "yes", int: "7", list: {"a": 1}}


@pytest.fixture(scope="module")
def runs() -> list[dict]:
    """Six real run records (from the committed sweep)."""
    return [json.loads(line) for line in gzip.decompress(COMMITTED.read_bytes()).splitlines()[:6]]


def _population(folder: Path, runs: list[dict], name: str = "p.json") -> Path:
    path = folder / "runs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"population_id": "p", "spec": {"data_seed": 1}, "runs": runs}))
    return path


def _one_line(folder: Path, name: str) -> str:
    with pytest.raises(SeqgenError) as info:
        write_report(folder, folder / "report")
    message = str(info.value)
    assert "\n" not in message and name in message, message
    assert not (folder / "report").exists() or not any((folder / "report").iterdir())
    return message


def _wrong_value(value):
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, list):
        return [["nested"]] if value and not isinstance(value[0], list) else ["x"]
    return WRONG.get(type(value), None)


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_field_of_the_wrong_type_is_one_line(tmp_path, runs, field):
    bad = [dict(r) for r in runs]
    bad[2][field] = _wrong_value(bad[2][field])
    path = _population(tmp_path, bad)
    assert field in _one_line(tmp_path, str(path))


@pytest.mark.parametrize("field", ["missing", "settings", "settings.lr", "settings.task", "series"])
def test_missing_fields_bad_settings_and_ragged_series_are_one_line(tmp_path, runs, field):
    bad = [dict(r) for r in runs]
    if field == "missing":
        del bad[1]["metric_curve"]
    elif field == "settings":
        bad[1]["settings"] = {"task": {"nested": [1]}}
    elif field == "series":
        bad[1]["profiles"] = [[1.0]]
    else:
        bad[1]["settings"] = {**bad[1]["settings"], field.split(".")[1]: [] if field == "settings.task" else "fast"}
    _one_line(tmp_path, str(_population(tmp_path, bad)))


@pytest.mark.parametrize(
    "content",
    [b"", b"[1, 2]", b'{"runs": 5, "spec": {}}', b'{"runs": [5], "spec": {"data_seed": 1}, "population_id": "p"}',
     b"[" * 200_000 + b"]" * 200_000, b'{"population_id": "p", "spec": {"data_seed": "x"}, "runs": []}',
     json.dumps({"runs": []}).encode("utf-16"), b"\xff\xfe\x00garbage", b'{"population_id": "p", "runs": [{"run'],
)  # fmt: skip
def test_broken_population_files_are_one_line(tmp_path, content):
    path = tmp_path / "runs" / "p.json"
    path.parent.mkdir()
    path.write_bytes(content)
    _one_line(tmp_path, str(path))


def test_a_truncated_real_file_is_one_line(tmp_path, runs):
    path = _population(tmp_path, runs)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    assert "not valid JSON" in _one_line(tmp_path, str(path))


@pytest.mark.parametrize("damage", ["truncated", "not gzip", "bad line", "wrong type"])
def test_a_damaged_packed_file_is_one_line(tmp_path, runs, damage):
    lines = [json.dumps({**r, "population_id": "p", "data_seed": 1}) for r in runs]
    if damage == "bad line":
        lines[3] = lines[3][:40]
    if damage == "wrong type":
        lines[3] = json.dumps({**runs[3], "population_id": 7, "data_seed": 1})
    data = gzip.compress("\n".join(lines).encode())
    data = {"truncated": data[: len(data) // 2], "not gzip": b"plain text, not gzip"}.get(damage, data)
    (tmp_path / PACKED).write_bytes(data)
    _one_line(tmp_path, str(tmp_path / PACKED))


def test_a_fifo_or_folder_among_the_results_is_refused_without_hanging(tmp_path, runs):
    _population(tmp_path, runs)
    os.mkfifo(tmp_path / "runs" / "q.json")  # reading it would block forever
    command = [sys.executable, "-m", "seqgen", "lab", "report", str(tmp_path), "--out", str(tmp_path / "r")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'runs' / 'q.json'}: not a regular file"
    ], done.stderr
    os.unlink(tmp_path / "runs" / "q.json")
    (tmp_path / "runs" / "d.json").mkdir()
    _one_line(tmp_path, "d.json")


def test_a_full_disk_writes_nothing(tmp_path, runs, monkeypatch):
    _population(tmp_path, runs)
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("the previous report")
    calls = []
    real = pathlib.Path.write_bytes

    def full(self, data):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    with pytest.raises(SeqgenError, match="No space left on device.*nothing was written"):
        write_report(tmp_path, out)
    monkeypatch.undo()
    assert [p.name for p in out.iterdir()] == ["report.md"] and (out / "report.md").read_text() == "the previous report"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_real_full_tmpfs_writes_nothing(tmp_path, runs):
    _population(tmp_path, runs)
    out = tmp_path / "tiny"
    out.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(out)], capture_output=True, check=False
    )
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        with pytest.raises(SeqgenError, match="nothing was written"):
            write_report(tmp_path, out)
        assert list(out.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(out)], check=True)


def test_a_bad_results_folder_is_reported_before_the_heavy_imports(tmp_path):
    """The one line comes before NumPy, SciPy and matplotlib are imported, and nothing is created."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "p.json").write_text('{"runs": 5')
    code = (
        "import sys\nfrom seqgen.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
        "    print(sorted(m for m in ('numpy', 'scipy', 'matplotlib', 'torch') if m in sys.modules), e.code)"
    )
    done = subprocess.run([sys.executable, "-c", code, "lab", "report", str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.stdout.strip() == "[] 1" and "not valid JSON" in done.stderr, (done.stdout, done.stderr)
    assert not (tmp_path / "o").exists()
