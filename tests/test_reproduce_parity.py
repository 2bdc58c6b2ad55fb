"""One engine: a grid cell of `seqgen reproduce` and `seqgen train --lr-range` with the same options build the same
configs and train the same members (the first epoch of every member equal)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from seqgen.checkpoint import load_checkpoint
from seqgen.experiments.grid import Budget
from seqgen.experiments.search_cell import run_search_cell


@pytest.mark.parametrize("row", [{"clip": 1.0, "optimizer": "sgd", "momentum": 0.0},
                                 {"cell": "relu", "l1": 1e-4, "init": "identity", "optimizer": "nesterov"}])
def test_a_grid_cell_trains_as_seqgen_train_with_its_options(cli, tmp_path, row):
    from seqgen.music.datasets import load_dataset

    rng = np.random.default_rng(0)
    piece = lambda: [[int(p) for p in rng.choice(np.arange(60, 72), 2, replace=False)] for _ in range(12)]
    data_file = tmp_path / "tiny.pickle"
    data_file.write_bytes(pickle.dumps({s: [piece() for _ in range(4)] for s in ("train", "valid", "test")}))
    fixed = {"preset": "paper-rnn", "hidden": 6, "chunk_len": 8}
    budget = Budget(2, 2, 2, rungs=(1,), keep=0.5, trials=2, seeds=2, min_delta=0.0)
    spec = {"options": {**fixed, **row, "lr_range": (0.01, 0.1)}, "seed": 0, "device": "cpu", "ais_runs": 4,
            "ais_steps": 5}
    record = run_search_cell(spec, "music", load_dataset(str(data_file)), budget, tmp_path / "cell")

    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**fixed, **row}.items()]
    out = tmp_path / "train"
    done = cli("train", "--data", data_file, *flags, "--lr-range", "0.01:0.1", "--trials", "2", "--seeds", "2",
               "--epochs", "2", "--batch-size", "2", "--patience", "2", "--device", "cpu", "--out", out)  # fmt: skip
    assert done.code == 0, done.output
    best = json.loads((out / "members.json").read_text())
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["model_config"] == record["configs"]["model"]
    same = lambda c: {k: v for k, v in c.items() if k not in ("lr", "momentum")}  # a member's own ε and μ
    assert same(ckpt["optim_config"]) == same(record["configs"]["optim"])
    assert ckpt["train_config"] == record["configs"]["train"]
    cell_first = {(round(m["lr"], 9), m["seed"]): (m["train_curve"][0], m["valid_curve"][0])
                  for m in record["search"]["members"]}  # fmt: skip
    train_first = {}
    for m in best:
        curve = json.loads((out / "curves" / f"m{m['member']:03d}.json").read_text())
        train_first[(round(m["lr"], 9), m["seed"])] = (curve[0]["train_loss"], curve[0]["valid"]["score"])
    assert cell_first.keys() == train_first.keys()
    for key, value in cell_first.items():
        assert train_first[key] == pytest.approx(value, abs=1e-12), key
