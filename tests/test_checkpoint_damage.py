"""Damaged checkpoints: bits flipped across a small checkpoint (data.pkl, every tensor storage, the zip headers and
central directory) either load with identical contents or give one SeqgenError line naming the file; never another
exception, never silently changed values. Both with the tensor digest save_checkpoint writes and without it (as in
checkpoints written by torch.save, e.g. older releases), where the zip CRCs and folder flags alone must catch it."""

from __future__ import annotations

import random
import struct
import zipfile
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from seqgen.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from seqgen.core.recurrent import Recurrent, RecurrentConfig
from seqgen.errors import SeqgenError
from seqgen.music.sample import shipped_model

CENTRAL_HEADER = b"PK\x01\x02"
EXTERNAL_ATTR = 38  # offset of the external file attributes in a central directory header


def small_checkpoint() -> dict:
    torch.manual_seed(0)
    model = Recurrent(RecurrentConfig(3, 4))
    return {"format_version": FORMAT_VERSION, "task": "text", "kind": "text-lm", "model_config": asdict(model.config),
            "state_dict": model.state_dict(), "step": 12, "best_valid": -1.25, "seed": 7,
            "data": {"dataset": "toy"}}  # fmt: skip


def same(a, b) -> bool:
    """Deep equality that compares tensors by dtype, shape and every value."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def flips(raw: bytes, path: Path, seed: int = 0) -> list[tuple[int, int]]:
    """(byte, bit) pairs: one random bit of every byte of data.pkl and of each tensor storage, one of every 5th
    byte elsewhere, and the folder flag (bit 4 of the external attributes) of every central directory entry."""
    rng = random.Random(seed)
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    inside = set()
    for info in members:
        name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len
        if info.filename.endswith("data.pkl") or "/data/" in info.filename:
            inside.update(range(start, start + info.file_size))
    assert len(inside) > 500  # data.pkl and the storages were found
    positions = sorted(inside) + [p for p in range(0, len(raw), 5) if p not in inside]
    pairs = [(p, rng.randrange(8)) for p in positions]
    central = [i for i in range(len(raw)) if raw.startswith(CENTRAL_HEADER, i)]
    assert len(central) == len(members)
    return pairs + [(i + EXTERNAL_ATTR, 4) for i in central]


@pytest.mark.parametrize("writer", ["save_checkpoint", "torch.save"])
def test_flipped_bits_load_identically_or_give_one_line(tmp_path, writer):
    good_path = tmp_path / "good.pt"
    ckpt = small_checkpoint()
    save_checkpoint(good_path, ckpt) if writer == "save_checkpoint" else torch.save(ckpt, good_path)
    good, raw = load_checkpoint(good_path), good_path.read_bytes()
    assert same(good, ckpt)
    path = tmp_path / "damaged model.pt"
    outcomes = {"identical": 0, "refused": 0}
    for byte, bit in flips(raw, good_path):
        damaged = bytearray(raw)
        damaged[byte] ^= 1 << bit
        path.write_bytes(damaged)
        try:
            loaded = load_checkpoint(path)
        except SeqgenError as exc:
            message = str(exc)
            assert "\n" not in message and message.startswith(f"{path}: "), (byte, bit, message)
            outcomes["refused"] += 1
            continue
        assert same(loaded, good), f"bit {bit} of byte {byte} changed the checkpoint silently"
        outcomes["identical"] += 1
    assert outcomes["refused"] > 500 and outcomes["identical"] > 50, outcomes  # both outcomes occur


def test_save_checkpoint_stores_a_digest_that_catches_a_changed_tensor(tmp_path):
    """A tensor changed inside a consistent archive (CRCs recomputed) is still refused: the digest is in data.pkl."""
    path = tmp_path / "m.pt"
    save_checkpoint(path, small_checkpoint())
    loaded = torch.load(path, weights_only=True)
    loaded["state_dict"]["W_uu"][0, 0] += 1.0
    torch.save(loaded, path)  # the old digest, new tensors, valid CRCs
    with pytest.raises(SeqgenError, match="do not match their stored SHA-256"):
        load_checkpoint(path)


def _flip_inside(raw: bytes, path: Path, member: str) -> bytes:
    """`raw` with one bit flipped in the middle of `member`'s data."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    damaged = bytearray(raw)
    damaged[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0x10
    return bytes(damaged)


def test_the_cli_refuses_a_flipped_shipped_model_in_one_line(cli, tmp_path):
    """The shipped model (written before digests) with a bit flipped in data.pkl, or in its largest tensor."""
    good = shipped_model()
    raw = good.read_bytes()
    with zipfile.ZipFile(good) as archive:
        infos = archive.infolist()
    pickle_name = next(i.filename for i in infos if i.filename.endswith("data.pkl"))
    largest = max((i for i in infos if "/data/" in i.filename), key=lambda i: i.file_size).filename
    song = tmp_path / "song.mid"
    assert cli("sample", "--model", good, "--out", song, "--frames", "8").code == 0
    for member in (pickle_name, largest):
        path = tmp_path / f"flipped {Path(member).name}.pt"
        path.write_bytes(_flip_inside(raw, good, member))
        for verb in (["sample", "--out", tmp_path / "x.mid", "--frames", "8"], ["score", song]):
            line = cli(*verb, "--model", path).one_line_error()
            assert str(path) in line and "CRC-32" in line, line
    assert not (tmp_path / "x.mid").exists()
