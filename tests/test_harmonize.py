"""`seqgen harmonize`: the melody stays as it is on top, the notes below are exact conditional draws."""

import itertools
from dataclasses import asdict

import mido
import numpy as np
import pytest
import torch

from seqgen.checkpoint import FORMAT_VERSION, save_checkpoint
from seqgen.errors import SeqgenError
from seqgen.music.conditionals import NADE
from seqgen.music.harmonize import check_harmonizable, clamps, melody_tops, sample_clamped
from seqgen.music.model import MusicModel, make_config
from seqgen.music.note_order import DescendingNADE
from seqgen.music.pianoroll import Quantisation, RollFormat, midi_to_roll

P, DRAWS = 5, 40000
EVERY = torch.tensor(list(itertools.product([0.0, 1.0], repeat=P)))  # [2^P, P]


def strong(module: torch.nn.Module, seed: int = 3) -> torch.nn.Module:
    """Deliberately large random weights, so that the distributions are far from uniform."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(1.5 * torch.randn_like(param))
    return module.requires_grad_(False)


def tiny_biases(seed: int = 4) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"b_v": torch.randn(P, generator=g), "b_h": torch.randn(3, generator=g)}


def draw_frequencies(draws: torch.Tensor) -> np.ndarray:
    """Share of each of the 2^P frames (in EVERY's order) among `draws` [n, P]."""
    index = draws.long() @ (1 << torch.arange(P - 1, -1, -1))
    return np.bincount(index.numpy(), minlength=2**P) / len(draws)


def test_descending_nade_is_the_nade_of_the_flipped_frame() -> None:
    up, down = strong(NADE(P, 3)), DescendingNADE(P, 3).requires_grad_(False)
    down.load_state_dict(up.state_dict())
    biases = tiny_biases()
    flipped = {**biases, "b_v": biases["b_v"].flip(-1)}
    torch.testing.assert_close(down.log_prob(EVERY, biases), up.log_prob(EVERY.flip(-1), flipped))
    assert float(torch.logsumexp(down.log_prob(EVERY, biases), 0)) == pytest.approx(0.0, abs=1e-5)
    # the highest pitch is the first unit: its conditional depends on nothing else
    logits = down.logits(EVERY, biases)
    assert torch.allclose(logits[:, -1], logits[0, -1])


@pytest.mark.parametrize("kind", ["nade", "rbm"])
def test_clamped_sampling_draws_the_exact_conditional(kind) -> None:
    if kind == "nade":
        cond = strong(DescendingNADE(P, 3))
    else:
        cond = strong(MusicModel(make_config(kind="rnn-rbm", n_visible=P, rnn_hidden=2, cond_hidden=3)).conditional)
        cond.sample_steps = 30
    biases = tiny_biases()
    known, values = (torch.as_tensor(a[0]) for a in clamps(np.array([2]), P))  # top voice on column 2
    batch = {k: b.expand(DRAWS, -1) for k, b in biases.items()}
    draws = sample_clamped(cond, batch, known, values, torch.Generator().manual_seed(0))
    assert (draws[:, known] == values[known].float()).all()
    log_p = cond.log_prob(EVERY, biases) if kind == "nade" else -cond.free_energy(EVERY, biases)
    allowed = (EVERY[:, known] == values[known].float()).all(1)
    exact = torch.where(allowed, log_p, -torch.inf).softmax(0).numpy()  # p(v below | top voice), enumerated
    assert np.abs(draw_frequencies(draws) - exact).max() < 0.01
    assert exact[allowed.numpy()].min() > 0.01  # every configuration below the melody is reachable


def test_an_ascending_nade_is_refused() -> None:
    with pytest.raises(SeqgenError, match="--note-order descending"):
        check_harmonizable(MusicModel(make_config(kind="rnn-nade", n_visible=P, rnn_hidden=2, cond_hidden=3)))


def test_clamps_hold_the_top_voice_and_silence_above_and_in_rests() -> None:
    roll = np.zeros((3, P), bool)
    roll[0, [1, 3]] = True
    roll[2, 0] = True
    tops = melody_tops(roll)
    assert tops.tolist() == [3, -1, 0]
    known, values = clamps(tops, P)
    assert known.tolist() == [[False] * 3 + [True] * 2, [True] * P, [True] * P]
    assert values.tolist() == [[False, False, False, True, False], [False] * P, [True] + [False] * 4]


FMT = RollFormat(Quantisation(steps_per_quarter=2, tempo_bpm=100.0))
MELODY = [(72, 2, 70), (71, 1, 64), (69, 1, 90), (None, 2, 0), (67, 4, 50)]  # pitch, quarters, velocity


def write_melody(path, tpb: int = 96) -> list[tuple[int, int, int, int]]:
    """A one-voice melody with a rest, at 66 BPM; returns its notes (start, end, pitch, velocity)."""
    mid = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(66)))
    notes, now, wait = [], 0, 0
    for pitch, quarters, velocity in MELODY:
        if pitch is None:
            wait += quarters * tpb
            continue
        track.append(mido.Message("note_on", note=pitch, velocity=velocity, time=wait))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=quarters * tpb))
        now += wait
        notes.append((now, now + quarters * tpb, pitch, velocity))
        now, wait = now + quarters * tpb, 0
    mid.save(path)
    return notes


def notes_of(path) -> list[tuple[int, int, int, int]]:
    now, open_, notes = 0, {}, []
    for msg in mido.merge_tracks(mido.MidiFile(str(path)).tracks):
        now += msg.time
        if msg.type == "note_on" and msg.velocity:
            open_[msg.note] = (now, msg.velocity)
        elif msg.type in ("note_on", "note_off") and msg.note in open_:
            start, vel = open_.pop(msg.note)
            notes.append((start, now, msg.note, vel))
    return sorted(notes)


@pytest.mark.parametrize("kind", ["rnn-nade", "rnn-rbm", "rnn"])
def test_cli_keeps_the_melody_and_nothing_sounds_above_it(cli, tmp_path, kind) -> None:
    torch.manual_seed(0)
    config = make_config(kind=kind, n_visible=88, rnn_hidden=8, cond_hidden=8, note_order="descending")
    model = strong(MusicModel(config), seed=1)
    with torch.no_grad():
        model.to_biases.bias[:88] += 2.0  # a dense model: many notes, above the melody too if not held back
    save_checkpoint(tmp_path / "m.pt", {"format_version": FORMAT_VERSION, "task": "music", "kind": kind,
                                        "model_config": asdict(config), "state_dict": model.state_dict(),
                                        "seed": 0, "data": {"dataset": "tiny", "roll_format": FMT.to_dict()}})
    melody = write_melody(tmp_path / "melody.mid")
    result = cli("harmonize", tmp_path / "melody.mid", "--model", tmp_path / "m.pt", "--out", tmp_path / "h.mid",
                 "--n", 2, "--seed", 1)  # fmt: skip
    assert result.code == 0, result.output
    tops = melody_tops(midi_to_roll(tmp_path / "melody.mid", FMT).roll)
    for i in range(2):
        out = notes_of(tmp_path / f"h-{i:03d}.mid")
        assert set(melody) <= set(out)  # ticks, pitches and velocities unchanged
        roll = midi_to_roll(tmp_path / f"h-{i:03d}.mid", FMT).roll
        assert roll.shape[0] == len(tops)
        assert np.array_equal(melody_tops(roll), tops)  # the melody is the top voice, rests stay silent
        assert roll[tops < 0].sum() == 0 and roll.sum() > 2 * (tops >= 0).sum()


def test_cli_refuses_an_ascending_nade_in_one_line(cli, tmp_path) -> None:
    config = make_config(kind="rnn-nade", n_visible=88, rnn_hidden=8, cond_hidden=8)
    save_checkpoint(tmp_path / "m.pt", {"format_version": FORMAT_VERSION, "task": "music", "kind": "rnn-nade",
                                        "model_config": asdict(config), "state_dict": MusicModel(config).state_dict(),
                                        "seed": 0, "data": {"dataset": "tiny", "roll_format": FMT.to_dict()}})
    write_melody(tmp_path / "melody.mid")
    line = cli("harmonize", tmp_path / "melody.mid", "--model", tmp_path / "m.pt", "--out",
               tmp_path / "h.mid").one_line_error()  # fmt: skip
    assert "--note-order descending" in line and not (tmp_path / "h.mid").exists()


def test_a_chorale_harmonization_scores_better_than_random_notes_under_its_melody() -> None:
    """The shipped RNN-NADE (descending order) harmonizes the top voice of a chorale of the embedded test split."""
    pytest.importorskip("music21")
    from seqgen.checkpoint import load_checkpoint
    from seqgen.music import embedded
    from seqgen.music.datasets import split_by_hash
    from seqgen.music.harmonize import harmonize_rolls
    from seqgen.music.sample import shipped_model
    from seqgen.music.score import score_rolls
    from seqgen.music.task import SPEC

    names = embedded.chorale_names()
    chorale = embedded.convert_chorale(names[split_by_hash(names)["test"][0]])[:, 21:109]  # MIDI 0..127 -> 21..108
    path = shipped_model()
    model = SPEC.load(load_checkpoint(path), path, "cpu")
    tops = melody_tops(chorale)
    ours = harmonize_rolls(model, tops, n=4, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    random = np.zeros_like(ours)
    for song, roll in zip(random, ours):  # as many notes per frame as the harmonization, anywhere below the top
        for t, top in enumerate(tops):
            if top >= 0:
                song[t, top] = True
                below = rng.choice(top, size=min(top, int(roll[t].sum()) - 1), replace=False)
                song[t, below] = True
    score = {name: score_rolls(model, list(r), frame_accuracy=False)["log_likelihood_per_frame"]
             for name, r in (("ours", ours), ("random", random))}  # fmt: skip
    assert score["ours"] > score["random"] + 3.0, score
