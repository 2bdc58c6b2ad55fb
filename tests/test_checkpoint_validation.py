"""Checkpoints are validated alike for music and text: every malformed variant of a good checkpoint (built
programmatically: missing, wrong-typed or inconsistent entries, garbage tokenizer bytes, non-finite
weights) gives exit 1 and one error line naming the file, for `sample` and `score`, never a traceback."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from clirun import exit_code as cli

from seqgen.music.sample import shipped_model


@pytest.fixture(scope="module")
def text_ckpt(tmp_path_factory) -> dict:
    """A real text checkpoint: one epoch of a tiny char LM."""
    folder = tmp_path_factory.mktemp("text")
    (folder / "t.txt").write_text("the cat sat on the mat\nand the dog ran far away\n" * 20)
    code = cli("train", "--text", folder / "t.txt", "--cell", "gru", "--no-leaky", "--hidden", "6", "--embedding", "4",
               "--epochs", "1", "--batch-size", "4", "--chunk-len", "20", "--out", folder / "run", "--device", "cpu")
    assert code == 0
    ckpt = torch.load(folder / "run" / "best.pt", weights_only=True)
    del ckpt["tensor_sha256"]  # the variants test the schema checks, which a digest would pre-empt for tensors
    return ckpt


def _set(path: str, value) -> Callable[[dict], None]:
    """Mutation: set ckpt[a][b]... (dotted path) to `value`."""
    def mutate(ckpt: dict) -> None:
        *head, last = path.split(".")
        for key in head:
            ckpt = ckpt[key]
        ckpt[last] = value
    return mutate


def _delete(path: str) -> Callable[[dict], None]:
    def mutate(ckpt: dict) -> None:
        *head, last = path.split(".")
        for key in head:
            ckpt = ckpt[key]
        del ckpt[last]
    return mutate


def _weight(fn: Callable[[dict], None]) -> Callable[[dict], None]:
    """Mutation of the first floating-point weight tensor."""
    def mutate(ckpt: dict) -> None:
        fn(ckpt["state_dict"])
    return mutate


def _first(sd: dict) -> str:
    return next(k for k, v in sd.items() if v.is_floating_point())


TEXT_VARIANTS: dict[str, Callable[[dict], None]] = {
    "no vocab_size": _delete("model_config.vocab_size"),
    "vocab_size a string": _set("model_config.vocab_size", "18"),
    "vocab_size negative": _set("model_config.vocab_size", -3),
    "vocab_size larger than the weights": lambda c: c["model_config"].update(
        vocab_size=c["model_config"]["vocab_size"] + 5),
    "no recurrent config": _delete("model_config.recurrent"),
    "recurrent config a list": _set("model_config.recurrent", [1, 2]),
    "unknown model_config key": _set("model_config.colour", "blue"),
    "hidden_size a float": lambda c: c["model_config"]["recurrent"].update(hidden_size=6.5),
    "model_config a string": _set("model_config", "text-lm"),
    "no tokenizer": _delete("tokenizer"),
    "tokenizer a string": _set("tokenizer", "char"),
    "tokenizer kind unknown": _set("tokenizer", {"kind": "bytes"}),
    "char tokenizer without chars": _set("tokenizer", {"kind": "char"}),
    "char tokenizer chars an int": _set("tokenizer", {"kind": "char", "chars": 123}),
    "char tokenizer of another vocabulary": _set("tokenizer", {"kind": "char", "chars": "abc"}),
    "word tokenizer words an int": _set("tokenizer", {"kind": "word", "words": 7}),
    "word tokenizer of another vocabulary": _set("tokenizer", {"kind": "word", "words": ["a", "b"]}),
    "sentencepiece garbage bytes": _set("tokenizer", {"kind": "sentencepiece", "model": b"\x00garbage\xff" * 10}),
    "sentencepiece model None": _set("tokenizer", {"kind": "sentencepiece", "model": None}),
    "sentencepiece model a string": _set("tokenizer", {"kind": "sentencepiece", "model": "not bytes"}),
    "state_dict missing a weight": _weight(lambda sd: sd.pop(next(iter(sd)))),
    "state_dict extra weight": _weight(lambda sd: sd.update(extra=torch.zeros(2))),
    "state_dict wrong shape": _weight(lambda sd: sd.update({_first(sd): torch.zeros(3, 3)})),
    "state_dict a string value": _weight(lambda sd: sd.update({_first(sd): "weights"})),
    "state_dict empty": _set("state_dict", {}),
    "NaN weight": _weight(lambda sd: sd[_first(sd)].view(-1).__setitem__(0, math.nan)),
    "infinite weight": _weight(lambda sd: sd[_first(sd)].view(-1).__setitem__(0, math.inf)),
    "integer weights": _weight(lambda sd: sd.update({_first(sd): sd[_first(sd)].long()})),
    "task unknown": _set("task", "video"),
    "task missing": _delete("task"),
    "format_version from the future": _set("format_version", 99),
    "format_version a string": _set("format_version", "2"),
    "data a list": _set("data", []),
    "best_valid NaN": _set("best_valid", math.nan),
}


def _write_variant(tmp_path: Path, good: dict, mutate: Callable[[dict], None]) -> Path:
    ckpt = copy.deepcopy(good)
    mutate(ckpt)
    path = tmp_path / "broken model.pt"  # a space, to see the whole name in the message
    torch.save(ckpt, path)
    return path


def assert_one_line_error(capsys, path: Path, code: int) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    assert str(path) in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("variant", TEXT_VARIANTS)
def test_malformed_text_checkpoint_is_one_line(text_ckpt, tmp_path, capsys, variant):
    path = _write_variant(tmp_path, text_ckpt, TEXT_VARIANTS[variant])
    (tmp_path / "t.txt").write_text("the cat\n")
    capsys.readouterr()
    assert_one_line_error(capsys, path, cli("sample", "--model", path, "--prompt", "the", "--length", "5"))
    assert_one_line_error(capsys, path, cli("score", tmp_path / "t.txt", "--model", path, "--json"))


def test_mismatched_tokenizer_is_refused_naming_both_sizes(text_ckpt, tmp_path, capsys):
    path = _write_variant(tmp_path, text_ckpt, TEXT_VARIANTS["char tokenizer of another vocabulary"])
    capsys.readouterr()
    line = assert_one_line_error(capsys, path, cli("sample", "--model", path, "--prompt", "a"))
    assert "tokenizer" in line and str(text_ckpt["model_config"]["vocab_size"]) in line


def test_nan_weight_refused_at_load_names_the_weight(text_ckpt, tmp_path, capsys):
    path = _write_variant(tmp_path, text_ckpt, TEXT_VARIANTS["NaN weight"])
    (tmp_path / "t.txt").write_text("the cat\n")
    capsys.readouterr()
    line = assert_one_line_error(capsys, path, cli("score", tmp_path / "t.txt", "--model", path, "--json"))
    assert _first(text_ckpt["state_dict"]) in line and "finite" in line
    assert "NaN" not in capsys.readouterr().out


@pytest.fixture(scope="module")
def music_ckpt() -> dict:
    return torch.load(shipped_model(), weights_only=True)


MUSIC_VARIANTS: dict[str, Callable[[dict], None]] = {
    "no quantisation": _delete("data.roll_format.quantisation"),
    "n_pitches off": _set("data.roll_format.n_pitches", 12),
    "low_pitch out of MIDI": _set("data.roll_format.low_pitch", 200),
    "n_visible a string": _set("model_config.n_visible", "88"),
    "model kind unknown": _set("model_config.kind", "rnn-gan"),
    "state_dict wrong shape": _weight(lambda sd: sd.update({_first(sd): torch.zeros(2)})),
    "state_dict missing a weight": _weight(lambda sd: sd.pop(next(iter(sd)))),
    "NaN weight": _weight(lambda sd: sd[_first(sd)].view(-1).__setitem__(0, math.nan)),
    "a text task label": _set("task", "text"),
    "quantisation garbage": _set("data.roll_format.quantisation", {"steps_per_quarter": "many"}),
    "format 1 layout, quantisation garbage": lambda c: c.update(format_version=1, data={
        "low_pitch": 21, "n_pitches": 88, "quantisation": {"steps_per_quarter": "many", "fs": None, "tempo_bpm": 100}}),
}


@pytest.mark.parametrize("variant", MUSIC_VARIANTS)
def test_malformed_music_checkpoint_names_the_file(music_ckpt, tmp_path, capsys, variant):
    path = _write_variant(tmp_path, music_ckpt, MUSIC_VARIANTS[variant])
    capsys.readouterr()
    assert_one_line_error(capsys, path, cli("sample", "--model", path, "--out", tmp_path / "x.mid", "--frames", "4"))
    assert not (tmp_path / "x.mid").exists()
