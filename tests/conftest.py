"""Shared pytest fixtures."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder ($SEQGEN_DATA_DIR, else <repo>/../shared/data); skips the test if absent."""
    path = Path(os.environ.get("SEQGEN_DATA_DIR") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"shared data folder not found: {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests use tiny tensors: one intra-op thread avoids contention on a 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class CliResult:
    """What one `seqgen ...` call did: exit code and what it printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def one_line_error(self) -> str:
        """The single `error: ...` line of a failed call (asserts there is exactly one and no traceback)."""
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        assert self.code != 0 and len(lines) == 1 and lines[0].startswith("error:"), self.output
        return lines[0]


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the real command line (`seqgen.cli.main`) in this process: the one way tests invoke the CLI."""
    from clirun import exit_code

    monkeypatch.setenv("COLUMNS", "200")

    def run(*args) -> CliResult:
        capsys.readouterr()
        code = exit_code(*args)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
