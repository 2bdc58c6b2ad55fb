"""`seqgen reproduce`: each grid row changes exactly its technique; a tiny --quick grid runs end to end,
and a second run skips finished cells while a cell without a result resumes from its checkpoint."""

from __future__ import annotations

import itertools
import json
import pickle
from dataclasses import asdict, replace

import numpy as np
import pytest

from seqgen.experiments import grid as grid_module
from seqgen.experiments.grid import SETTINGS, Budget, Grid, ablation_rows, output_row
from seqgen.options import product_configs, training_options

# The leaf config fields each technique must change, and nothing else (checked on the built configs).
TECHNIQUE_FIELDS = {
    "clip": {"clip"},
    "leaky": {"leaky"},
    "nesterov": {"name", "momentum", "momentum_schedule"},
    "relu": {"cell", "l1", "init"},
}


def _leaves(value, prefix=""):
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _leaves(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: value}


def _configs(task: str, options: dict) -> dict:
    resolved = training_options(task, **options)
    configs = product_configs(task).build_configs(resolved, n_inputs=88 if task == "music" else 50)
    return _leaves({"model": asdict(configs.model), "optim": asdict(configs.optim), "train": asdict(configs.train)})


@pytest.mark.parametrize("task", ["music", "text"])
def test_each_row_adds_exactly_its_technique(task):
    rows = ablation_rows(SETTINGS[task])
    assert [r.key for r in rows] == ["sgd", "clip", "leaky", "nesterov", "relu"]
    first = _configs(task, rows[0].options)
    assert (first["optim.name"], first["optim.momentum"], first["train.clip"]) == ("sgd", 0.0, 0.0)
    assert first["train.l1"] == 0.0 and first[next(k for k in first if k.endswith("recurrent.leaky"))] is False
    for above, row in itertools.pairwise(rows):
        assert set(row.options) - set(above.options) <= set(row.adds)
        changed_options = {k for k in row.options if row.options[k] != above.options.get(k)}
        assert changed_options == set(row.adds), row.key
        old, new = _configs(task, above.options), _configs(task, row.options)
        changed = {k.rsplit(".", 1)[-1] for k in new if new[k] != old[k]}
        assert changed == TECHNIQUE_FIELDS[row.key], row.key
    last = _configs(task, rows[-1].options)
    assert last["optim.momentum_schedule"] == "sutskever" and last["train.l1"] > 0
    assert last[next(k for k in last if k.endswith("recurrent.init"))] == "identity"


def test_output_rows_change_only_the_conditional():
    best = ablation_rows(SETTINGS["music"])[3]
    for kind in ("rnn-nade", "rnn-rbm"):
        row = output_row(best, kind)
        old, new = _configs("music", best.options), _configs("music", row.options)
        assert {k for k in new if new[k] != old[k]} == {"model.kind"}


@pytest.fixture
def tiny_grid(tmp_path, monkeypatch):
    """A tiny music pickle and text file in place of the quick grid's datasets (workers read only the spec)."""
    rng = np.random.default_rng(0)
    piece = lambda: [[int(p) for p in rng.choice(np.arange(60, 72), 2, replace=False)] for _ in range(12)]
    music = tmp_path / "tiny.pickle"
    music.write_bytes(pickle.dumps({s: [piece() for _ in range(4)] for s in ("train", "valid", "test")}))
    text = tmp_path / "tiny.txt"
    text.write_text("".join(f"the cat sat on mat {i % 7}\n" for i in range(200)))
    fixed = {
        "music": {"preset": "paper-rnn", "hidden": 6, "cond_hidden": 5, "cd_k": 1, "patience": 0, "chunk_len": 8},
        "text": {"hidden": 6, "embedding": 4, "tokenizer": "char", "patience": 0, "chunk_len": 10},
    }
    settings = {t: {**SETTINGS[t], "lr": 0.05, "fixed": fixed[t]} for t in fixed}
    budgets = {str(music): Budget(2, 2, rbm_valid_cap=12, rbm_test_cap=12), str(text): Budget(2, 4)}
    tiny = Grid("paper2013-quick", budgets, settings, ais_runs=4, ais_steps=5)
    monkeypatch.setitem(grid_module.GRIDS, "paper2013", {True: tiny, False: replace(tiny, name="paper2013")})
    return tmp_path, music, text


def test_quick_grid_runs_end_to_end_and_resumes(tiny_grid):
    from seqgen.cli.reproduce import reproduce

    tmp, music, _text = tiny_grid
    args = {"grid": "paper2013", "quick": True, "datasets": None, "jobs": 2, "out": tmp / "res",
            "runs": tmp / "runs", "table_only": False, "seed": 0, "device": "cpu"}  # fmt: skip
    reproduce(**args)
    out = tmp / "res-quick" / "paper2013"
    cells = sorted(p.name for p in (out / "cells").glob("*.json"))
    assert len(cells) == 5 + 5 + 2  # five rows on each dataset, RNN-RBM and RNN-NADE on the music one
    record = json.loads((out / "cells" / f"{music.name}--out-rnn-nade.json").read_text())
    assert record["status"] == "ok" and record["selected_from"] in {"sgd", "clip", "leaky", "nesterov", "relu"}
    assert len(record["valid_curve"]) == 2 and record["test"]["estimator"] == "exact"
    assert record["command"].startswith("seqgen reproduce paper2013 --quick")
    table = (out / "table.md").read_text()
    assert "+ Nesterov, μ schedule (N)" in table and "not run" not in table and "n/a" in table
    assert (out / "valid_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "test_scores.png").stat().st_size > 1000

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    resumed = out / "cells" / cells[0]
    resumed.unlink()
    reproduce(**args)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert set(after) == set(stamps)
    assert [n for n in after if after[n] != stamps[n]] == [cells[0]]
    log = (tmp / "runs-quick" / "paper2013" / cells[0].removesuffix(".json") / "train.log").read_text()
    assert "resuming from" in log
