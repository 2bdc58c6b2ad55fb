"""Hostile lab designs: every bad value is one line naming the key and the file, found before any work;
a design too large to expand is refused before it is expanded; cells draw their own seeds unless paired."""

from __future__ import annotations

import math
import os
import time

import pytest
from typer.testing import CliRunner

from seqgen.errors import SeqgenError
from seqgen.lab import design as lab_design
from seqgen.lab.design import MAX_CELLS, expand, load_design, pack

GOOD = {"task": "adding", "length": 8, "hidden": 4, "steps": 6, "batch_size": 4, "eval_every": 3, "eval_size": 16}
BAD_VALUES = [
    *[(key, value, "should be ≥ 1") for key in ("hidden", "batch_size", "eval_size", "eval_every", "diag_every",
                                                 "steps") for value in (0, -3)],
    ("length", -1, "should be ≥ 0"),
    ("cell", "lstmm", "expected one of"),
    ("optimizer", "adamw", "expected one of"),
    ("momentum_schedule", "linear", "expected one of"),
    ("task", "parity", "expected one of"),
    ("init", "xavier", "expected one of"),
    ("lr", math.nan, "finite number > 0"),
    ("lr", -0.1, "finite number > 0"),
    ("lr", 0, "finite number > 0"),
    ("lr", math.inf, "finite number > 0"),
    ("clip", -1.0, "≥ 0"),
    ("momentum", 1.5, "in \\[0, 1\\)"),
    ("threshold", math.nan, "finite"),
    ("steps", 2.5, "should be int"),
    ("hidden", True, "should be int"),
    ("lr", "fast", "should be float"),
]  # fmt: skip


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value).replace("'", '"')


def _write(tmp_path, text: str):
    path = tmp_path / "d.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("where", ["defaults", "block"])
@pytest.mark.parametrize("key,value,message", BAD_VALUES)
def test_every_bad_value_is_one_line_naming_key_and_file(tmp_path, where, key, value, message):
    defaults = {**GOOD, key: value} if where == "defaults" else GOOD
    block = {"cell": "tanh", "lr": 0.01} | ({key: value} if where == "block" else {})
    text = "[defaults]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in defaults.items())
    text += "[[block]]\n" + "".join(f"{k} = [{_toml_value(v)}]\n" for k, v in block.items())
    path = _write(tmp_path, text)
    with pytest.raises(SeqgenError, match=message) as info:
        load_design(path)
    line = str(info.value)
    assert "\n" not in line and str(path) in line and key in line


@pytest.mark.parametrize(
    "text,message",
    [('seed = "one"\n[[block]]\nlr = 0.01', "seed = 'one' should be an integer"),
     ("seed = 1.5\n[[block]]\nlr = 0.01", "seed = 1.5 should be an integer"),
     ("seed = -1\n[[block]]\nlr = 0.01", "seed = -1 should be an integer"),
     ('[[block]]\nlr = 0.01\nseeds = "8"', "seeds = '8' should be a count"),
     ("[[block]]\nlr = 0.01\nseeds = 0", "seeds = 0 should be a count"),
     ('[[block]]\nlr = 0.01\nseeds = [1, "x"]', "should be a count"),
     ("max_members = 0\n[[block]]\nlr = 0.01", "max_members = 0"),
     ("paired_seeds = 1\n[[block]]\nlr = 0.01", "paired_seeds = 1 should be true or false"),
     ("[[block]]\nlr = []", "lr = \\[\\] \\(an empty factor"),
     ("block = 3", "block should be an array of tables"),
     ("defaults = 3\n[[block]]\nlr = 0.01", "\\[defaults\\] should be a table"),
     ("colour = 1\n[[block]]\nlr = 0.01", "unknown top-level keys"),
     ("[[block]\nlr = 0.01", "not a valid TOML design"),
     ("[[block]]\nlr = " + "[" * 5000 + "]" * 5000, "lr = |not a valid TOML")],
)  # fmt: skip
def test_bad_top_level_values_are_one_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(SeqgenError, match=message) as info:
        load_design(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unreadable_design_files_are_one_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "café"\n[[block]]\nlr = 0.01\n'.encode("latin-1"))
    with pytest.raises(SeqgenError, match="not UTF-8"):
        load_design(path)
    path.write_bytes("[[block]]\nlr = 0.01\n".encode("utf-16"))
    with pytest.raises(SeqgenError, match="not UTF-8"):
        load_design(path)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(SeqgenError, match="not a regular file"):  # refused, not read (which would hang)
        load_design(fifo)
    with pytest.raises(SeqgenError, match="cannot read the design"):
        load_design(tmp_path / "missing.toml")


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path):
    axis = "[" + ", ".join(str(1e-4 * (i + 1)) for i in range(1000)) + "]"
    path = _write(tmp_path, f"[[block]]\nlr = {axis}\nclip = {axis}\nmomentum = [0.1, 0.2, 0.3]\nseeds = 8\n")
    started = time.process_time()
    with pytest.raises(SeqgenError, match=f"more than {MAX_CELLS} cells") as info:
        load_design(path)
    assert time.process_time() - started < 1.0 and "3000000 cells" in str(info.value)
    path = _write(tmp_path, "[[block]]\nlr = 0.01\nseeds = 1000000000\n")
    with pytest.raises(SeqgenError, match="should be a count"):
        load_design(path)


def test_cli_reports_a_bad_design_in_one_line_and_exit_1(tmp_path):
    import subprocess
    import sys

    path = _write(tmp_path, "[[block]]\nhidden = -4\n")
    done = subprocess.run([sys.executable, "-m", "seqgen", "lab", "sweep", str(path), "--dry-run"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"error: {path} block 1: hidden = -4 should be ≥ 1"
    ], done.stderr


def test_cells_draw_their_own_seeds_and_streams_unless_paired():
    raw = {"defaults": GOOD, "block": [{"cell": "tanh", "lr": [0.01, 0.1], "seeds": 3}]}
    independent = expand(raw)
    by_cell: dict[str, set] = {}
    for run in independent.runs:
        by_cell.setdefault(run.cell_id, set()).add(run.seed)
    assert len(by_cell) == 2 and not set.intersection(*by_cell.values())
    streams = {p.spec["data_seed"] for p in pack(independent.runs, 0, 64)}
    assert len(streams) == 2 and not independent.paired_seeds
    paired = expand({**raw, "paired_seeds": True, "seed": 5})
    assert sorted(r.seed for r in paired.runs) == [5, 5, 6, 6, 7, 7]
    assert len(pack(paired.runs, 5, 64)) == 1  # one population, one data stream, shared seeds


def test_the_design_names_match_the_engine():
    from seqgen.core.optim import MOMENTUM_SCHEDULES, OPTIMIZERS
    from seqgen.lab.population import CELLS
    from seqgen.lab.tasks import TASKS

    assert lab_design.TASKS == TASKS and lab_design.CELLS == CELLS
    assert lab_design.OPTIMIZERS == OPTIMIZERS and lab_design.MOMENTUM_SCHEDULES == MOMENTUM_SCHEDULES


def test_lab_sweep_help_runs_through_the_main_app():
    from seqgen.cli import app

    result = CliRunner().invoke(app, ["lab", "sweep", "--help"])
    assert result.exit_code == 0 and "DESIGN" in result.output
