"""Text input edge cases: a prompt with bytes that are not UTF-8 is one clear line; a temperature so high
that every token is about equally likely never prints replacement characters (char <unk>, sentencepiece
<unk> or a broken byte sequence)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from clirun import exit_code as cli

from seqgen.core.recurrent import RecurrentConfig
from seqgen.text.model import TextLM, TextModelConfig
from seqgen.text.sample import Utf8Guard, continue_text, sample_tokens
from seqgen.text.tokenizer import train_tokenizer

TEXT = "the cat sat on the mat. café, naïve — 東京 🙂\nand the dog ran far away\n" * 30
REPLACEMENTS = ("\ufffd", "\u2047")  # what decoding an unknown id or broken UTF-8 prints (� and ⁇)




def random_model(tok) -> TextLM:
    torch.manual_seed(0)
    return TextLM(TextModelConfig(tok.vocab_size, 4, RecurrentConfig(4, 8))).eval()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    (folder / "t.txt").write_text(TEXT)
    assert cli("train", "--text", folder / "t.txt", "--cell", "gru", "--no-leaky", "--hidden", "6", "--embedding",
               "4", "--epochs", "1", "--batch-size", "4", "--chunk-len", "20", "--out", folder / "run",
               "--device", "cpu") == 0
    return folder / "run"


def test_non_utf8_prompt_from_argv_is_one_line(run):
    """The bytes arrive as surrogate escapes in argv (what Python does with them), in a real process."""
    prompt = os.fsdecode(b"caf\xe9 \xff")
    proc = subprocess.run([sys.executable, "-m", "seqgen.cli", "sample", "--model", str(run / "best.pt"),
                           "--prompt", prompt, "--length", "5"], capture_output=True, check=False)
    err = proc.stderr.decode("utf-8", "replace").strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: --prompt") and "not UTF-8" in err and "\\xe9" in err


def test_non_utf8_prompt_in_process_and_a_good_one(run, capfd):
    assert cli("sample", "--model", run / "best.pt", "--prompt", os.fsdecode(b"\x80abc"), "--length", "3") == 1
    assert "--prompt" in capfd.readouterr().err
    assert cli("sample", "--model", run / "best.pt", "--prompt", "東京 naïve", "--length", "3") == 0
    assert capfd.readouterr().out.startswith("東京 naïve")


def test_cli_at_huge_temperature_prints_no_replacement_character(run, capfd):
    assert cli("sample", "--model", run / "best.pt", "--temperature", "1000", "--length", "400", "--n", "4",
               "--seed", "0") == 0
    out = capfd.readouterr().out
    assert len(out) > 1000 and not any(r in out for r in REPLACEMENTS)


@pytest.mark.parametrize("kind, vocab_size", [("char", None), ("sentencepiece", 400)])
def test_flat_sampling_never_decodes_to_replacement_characters(kind, vocab_size):
    tok = train_tokenizer(kind, TEXT, vocab_size=vocab_size)
    model = random_model(tok)
    texts = continue_text(model, tok, "the", length=600, n=8, temperature=1e6,
                          generator=torch.Generator().manual_seed(0))
    assert all(t.startswith("the") for t in texts)
    assert not any(r in t for t in texts for r in REPLACEMENTS)
    # the same draws without the guard do print them: the test can fail
    context = torch.as_tensor([tok.newline, *tok.encode("the").tolist()])
    raw = sample_tokens(model, context, length=600, n=8, temperature=1e6, generator=torch.Generator().manual_seed(0))
    assert any(r in tok.decode(row.tolist()) for row in raw for r in REPLACEMENTS)


def test_guard_allows_only_continuation_bytes_after_a_lead_byte():
    tok = train_tokenizer("sentencepiece", TEXT, vocab_size=400)
    sp = tok.processor
    guard = Utf8Guard.for_tokenizer(tok)
    guard.start(1, torch.device("cpu"))
    byte = {b: sp.piece_to_id(f"<0x{b:02X}>") for b in (0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC1, 0xE0, 0xED, 0xF5)}
    allowed = guard.allowed()[0]
    assert allowed[byte[0x41]] and allowed[byte[0xE0]] and not allowed[byte[0x80]] and not allowed[byte[0xC1]]
    assert not allowed[byte[0xF5]] and not allowed[sp.unk_id()] and allowed[tok.newline]
    guard.advance(torch.tensor([byte[0xE0]]), 0)  # E0 must be followed by A0..BF (no overlong forms)
    allowed = guard.allowed()[0]
    assert allowed[byte[0xA0]] and allowed[byte[0xBF]] and not allowed[byte[0x9F]] and not allowed[tok.newline]
    guard.advance(torch.tensor([byte[0xA0]]), 1)
    assert guard.allowed()[0][byte[0x80]] and not guard.allowed()[0][byte[0x41]]
    guard.advance(torch.tensor([byte[0x80]]), 2)
    assert guard.allowed()[0][byte[0x41]] and int(guard.pending[0]) == 0
    guard.advance(torch.tensor([byte[0xED]]), 3)  # ED: 80..9F only (no surrogates)
    assert guard.allowed()[0][byte[0x9F]] and not guard.allowed()[0][byte[0xA0]]


def test_char_unknown_in_prompt_is_kept_verbatim():
    tok = train_tokenizer("char", "abc\n")
    texts = continue_text(random_model(tok), tok, "aΩb", length=50, n=3, temperature=100.0,
                          generator=torch.Generator().manual_seed(1))
    assert all(t.startswith("aΩb") and "\ufffd" not in t for t in texts)
