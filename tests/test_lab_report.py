"""Report statistics are right on cases with known answers; `seqgen lab report` writes its table, summary,
Markdown, figures and compact per-run file for a real (tiny) sweep, and regenerates a committed report from the
committed per-run file alone."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgen.errors import SeqgenError
from seqgen.lab.cli import app
from seqgen.lab.report import write_report
from seqgen.lab.stats import logistic_fit, one_hot, pseudo_r2, spearman, wilson

DESIGN = """
[defaults]
task = "adding"
hidden = 4
steps = 12
eval_every = 6
eval_size = 32
diag_every = 6
threshold = 0.2
[[block]]
cell = ["relu", "tanh"]
init = ["identity", "orthogonal"]
length = [6, 10]
lr = [0.001, 0.1]
seeds = 2
"""


def test_wilson_interval_known_values():
    lo, hi = wilson(8, 10)
    assert (lo, hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # Wilson 1927 / standard tables
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0 and wilson(0, 0) == (0.0, 1.0)


def test_logistic_fit_recovers_coefficients_and_pseudo_r2():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(0.5 + 2.0 * x)))).astype(float)
    fit = logistic_fit(x, y)
    assert fit.coef == pytest.approx([0.5, 2.0], abs=0.08)
    lo, hi = fit.interval(1)
    assert lo < 2.0 < hi and hi - lo < 0.2
    assert pseudo_r2([x[:, None]], y) > 0.3
    assert pseudo_r2([rng.normal(size=(20_000, 1))], y) < 1e-3  # noise explains nothing
    assert one_hot(["b", "a", "b"]).tolist() == [[1.0], [0.0], [1.0]]


def test_spearman_interval_covers_rho():
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    s = spearman(x, x + rng.normal(size=500))
    assert 0.6 < s["rho"] < 0.8 and s["ci"][0] < s["rho"] < s["ci"][1] and s["p_value"] < 1e-10


def test_report_of_a_tiny_sweep(tmp_path):
    design = tmp_path / "d.toml"
    design.write_text(DESIGN)
    out = tmp_path / "sweep"
    runner = CliRunner()
    assert runner.invoke(app, ["sweep", str(design), "--out", str(out), "--workers", "0"]).exit_code == 0
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "runs in 16 cells" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 32 and summary["factors"] == ["length", "cell", "init", "lr"]
    assert not summary["seeds"]["paired"] and summary["seeds"]["data_streams"] == 16  # each cell its own stream
    lr = summary["learning_rate"]
    assert lr["other_factors_crossed"] <= lr["cells"] + 1e-9 and lr["lr_beyond_interactions"] >= -1e-9
    for name in summary["figures"]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    cells = (out / "cells.csv").read_text().splitlines()
    assert len(cells) == 17 and cells[0].startswith("cell_id,kind,length,cell,init,lr,runs,successes,rate,ci_low")
    assert "| kind | length | lr |" in (out / "report.md").read_text()
    packed = out / "runs.jsonl.gz"
    assert len(gzip.decompress(packed.read_bytes()).splitlines()) == 32
    shutil.rmtree(out / "runs")  # the compact file alone regenerates the same report
    again = tmp_path / "again"
    assert runner.invoke(app, ["report", str(out), "--out", str(again)]).exit_code == 0
    for name in ("cells.csv", "summary.json", "report.md", "runs.jsonl.gz"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.parametrize("sweep", ["seed001_digits_long"])
def test_a_committed_report_regenerates_from_the_repository(tmp_path, sweep):
    """The committed per-run file alone gives the committed table, summary and report, byte for byte."""
    committed = Path(__file__).parents[1] / "results" / "lab" / sweep
    write_report(committed, tmp_path)
    for name in ("cells.csv", "summary.json", "report.md", "runs.jsonl.gz"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name
    figures = json.loads((committed / "summary.json").read_text())["figures"]
    assert figures and all((tmp_path / name).read_bytes()[:4] == b"\x89PNG" for name in figures)


def test_report_of_an_empty_folder_is_one_error(tmp_path):
    with pytest.raises(SeqgenError, match="no finished runs"):
        write_report(tmp_path, tmp_path)


def test_the_irnn_is_compared_only_with_kinds_trained_for_the_same_budget():
    from seqgen.lab.analysis import kinds_question

    def runs(cell, init, steps, successes, n=10):
        settings = {"task": "adding", "length": 150, "steps": steps, "cell": cell, "init": init, "lr": 0.01}
        return [{"settings": settings, "success": i < successes} for i in range(n)]

    records = runs("relu", "identity", 4000, 9) + runs("lstm", "default", 4000, 1) + runs("lstm", "default", 2000, 5)
    rows = kinds_question(records)
    assert [(r["steps"], r["kind"]) for r in rows] == [(4000, "lstm")]  # no IRNN at 2,000 updates: no comparison
    assert (rows[0]["all_lrs"]["irnn"]["successes"], rows[0]["all_lrs"]["other"]["successes"]) == (9, 1)
    assert rows[0]["all_lrs"]["other"]["runs"] == 10
