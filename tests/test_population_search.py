"""Successive halving inside one population keeps the right members, resumes between rungs to the same result,
writes a members table, curves and a best.pt that loads like any single-model checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from test_population_training import P, TinyMusic

from seqgen.checkpoint import load_checkpoint
from seqgen.core.optim import OptimConfig
from seqgen.core.population_fit import MemberSpec
from seqgen.core.population_search import SearchConfig, parse_lr_range, run_search
from seqgen.core.train import TrainConfig
from seqgen.errors import SeqgenError
from seqgen.music.model import MusicModel, make_config

CONFIG = make_config(kind="rnn", n_visible=P, rnn_hidden=5, cell="tanh")
OPTIM = OptimConfig("nesterov", lr=0.1, momentum=0.9)
SEARCH = SearchConfig(0.003, 0.3, trials=3, seeds=2, rungs=(2, 4), keep=0.5)


def search(out, epochs, resume=False, search=SEARCH):
    train = TrainConfig(epochs=epochs, patience=0, seed=5, device="cpu")
    make = lambda: MusicModel(CONFIG).double()
    return run_search(TinyMusic(), make, search, MemberSpec(seed=10, lr=0.0), OPTIM, train, out, resume=resume)


def test_members_are_a_log_spaced_grid_times_seeds():
    members = SEARCH.members(MemberSpec(seed=10, lr=0.0, clip=1.0))
    assert [m.lr for m in members] == pytest.approx([0.003, 0.003, 0.03, 0.03, 0.3, 0.3])
    assert [m.seed for m in members] == [10, 11] * 3 and {m.clip for m in members} == {1.0}
    assert parse_lr_range("0.03:3") == (0.03, 3.0)
    with pytest.raises(SeqgenError, match="LOW:HIGH"):
        parse_lr_range("fast")
    with pytest.raises(SeqgenError, match="LOW ≤ HIGH"):
        SearchConfig(3.0, 0.03)


def test_halving_keeps_the_best_by_validation_score(tmp_path):
    members = search(tmp_path, 5)
    dropped_at_2 = [m for m in members if m.status == "dropped" and len(m.curve) == 2]
    assert len(dropped_at_2) == 3  # 6 members, keep half at epoch 2
    survivors_2 = [m for m in members if len(m.curve) > 2]
    assert min(m.curve[1]["valid"]["score"] for m in survivors_2) >= max(m.best_valid for m in dropped_at_2)
    assert sum(len(m.curve) == 5 for m in members) == 2 and members and all(len(m.curve) >= 2 for m in members)
    assert [m.status for m in members].count("finished") == 2  # ⌈0.5 · 3⌉ = 2 kept at epoch 4
    rows = json.loads((tmp_path / "members.json").read_text())
    assert len(rows) == 6 and (tmp_path / "members.md").read_text().count("| m0") == 6
    assert len(json.loads((tmp_path / "curves" / "m000.json").read_text())) == len(members[0].curve)
    best = max(members, key=lambda m: m.best_valid)
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["best_valid"] == best.best_valid and ckpt["optim_config"]["lr"] == best.spec.lr
    model = MusicModel(CONFIG).double()
    model.load_state_dict(ckpt["state_dict"])  # a normal single model
    assert TinyMusic().evaluate(model)["score"] == pytest.approx(best.best_valid, rel=1e-12)


def test_a_search_interrupted_between_rungs_resumes_to_the_same_result(tmp_path):
    whole = search(tmp_path / "whole", 5)
    search(tmp_path / "cut", 3)  # stops after epoch 3, between the rungs at 2 and 4
    resumed = search(tmp_path / "cut", 5, resume=True)
    for a, b in zip(whole, resumed, strict=True):
        assert (a.status, a.best_epoch, len(a.curve)) == (b.status, b.best_epoch, len(b.curve))
        assert [e["train_loss"] for e in a.curve] == [e["train_loss"] for e in b.curve]
        assert a.best_valid == b.best_valid
    assert (tmp_path / "whole" / "members.md").read_text() == (tmp_path / "cut" / "members.md").read_text()
    saved = load_checkpoint(tmp_path / "cut" / "best.pt")["state_dict"]
    for k, v in load_checkpoint(tmp_path / "whole" / "best.pt")["state_dict"].items():
        assert torch.equal(saved[k], v)



def test_a_damaged_or_foreign_search_pt_is_refused_in_one_line(tmp_path):
    search(tmp_path / "cut", 3)
    state = tmp_path / "cut" / "search.pt"
    data = bytearray(state.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0x01  # one flipped bit inside the archive: a CRC or the tensor digest catches it
    state.write_bytes(bytes(data))
    with pytest.raises(SeqgenError, match=r"search\.pt: (damaged|not a seqgen)"):
        search(tmp_path / "cut", 5, resume=True)
    search(tmp_path / "small", 2, search=replace(SEARCH, trials=2))  # 4 members, not 6
    (tmp_path / "small" / "search.pt").replace(state)
    with pytest.raises(SeqgenError, match=r"search\.pt: not this search's state \(4 members saved, this search has 6"):
        search(tmp_path / "cut", 5, resume=True)


def midi_melodies(folder, pieces: int, frames: int, seed: int):
    """`pieces` one-note-a-frame MIDI files of `frames` frames in `folder`, drawn from one octave."""
    import numpy as np

    from seqgen.music.pianoroll import Quantisation, RollFormat, roll_to_midi

    rng = np.random.default_rng(seed)
    folder.mkdir()
    for i in range(pieces):
        roll = np.zeros((frames, 88), dtype=bool)
        roll[np.arange(frames), 39 + rng.integers(0, 12, frames)] = True
        roll_to_midi(roll, folder / f"p{i:02d}.mid", RollFormat(Quantisation(1)))
    return folder


def test_train_lr_range_halves_by_rate_keeping_or_dropping_all_its_seeds(cli, tmp_path):
    folder = midi_melodies(tmp_path / "midi", 12, 16, seed=1)
    out = tmp_path / "search"
    proc = cli("train", "--data", folder, "--model", "rnn", "--hidden", "4", "--epochs", "6", "--patience", "0",
               "--out", out, "--lr-range", "0.001:1", "--trials", "3", "--seeds", "2")  # fmt: skip
    assert proc.code == 0, proc.output
    rows = json.loads((out / "members.json").read_text())
    by_rate = {}
    for r in rows:
        by_rate.setdefault(round(r["lr"], 9), []).append(r)
    assert [len(v) for v in by_rate.values()] == [2, 2, 2]
    kept = [lr for lr, seeds in by_rate.items() if all(r["status"] != "dropped" for r in seeds)]
    assert len(kept) == 1  # the rung at epoch 5 keeps a third of the 3 rates, each with both its seeds
    assert all(all(r["status"] == "dropped" for r in by_rate[lr]) for lr in by_rate if lr not in kept)
    mean = sum(r["best_valid"] for r in by_rate[kept[0]]) / 2
    assert f"best lr {kept[0]:.4g}: valid {mean:.4f} nats/frame, mean of 2 seed(s)" in " ".join(proc.output.split())


def test_train_lr_range_searches_from_the_cli_and_best_pt_scores(cli, tmp_path):
    folder = midi_melodies(tmp_path / "midi", 16, 24, seed=0)
    out = tmp_path / "search"
    args = ["--data", folder, "--model", "rnn", "--hidden", "6", "--epochs", "2", "--out", out]
    proc = cli("train", *args, "--lr-range", "0.01:0.1", "--trials", "2", "--seeds", "2")
    assert proc.code == 0, proc.output
    rows = json.loads((out / "members.json").read_text())
    assert sorted((round(r["lr"], 9), r["seed"]) for r in rows) == [(0.01, 0), (0.01, 1), (0.1, 0), (0.1, 1)]
    scored = cli("score", "--model", out / "best.pt", "--data", folder, "--split", "valid", "--json")
    assert scored.code == 0, scored.output
    best = max(r["best_valid"] for r in rows)
    assert json.loads(scored.stdout)["log_likelihood_per_frame"] == pytest.approx(best, abs=1e-4)
    fresh = [*args[:-1], tmp_path / "fresh"]
    assert "--lr-range" in cli("train", *fresh, "--lr-range", "fast").one_line_error()


def test_members_without_a_gain_above_min_delta_stop_after_patience(tmp_path):
    train = TrainConfig(epochs=6, patience=2, seed=5, device="cpu")
    make = lambda: MusicModel(CONFIG).double()
    flat = replace(SEARCH, rungs=(), min_delta=1e9)  # no gain is large enough: every member stops at epoch 3
    members = run_search(TinyMusic(), make, flat, MemberSpec(seed=10, lr=0.0), OPTIM, train, tmp_path)
    assert {(m.status, len(m.curve)) for m in members} == {("stopped", 3)}
    assert "no validation gain above 1e+09 for 2 epochs" in members[0].reason
    kept = run_search(TinyMusic(), make, replace(flat, min_delta=0.0), MemberSpec(seed=10, lr=0.0), OPTIM, train,
                      tmp_path / "off")  # fmt: skip
    assert any(len(m.curve) > 3 for m in kept) and not any("gain above" in m.reason for m in kept)
