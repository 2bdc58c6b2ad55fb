"""MusicModel: causality, step-by-step equals teacher forcing, checkpoint round trip, overfitting."""

from dataclasses import asdict

import numpy as np
import pytest
import torch

from seqgen.checkpoint import FORMAT_VERSION
from seqgen.errors import SeqgenError
from seqgen.music.model import PRESETS, MusicModel, make_config
from seqgen.tasks import get_task

KINDS = [("rnn-nade", "tanh", False), ("rnn-rbm", "relu", True), ("rnn", "lstm", False), ("rnn-nade", "gru", False)]


def tiny(kind, cell="tanh", leaky=False) -> MusicModel:
    torch.manual_seed(0)
    return MusicModel(make_config(kind=kind, n_visible=12, rnn_hidden=8, cond_hidden=6, cell=cell, leaky=leaky)).eval()


def random_rolls(b=2, t=9, p=12, seed=0) -> torch.Tensor:
    return (torch.rand(b, t, p, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


@pytest.mark.parametrize(("kind", "cell", "leaky"), KINDS)
def test_changing_frame_t_changes_no_conditional_of_frames_up_to_t(kind, cell, leaky):
    model, rolls = tiny(kind, cell, leaky), random_rolls()
    t = 4
    changed = rolls.clone()
    changed[:, t] = 1 - changed[:, t]
    with torch.no_grad():
        before, _ = model.teacher_forced_biases(rolls)
        after, _ = model.teacher_forced_biases(changed)
        lp_before = model.conditional.loss(rolls, before, torch.Generator().manual_seed(1))
        lp_after = model.conditional.loss(changed, after, torch.Generator().manual_seed(1))
    for name in before:
        torch.testing.assert_close(before[name][:, : t + 1], after[name][:, : t + 1])
        assert not torch.allclose(before[name][:, t + 1], after[name][:, t + 1])
    if kind != "rnn-rbm":  # exact per-frame log-probs of frames < t are unchanged too
        torch.testing.assert_close(lp_before[:, :t], lp_after[:, :t])


@pytest.mark.parametrize(("kind", "cell", "leaky"), KINDS)
def test_stepping_equals_teacher_forcing(kind, cell, leaky):
    model, rolls = tiny(kind, cell, leaky), random_rolls()
    with torch.no_grad():
        forced, final = model.teacher_forced_biases(rolls)
        state = model.initial_state(2)
        step = model.next_biases(state)
        for t in range(rolls.shape[1]):
            for name in step:
                torch.testing.assert_close(step[name], forced[name][:, t])
            step, state = model.step(rolls[:, t], state)
    torch.testing.assert_close(state.h, final.h)


def test_chunks_with_carried_state_equal_whole_sequence():
    model, rolls = tiny("rnn-nade"), random_rolls(t=10)
    with torch.no_grad():
        whole, _ = model.teacher_forced_biases(rolls)
        first, state = model.teacher_forced_biases(rolls[:, :6])
        second, _ = model.teacher_forced_biases(rolls[:, 6:], state)
    torch.testing.assert_close(torch.cat([first["b_h"], second["b_h"]], 1), whole["b_h"])


def checkpoint_of(model: MusicModel) -> dict:
    return {
        "format_version": FORMAT_VERSION, "task": "music", "kind": model.config.kind,
        "model_config": asdict(model.config), "state_dict": model.state_dict(),
        "data": {"roll_format": {"low_pitch": 21, "n_pitches": 12, "quantisation": {"steps_per_quarter": 2,
                                                                                   "tempo_bpm": 100.0}}},
    }  # fmt: skip


def test_checkpoint_round_trip_gives_identical_log_probs(tmp_path):
    model, rolls = tiny("rnn-nade"), random_rolls()
    again = get_task("music").load(checkpoint_of(model), tmp_path / "m.pt", "cpu")
    with torch.no_grad():
        a = model.conditional.log_prob(rolls, model.teacher_forced_biases(rolls)[0])
        b = again.conditional.log_prob(rolls, again.teacher_forced_biases(rolls)[0])
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("preset", "kind", "cell", "rnn", "cond"),
    [("paper-rbm", "rnn-rbm", "tanh", 100, 150), ("paper-nade", "rnn-nade", "tanh", 100, 150),
     ("paper-rnn", "rnn", "tanh", 100, 150), ("gru-nade", "rnn-nade", "gru", 200, 200)],
)
def test_presets_have_the_documented_sizes_and_overrides_apply(preset, kind, cell, rnn, cond):
    config = make_config(preset)
    assert (config.kind, config.recurrent.cell, config.recurrent.hidden_size, config.cond_hidden) == (
        kind, cell, rnn, cond)
    assert PRESETS[preset] == config  # presets are not mutated by building
    tuned = make_config(preset, rnn_hidden=7, leaky=True, cell="relu")
    assert (tuned.recurrent.hidden_size, tuned.recurrent.leaky, tuned.kind) == (7, True, kind)
    with pytest.raises(ValueError, match="unknown"):
        make_config(preset, no_such_setting=1)


def test_a_checkpoint_whose_weights_do_not_fit_names_the_file(tmp_path):
    ckpt = checkpoint_of(tiny("rnn-nade"))
    ckpt["model_config"]["cond_hidden"] = 7
    with pytest.raises(SeqgenError, match=r"m\.pt: not a usable music checkpoint"):
        get_task("music").load(ckpt, tmp_path / "m.pt", "cpu")


def test_batches_pad_mask_chunk_and_carry():
    from seqgen.music.batching import roll_batches

    data = [np.ones((n, 5), dtype=bool) for n in (7, 3, 5)]
    out = list(roll_batches(data, batch_size=3, chunk_len=4))
    assert [carry for _, carry in out] == [False, True]
    first, second = out[0][0], out[1][0]
    assert first.rolls.shape == (3, 4, 5) and second.rolls.shape == (3, 3, 5)
    assert sorted(first.lengths.tolist() + second.lengths.tolist()) == [0, 1, 3, 3, 4, 4]
    assert float((first.rolls.sum(-1) > 0).float().sum() + (second.rolls.sum(-1) > 0).float().sum()) == 15
    assert torch.equal(first.mask, first.rolls.sum(-1) > 0)


def test_transposition_shifts_each_sequence_and_drops_notes_outside():
    from seqgen.music.batching import pad_group, transpose_batch

    roll = np.zeros((2, 10), dtype=bool)
    roll[:, [4, 9]] = True
    batch = transpose_batch(pad_group([roll] * 8, list(range(8))), 2, torch.Generator().manual_seed(0))
    shifts = set()
    for song in batch.rolls:
        keys = song[0].nonzero().flatten().tolist()
        shift = keys[0] - 4
        shifts.add(shift)
        assert -2 <= shift <= 2 and keys == [k + shift for k in (4, 9) if k + shift < 10]
        assert torch.equal(song[0], song[1])
    assert len(shifts) > 1


def test_a_checkpoint_with_the_roll_format_entries_at_the_top_of_data_still_loads(tmp_path):
    ckpt = checkpoint_of(tiny("rnn-nade"))
    ckpt["data"] = {**ckpt["data"].pop("roll_format"), "dataset": "toy"}
    model = get_task("music").load(ckpt, tmp_path / "m.pt", "cpu")
    assert (model.roll_format.low_pitch, model.roll_format.n_pitches) == (21, 12)
