"""`seqgen reproduce`: each grid row changes exactly its technique, its search included; the paper grid searches
≥ 8 ε over ≥ 2 decades × ≥ 2 seeds on the full data; a tiny grid with halving runs end to end, and a cell killed
between two rungs resumes to the same result."""

from __future__ import annotations

import itertools
import json
import math
import pickle
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from seqgen.experiments import grid as grid_module
from seqgen.experiments.grid import GRIDS, SETTINGS, Budget, Grid, ablation_rows, output_row
from seqgen.experiments.search_cell import SEARCH_KEYS, search_config
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
    resolved = training_options(task, **{k: v for k, v in options.items() if k not in SEARCH_KEYS})
    configs = product_configs(task).build_configs(resolved, n_inputs=88 if task == "music" else 50)
    return _leaves({"model": asdict(configs.model), "optim": asdict(configs.optim), "train": asdict(configs.train)})


def _search(options: dict) -> dict:
    return asdict(search_config(options, GRIDS["paper2013"][False].budgets["jsb"]))


@pytest.mark.parametrize("task", ["music", "text"])
def test_each_row_adds_exactly_its_technique_and_the_same_search(task):
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
        assert _search(row.options) == _search(above.options), row.key  # no row names its search: it is the same
    last = _configs(task, rows[-1].options)
    assert last["optim.momentum_schedule"] == "sutskever" and last["train.l1"] > 0
    assert last[next(k for k in last if k.endswith("recurrent.init"))] == "identity"


def test_output_rows_change_only_the_conditional():
    rows = ablation_rows(SETTINGS["music"])
    for trained_with, kind in itertools.product((rows[0], rows[3]), ("rnn-nade", "rnn-rbm")):
        row = output_row(trained_with, kind)
        assert row.adds == ("model",) and row.label.endswith("SGD" if trained_with.key == "sgd" else "best row")
        old, new = _configs("music", trained_with.options), _configs("music", row.options)
        assert {k for k in new if new[k] != old[k]} == {"model.kind"}
        assert _search(row.options) == _search(trained_with.options)


def test_the_paper_grid_searches_enough_on_the_full_data():
    grid = GRIDS["paper2013"][False]
    assert grid.datasets[0] == "jsb" and grid.datasets[-1] == "ptb-char"  # cheapest first
    for task in ("music", "text"):
        low, high = SETTINGS[task]["lr_range"]
        assert math.log10(high / low) >= 2
    for dataset, budget in grid.budgets.items():
        assert budget.trials >= 8 and budget.seeds >= 2 and budget.patience > 0, dataset
        assert (budget.train_cap, budget.valid_cap, budget.test_cap) == (None, None, None), dataset
        assert all(r < budget.epochs for r in budget.rungs) and budget.epochs > budget.patience, dataset
    cells = grid.cells()
    assert len(cells) == len(set(cells)) == 4 * (5 + 4) + 5
    assert [c.row for c in cells[:9]] == ["sgd", "clip", "leaky", "nesterov", "relu", "out-rnn-nade-sgd",
                                          "out-rnn-rbm-sgd", "out-rnn-nade", "out-rnn-rbm"]  # fmt: skip


def _tiny(tmp_path, *, empty_valid=False):
    """A tiny music pickle and text file in place of the quick grid's datasets (workers read only the spec)."""
    rng = np.random.default_rng(0)
    piece = lambda: [[int(p) for p in rng.choice(np.arange(60, 72), 2, replace=False)] for _ in range(12)]
    music = tmp_path / "tiny.pickle"
    splits = {s: [piece() for _ in range(4)] for s in ("train", "valid", "test")}
    if empty_valid:
        splits["valid"] = []
    music.write_bytes(pickle.dumps(splits))
    text = tmp_path / "tiny.txt"
    text.write_text("".join(f"the cat sat on mat {i % 7}\n" for i in range(200)))
    fixed = {
        "music": {"preset": "paper-rnn", "hidden": 6, "cond_hidden": 5, "cd_k": 1, "chunk_len": 8},
        "text": {"hidden": 6, "embedding": 4, "tokenizer": "char", "chunk_len": 10},
    }
    settings = {t: {**SETTINGS[t], "lr_range": (0.01, 1.0), "fixed": fixed[t]} for t in fixed}
    small = {"trials": 3, "seeds": 2, "rungs": (1,), "keep": 0.5}
    budgets = {
        str(music): Budget(3, 2, 2, rbm_valid_cap=12, rbm_test_cap=12, rbm_epochs=2, rbm_pretrain_frames=48, **small),
        str(text): Budget(2, 4, 2, **small),
    }
    return music, text, Grid("paper2013-quick", budgets, settings, ais_runs=4, ais_steps=5)


@pytest.fixture
def tiny_grid(tmp_path, monkeypatch):
    music, text, tiny = _tiny(tmp_path)
    monkeypatch.setitem(grid_module.GRIDS, "paper2013", {True: tiny, False: replace(tiny, name="paper2013")})
    return tmp_path, music, text


def grid_args(tmp, **given):
    return {"grid": "paper2013", "quick": True, "datasets": None, "jobs": 1, "out": tmp / "res", "runs": tmp / "runs",
            "table_only": False, "seed": 0, "device": "cpu", "ais_runs": None, "ais_steps": None, **given}  # fmt: skip


def test_tiny_grid_with_halving_runs_end_to_end_and_recomputes_a_tampered_cell(tiny_grid, caplog):
    from seqgen.cli.reproduce import reproduce

    tmp, music, text = tiny_grid
    reproduce(**grid_args(tmp))
    out = tmp / "res-quick" / "paper2013"
    cells = {p.name.removesuffix(".json") for p in (out / "cells").glob("*.json")}
    ablation = {f"{d.name}--{r}" for d in (music, text) for r in ("sgd", "clip", "leaky", "nesterov", "relu")}
    outputs = {f"{music.name}--out-{k}{s}" for k in ("rnn-nade", "rnn-rbm") for s in ("-sgd", "")}
    assert ablation <= cells <= ablation | outputs and {c for c in outputs if c.endswith("-sgd")} <= cells
    record = json.loads((out / "cells" / f"{music.name}--out-rnn-nade-sgd.json").read_text())
    assert record["status"] == "ok" and record["selected_from"] == "sgd" and record["test"]["estimator"] == "exact"
    members = record["search"]["members"]
    assert len(members) == 6 and record["search"]["rungs"] == [1]
    dropped = [m for m in members if m["status"] == "dropped"]
    assert len(dropped) == 2 and all(m["epochs"] == 1 for m in dropped)  # 3 settings, ⌈0.5 · 3⌉ = 2 go on
    chosen = [members[i] for i in record["selected"]["members"]]
    assert len({m["lr"] for m in chosen}) == 1 and [m["seed"] for m in chosen] == [0, 1]
    test = record["test"]
    assert test["min"] <= test["score"] <= test["max"] and len(test["per_seed"]) == 2
    assert record["command"].startswith("seqgen reproduce paper2013 --quick") and record["cpu_seconds"] > 0
    assert torch.backends.cpu.get_cpu_capability() in record["machine"]  # what bit-identical reruns depend on
    rbm = json.loads((out / "cells" / f"{music.name}--out-rnn-rbm-sgd.json").read_text())
    assert rbm["test"]["estimator"] == "ais" and rbm["search"]["epoch_cap"] == 2
    table = (out / "table.md").read_text()
    assert "RNN-RBM, SGD" in table and "n/a" in table and "Beside the targets" in table and "Quick budgets" in table
    assert "| + clipping (C) over SGD |" in table  # each technique's gain with its seeds
    assert (out / "valid_curves.png").read_bytes()[:4] == b"\x89PNG"

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    tampered = out / "cells" / f"{text.name}--clip.json"
    tampered.write_text(tampered.read_text()[:100])  # truncated
    caplog.clear()
    reproduce(**grid_args(tmp))
    warnings = [r.getMessage() for r in caplog.records if "computed again" in r.getMessage()]
    assert len(warnings) == 1 and str(tampered) in warnings[0]
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert [n for n in after if after[n] != stamps[n]] == [tampered.name]
    assert json.loads(tampered.read_text())["status"] == "ok"


def test_a_changed_budget_recomputes_its_cells_from_scratch(tiny_grid, monkeypatch, caplog):
    from seqgen.cli.reproduce import reproduce

    tmp, _music, text = tiny_grid
    reproduce(**grid_args(tmp, datasets=str(text)))
    out = tmp / "res-quick" / "paper2013" / "cells"
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    quick = grid_module.GRIDS["paper2013"][True]
    raised = replace(quick, budgets={**quick.budgets, str(text): replace(quick.budgets[str(text)], epochs=4)})
    monkeypatch.setitem(grid_module.GRIDS, "paper2013", {True: raised, False: raised})
    caplog.clear()
    reproduce(**grid_args(tmp, datasets=str(text)))
    warnings = [r.getMessage() for r in caplog.records if "another budget (epochs differ" in r.getMessage()]
    assert len(warnings) == len(stamps) == 5
    for path in out.glob("*.json"):
        record = json.loads(path.read_text())
        assert path.stat().st_mtime_ns != stamps[path.name] and record["search"]["epoch_cap"] == 4
        assert record["cpu_seconds"] == record["cpu_seconds_this_call"]  # started over, not resumed
        assert max(m["epochs"] for m in record["search"]["members"]) > 2 or any(
            m["status"] == "stopped" for m in record["search"]["members"]
        )


def test_an_rbm_budget_change_recomputes_only_the_rbm_cells():
    from seqgen.experiments.grid import Cell
    from seqgen.experiments.runner import budget_change

    grid = GRIDS["paper2013"][False]
    halved = replace(grid.budgets["piano-midi"], rbm_epochs=grid.budgets["piano-midi"].rbm_epochs // 2)
    old = json.loads(json.dumps(asdict(halved)))  # as a cell's record stores it
    for row in ("sgd", "relu", "out-rnn-nade", "out-rnn-nade-sgd"):
        assert budget_change(grid, {"budget": old}, Cell("piano-midi", row)) == []
    for row in ("out-rnn-rbm", "out-rnn-rbm-sgd"):
        assert "epochs" in budget_change(grid, {"budget": old}, Cell("piano-midi", row))


@pytest.mark.parametrize("kind", ["rnn", "rnn-rbm"])
def test_a_cap_that_bound_no_member_is_no_budget_change(kind):
    from seqgen.experiments.grid import Cell
    from seqgen.experiments.runner import budget_change, cell_budget

    grid = GRIDS["paper2013"][False]
    cell = Cell("musedata", "out-rnn-rbm" if kind == "rnn-rbm" else "clip")
    now = cell_budget(grid, cell)
    field = "rbm_epochs" if kind == "rnn-rbm" else "epochs"
    old = {**now, "epochs": now["epochs"] // 2, field: now["epochs"] // 2}
    members = lambda *epochs: {"members": [{"epochs": e} for e in epochs]}
    stopped_before = {"budget": old, "search": members(2, 6, 0, old["epochs"] - 1)}
    assert budget_change(grid, stopped_before, cell) == []  # a raised cap would train the same members
    at_the_cap = {"budget": old, "search": members(2, old["epochs"])}
    assert "epochs" in budget_change(grid, at_the_cap, cell)  # the old cap stopped a member: computed again
    other_change = {"budget": {**old, "patience": now["patience"] + 1}, "search": members(2)}
    assert "patience" in budget_change(grid, other_change, cell)
    lowered = {
        "budget": {**now, "epochs": now["epochs"] * 2, field: now["epochs"] * 2},
        "search": members(2, now["epochs"] + 1),
    }
    assert "epochs" in budget_change(grid, lowered, cell)  # a lowered cap would have cut this member short
    assert budget_change(grid, {"budget": old}, cell) != []  # no members recorded: nothing shows the cap unbound


@pytest.mark.parametrize("kind", ["rnn", "rnn-rbm"])  # the RBM's CD chains draw from per-member streams
def test_a_cell_killed_between_rungs_resumes_to_the_same_result(tmp_path, monkeypatch, kind):
    from seqgen.core import population_search
    from seqgen.experiments.cell import run_cell
    from seqgen.experiments.grid import Cell
    from seqgen.experiments.runner import cell_spec

    music, _text, tiny = _tiny(tmp_path)
    budget = replace(tiny.budgets[str(music)], epochs=4, rungs=(1, 3), rbm_epochs=4, rbm_rungs=(1, 3))
    tiny = replace(tiny, budgets={str(music): budget})
    row = ablation_rows(tiny.settings["music"])[1]
    row = row if kind == "rnn" else output_row(row, kind)
    spec = lambda name: cell_spec(tiny, Cell(str(music), row.key), row, tmp_path / name, tmp_path / f"runs-{name}", 0,
                                  "cpu", "test")  # fmt: skip
    whole = run_cell(spec("whole"))
    save = population_search._save

    def killed_after_epoch_2(out, pop, *args):
        save(out, pop, *args)
        if max(len(m.curve) for m in pop.members) == 2:  # between the rungs at epochs 1 and 3
            raise KeyboardInterrupt

    monkeypatch.setattr(population_search, "_save", killed_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_cell(spec("cut"))
    assert not (tmp_path / "cut" / "cells").exists()
    monkeypatch.setattr(population_search, "_save", save)
    resumed = run_cell(spec("cut"))
    timeless = lambda record: [
        {k: v for k, v in m.items() if k != "epoch_seconds"} for m in record["search"]["members"]
    ]
    assert timeless(resumed) == timeless(whole)
    statuses = {m["status"] for m in timeless(whole)}  # some dropped at a rung, the others trained on
    assert "dropped" in statuses and statuses - {"dropped"} and statuses <= {"dropped", "finished", "stopped"}
    assert resumed["selected"] == whole["selected"] and resumed["test"] == whole["test"]


def test_a_techniques_gain_is_paired_by_seed_and_counts_bits_down():
    from seqgen.experiments.table import effect_text

    def record(*scores):
        per_seed = [{"score": s} for s in scores]
        return {"status": "ok", "test": {"score": sum(scores) / len(scores), "per_seed": per_seed}}

    assert effect_text(record(-8.0, -9.0), record(-8.5, -8.8), text=False) == "+0.150 (seeds +0.500, −0.200)"
    assert effect_text(record(1.80, 1.90), record(1.85, 1.85), text=True) == "+0.000 (seeds +0.050, −0.050)"
    assert effect_text(record(-8.0), {"status": "diverged"}, text=False) == ""
    assert effect_text(None, record(-8.0), text=False) == ""


def test_a_target_shows_an_ais_scores_reverse_end_beside_it():
    from seqgen.experiments.table import ours_text

    exact = {"status": "ok", "test": {"score": -5.8281, "estimator": "exact"}}
    ais = {"status": "ok", "test": {"score": -5.8114, "lower": -5.8342, "estimator": "ais"}}
    assert ours_text(exact) == "−5.828" and ours_text(ais) == "−5.811 (reverse AIS −5.834)"
    assert ours_text(None) == "not run" and ours_text({"status": "diverged"}) == "diverged"
