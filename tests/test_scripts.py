"""The scripts under scripts/ run: every one answers --help, and the two training benchmarks that broke when the
recurrent state moved (bench_text, bench_music_speed) train a step and write their JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))


def _run(*args: str, data: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120", **({"SEQGEN_DATA_DIR": str(data)} if data else {})}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_answers_help(script):
    done = _run(f"scripts/{script}", "--help")
    assert done.returncode == 0 and "usage" in done.stdout.lower(), done.stderr[-2000:]


def test_bench_text_trains_and_writes_json(tmp_path):
    out = tmp_path / "text.json"
    done = _run("scripts/bench_text.py", "--steps", "2", "--length", "10", "--hidden", "8", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text())


def test_bench_music_speed_trains_and_writes_json(tmp_path, data_dir):
    out = tmp_path / "music.json"
    args = ["--epochs", "1", "--batch-size", "100", "--json", str(out)]
    done = _run("scripts/bench_music_speed.py", *args, data=data_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text())
