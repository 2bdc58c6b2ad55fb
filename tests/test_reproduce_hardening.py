"""`seqgen reproduce` on bad input (issue 15 item 8): a tampered cell JSON is one line and the cell is computed
again; `--datasets ,` and options no cell of the grid takes are one line; a cell that cannot write its result,
or that raises a SeqgenError, makes the command exit non-zero, the latter recorded as an error, not a divergence."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from test_reproduce import _tiny, grid_args

from seqgen.experiments import grid as grid_module
from seqgen.experiments.grid import Cell
from seqgen.experiments.runner import read_result, result_path

GOOD = {"cell": "jsb--sgd", "status": "ok", "best_valid": -8.1,
        "test": {"score": -8.2, "min": -8.3, "max": -8.1, "unit": "nats/frame", "estimator": "exact"}}  # fmt: skip
TAMPERED = {
    "truncated": json.dumps(GOOD)[:40],
    "empty": "",
    "not json": "cell: jsb--sgd",
    "a list": "[1, 2]",
    "a number": "3",
    "null": "null",
    "another cell": json.dumps({**GOOD, "cell": "jsb--clip"}),
    "no cell": json.dumps({k: v for k, v in GOOD.items() if k != "cell"}),
    "unknown status": json.dumps({**GOOD, "status": "great"}),
    "status a list": json.dumps({**GOOD, "status": ["ok"]}),
    "no test": json.dumps({**GOOD, "test": None}),
    "test a string": json.dumps({**GOOD, "test": "−8.2"}),
    "score a string": json.dumps({**GOOD, "test": {**GOOD["test"], "score": "-8.2"}}),
    "score NaN": json.dumps({**GOOD, "test": {**GOOD["test"], "score": float("nan")}}),
    "score a bool": json.dumps({**GOOD, "test": {**GOOD["test"], "min": True}}),
    "no unit": json.dumps({**GOOD, "test": {**GOOD["test"], "unit": 3}}),
    "best_valid missing": json.dumps({k: v for k, v in GOOD.items() if k != "best_valid"}),
    "AIS without bracket": json.dumps({**GOOD, "test": {**GOOD["test"], "estimator": "ais"}}),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "cell a dict": json.dumps({**GOOD, "cell": {"a": 1}}),
}


@pytest.mark.parametrize("how", sorted(TAMPERED))
def test_a_tampered_cell_is_one_line_and_not_finished(tmp_path, caplog, how):
    cell = Cell("jsb", "sgd")
    path = result_path(tmp_path, cell)
    path.parent.mkdir(parents=True)
    path.write_text(TAMPERED[how], encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert read_result(tmp_path, cell) is None
        assert read_result(tmp_path, cell) is None  # said once
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and str(path) in lines[0] and "computed again" in lines[0] and "\n" not in lines[0]


def test_non_utf8_and_good_records(tmp_path, caplog):
    cell = Cell("jsb", "sgd")
    path = result_path(tmp_path, cell)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(GOOD), encoding="utf-16")
    assert read_result(tmp_path, cell) is None and len(caplog.records) == 1
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    assert read_result(tmp_path, cell) == GOOD
    path.write_text(json.dumps({"cell": "jsb--sgd", "status": "diverged", "test": None}))
    assert read_result(tmp_path, cell)["status"] == "diverged"


def test_usage_mistakes_are_one_line(cli, tmp_path):
    out = ["--out", tmp_path / "res", "--runs", tmp_path / "runs"]
    for datasets in (",", " , ", ""):
        line = cli("reproduce", "--datasets", datasets, *out).one_line_error()
        assert "names no dataset" in line and "jsb" in line
    assert "not in grid" in cli("reproduce", "--datasets", "jsb,bach", *out).one_line_error()
    line = cli("reproduce", "--datasets", "ptb-char", "--ais-runs", "5", *out).one_line_error()
    assert "--ais-runs" in line and "RNN-RBM" in line
    assert not (tmp_path / "res").exists()


def _only_music(tmp_path, monkeypatch, **kw):
    music, _text, tiny = _tiny(tmp_path, **kw)
    fast = replace(tiny.budgets[str(music)], epochs=1, rungs=(), trials=2, seeds=1, rbm_epochs=1)
    tiny = replace(tiny, budgets={str(music): fast})
    monkeypatch.setitem(grid_module.GRIDS, "paper2013", {True: tiny, False: tiny})
    return music


def test_a_seqgen_error_in_a_cell_is_recorded_as_an_error_and_exits_non_zero(cli, tmp_path, monkeypatch):
    music = _only_music(tmp_path, monkeypatch, empty_valid=True)
    proc = cli("reproduce", "--quick", "--jobs", "1", "--out", tmp_path / "res", "--runs", tmp_path / "runs")
    assert proc.code == 1 and "error: 7 cell(s) without a result" in proc.stderr  # 5 rows, 2 SGD output models
    assert "diverged" not in proc.output and "--sgd: error: dataset tiny: the valid split is empty" in proc.output
    record = json.loads((tmp_path / "res-quick" / "paper2013" / "cells" / f"{music.name}--sgd.json").read_text())
    assert record["status"] == "error" and "valid split is empty" in record["error"]


def test_a_cell_that_cannot_write_its_result_exits_non_zero(tmp_path, monkeypatch):
    from seqgen.cli.reproduce import reproduce
    from seqgen.errors import SeqgenError

    music = _only_music(tmp_path, monkeypatch)
    cells = tmp_path / "res-quick" / "paper2013" / "cells"
    (cells / f"{music.name}--sgd.json").mkdir(parents=True)  # a folder where the result goes: the write fails
    with pytest.raises(SeqgenError, match=f"{music.name}--sgd"):
        reproduce(**grid_args(tmp_path))
    assert (cells / f"{music.name}--clip.json").is_file()  # the other cells still ran


def test_a_text_member_whose_perplexity_overflows_is_scored_not_fatal(tmp_path, monkeypatch):
    from seqgen.core.population_search import SearchConfig
    from seqgen.options import product_configs, training_options
    from seqgen.text.corpus import TextCorpus
    from seqgen.text.search_text import search_text
    from seqgen.text.tokenizer import train_tokenizer
    from seqgen.text.train_text import TextTask

    def overflows(self, model, split="valid"):
        raise OverflowError(34, "Numerical result out of range")  # what 2.0 ** bits raises for a diverging member

    monkeypatch.setattr(TextTask, "evaluate", overflows)
    text = "".join(f"the cat sat on mat {i % 7}\n" for i in range(60))
    corpus = TextCorpus("tiny", {"train": text, "valid": text[:200]}, "char", "tiny")
    options = training_options("text", hidden=4, embedding=3, epochs=1, batch_size=4, chunk_len=10, lr=0.1)
    configs = product_configs("text").build_configs(options)
    search = SearchConfig(0.1, 1.0, trials=2, seeds=1)
    members = search_text(corpus, train_tokenizer("char", text), configs, tmp_path, search)
    assert [m.best_valid for m in members] == [float("-inf")] * 2 and len(members[0].curve) == 1
