"""Piano-roll PNGs decode to the picture we drew; WAV files open with the standard `wave` module."""

import struct
import wave
import zlib

import numpy as np
import pretty_midi

from seqgen.music.render import encode_png, midi_file_to_wav, roll_image, write_roll_png, write_wav


def decode_png(data: bytes) -> np.ndarray:
    """RGB uint8[H, W, 3] of an 8-bit truecolour, unfiltered PNG (what encode_png writes), checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 2) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, 3)


def test_png_is_valid_and_holds_the_picture(tmp_path) -> None:
    roll = np.zeros((40, 88), bool)
    roll[10:14, 60 - 21] = True  # middle C, frames 10..13
    path = tmp_path / "roll.png"
    write_roll_png(roll, path, primer_frames=8, bar_frames=16)
    image = decode_png(path.read_bytes())
    assert np.array_equal(image, roll_image(roll, primer_frames=8, bar_frames=16))
    assert image.shape == (12 * 5, 40 * 8, 3)  # one octave (C4..B4) of 5-pixel rows, 8-pixel frames


def test_notes_primer_and_time_axis_land_where_expected() -> None:
    roll = np.zeros((20, 88), bool)
    roll[2, 60 - 21] = True  # C4 early, inside the primer
    roll[15, 71 - 21] = True  # B4 late
    image = roll_image(roll, primer_frames=5, frame_px=2, pitch_px=3)
    assert image.shape == (36, 40, 3)
    top_row, bottom_row = image[0:2], image[33:35]  # highest pitch (B4) at the top, C4 at the bottom
    assert set(map(tuple, top_row[:, 30:32].reshape(-1, 3))) == {(32, 64, 160)}  # a sampled note
    assert set(map(tuple, bottom_row[:, 4:6].reshape(-1, 3))) == {(190, 80, 20)}  # a primer note
    assert tuple(image[2, 30]) == (255, 255, 255)  # a one-pixel gap under each key's notes
    assert tuple(image[35, 30]) == (190, 194, 204)  # the line under C
    assert tuple(image[10, 0]) == (255, 236, 204)  # primer shading
    assert tuple(image[10, 20]) != (255, 236, 204)


def test_empty_roll_still_draws_every_key() -> None:
    image = roll_image(np.zeros((8, 88), bool), pitch_px=2, frame_px=1)
    assert image.shape == (176, 8, 3)
    assert encode_png(image)[12:16] == b"IHDR"


def test_wav_reopens_with_wave(tmp_path) -> None:
    path = tmp_path / "tone.wav"
    write_wav(np.sin(np.linspace(0, 200, 4000)), path, sample_rate=8000)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (1, 2, 8000, 4000)
        pcm = np.frombuffer(wav.readframes(4000), "<i2")
    assert 0.85 < np.abs(pcm).max() / 32767 < 0.9


def test_midi_renders_to_wav(tmp_path) -> None:
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=0.5))
    midi.instruments.append(piano)
    midi.write(str(tmp_path / "c.mid"))
    renderer = midi_file_to_wav(tmp_path / "c.mid", tmp_path / "c.wav", sample_rate=8000)
    assert "fluidsynth" in renderer or "pretty_midi" in renderer
    with wave.open(str(tmp_path / "c.wav")) as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() >= 4000
