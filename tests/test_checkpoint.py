"""Checkpoints round-trip exactly through weights-only loading; anything else is a one-line SeqgenError."""

from __future__ import annotations

import datetime
import io
import zipfile
from dataclasses import asdict

import mido
import pytest
import torch

from seqgen.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from seqgen.core.recurrent import Recurrent, RecurrentConfig
from seqgen.errors import SeqgenError


def make_ckpt(model: Recurrent) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "task": "text",
        "kind": "text-lm",
        "model_config": asdict(model.config),
        "state_dict": model.state_dict(),
        "optimizer_state": {},
        "step": 12,
        "epoch": 3,
        "best_valid": -1.25,
        "seed": 7,
        "data": {"dataset": "toy"},
        "tokenizer": {"kind": "char", "model": b"\x00\xffbytes"},
    }


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = Recurrent(RecurrentConfig(4, 6, cell="relu", leaky=True))
    ckpt = make_ckpt(model)
    save_checkpoint(tmp_path / "m.pt", ckpt)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert {k: v for k, v in loaded.items() if k != "state_dict"} == {
        k: v for k, v in ckpt.items() if k != "state_dict"
    }
    rebuilt = Recurrent(RecurrentConfig(**loaded["model_config"]))
    rebuilt.load_state_dict(loaded["state_dict"])
    x = torch.randn(2, 5, 4)
    assert torch.equal(rebuilt(x)[0], model(x)[0])


def test_non_finite_weights_are_never_saved(tmp_path):
    model = Recurrent(RecurrentConfig(4, 6))
    save_checkpoint(tmp_path / "m.pt", make_ckpt(model))
    with torch.no_grad():
        model.W_uu[0, 0] = float("nan")
    with pytest.raises(SeqgenError, match="W_uu is not finite"):
        save_checkpoint(tmp_path / "m.pt", make_ckpt(model))
    assert torch.isfinite(load_checkpoint(tmp_path / "m.pt")["state_dict"]["W_uu"]).all()


def midi_bytes() -> bytes:
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=64, time=0)])
    buffer = io.BytesIO()
    mido.MidiFile(tracks=[track]).save(file=buffer)
    return buffer.getvalue()


def saved(obj):
    def write(path):
        torch.save(obj, path)

    return write


def ckpt_without(key):
    ckpt = make_ckpt(Recurrent(RecurrentConfig(2, 3)))
    del ckpt[key]
    return ckpt


BAD_FILES = {
    "missing": (None, "no such checkpoint file"),
    "garbage": (lambda p: p.write_bytes(b"\x89garbage\x00" * 20), "not a PyTorch zip archive"),
    "empty": (lambda p: p.write_bytes(b""), "not a PyTorch zip archive"),
    "midi": (lambda p: p.write_bytes(midi_bytes()), "not a PyTorch zip archive"),
    "truncated": (
        lambda p: (torch.save({"x": torch.zeros(100)}, p), p.write_bytes(p.read_bytes()[:200])),
        "not a",
    ),
    "zip": (lambda p: zipfile.ZipFile(p, "w").writestr("a.txt", "hello"), "torch.load cannot read"),
    "code": (saved({"format_version": 1, "when": datetime.date(2024, 1, 1)}), "weights-only load refuses"),
    "not-dict": (saved([1, 2, 3]), "no format_version"),
    "version": (saved({**make_ckpt(Recurrent(RecurrentConfig(2, 3))), "format_version": 99}), "99"),
    "keys": (saved(ckpt_without("state_dict")), "lacks state_dict"),
    "task": (saved({**make_ckpt(Recurrent(RecurrentConfig(2, 3))), "task": 7}), "7 is not a task name"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_give_one_line_errors(tmp_path, case):
    write, fragment = BAD_FILES[case]
    path = tmp_path / f"{case}.pt"
    if write is not None:
        write(path)
    with pytest.raises(SeqgenError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and fragment in message


def test_a_checkpoint_of_an_unregistered_task_is_refused_by_sample_and_score(cli, tmp_path):
    path = tmp_path / "video.pt"
    save_checkpoint(path, {**make_ckpt(Recurrent(RecurrentConfig(2, 3))), "task": "video"})
    song = tmp_path / "song.mid"  # score reads its input before the model: give it a real one
    song.write_bytes(midi_bytes())
    for verb in (["sample", "--out", tmp_path / "x.mid"], ["score", song]):
        line = cli(*verb, "--model", path).one_line_error()
        assert str(path) in line and "'video' is not one of music, text" in line


def test_build_checkpoint_keeps_to_the_schema():
    """Every writer assembles its checkpoint with build_checkpoint, which refuses an entry the schema lacks."""
    from seqgen.checkpoint import FORMAT_VERSION, build_checkpoint

    info = {"task": "music", "kind": "rnn", "data": {}}
    ckpt = build_checkpoint(info, {"n": 1}, {}, seed=3, step=5, epoch_progress=None)
    assert ckpt["format_version"] == FORMAT_VERSION and ckpt["seed"] == 3 and ckpt["model_config"] == {"n": 1}
    with pytest.raises(ValueError, match="lr_typo"):
        build_checkpoint(info, {}, {}, lr_typo=0.1)
