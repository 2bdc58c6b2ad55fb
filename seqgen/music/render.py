"""Pictures and sound of piano-rolls: a PNG piano-roll (NumPy + zlib, no plotting library) and WAV audio."""

from __future__ import annotations

import os
import struct
import wave
import zlib

import numpy as np
import pretty_midi

from seqgen.fileio import atomic_path, write_bytes_atomic
from seqgen.runtime import log

_WHITE_KEY = (255, 255, 255)
_BLACK_KEY = (236, 238, 242)
_OCTAVE_LINE = (190, 194, 204)
_BAR_LINE = (214, 218, 226)
_PRIMER_SHADE = (255, 236, 204)
_NOTE = (32, 64, 160)
_PRIMER_NOTE = (190, 80, 20)
_BLACK_PITCH_CLASSES = (1, 3, 6, 8, 10)


def _pitch_rows(roll: np.ndarray, low_pitch: int) -> tuple[int, int]:
    """The MIDI range [lo, hi] to draw: whole octaves C..B around the notes (the full roll if it is empty)."""
    active = np.flatnonzero(roll.any(axis=0))
    if active.size == 0:
        return low_pitch, low_pitch + roll.shape[1] - 1
    lo = (low_pitch + int(active[0])) // 12 * 12
    hi = (low_pitch + int(active[-1])) // 12 * 12 + 11
    return max(lo, low_pitch), min(hi, low_pitch + roll.shape[1] - 1)


def roll_image(
    roll: np.ndarray,
    *,
    low_pitch: int = 21,
    primer_frames: int = 0,
    bar_frames: int | None = None,
    frame_px: int | None = None,
    pitch_px: int = 5,
) -> np.ndarray:
    """RGB picture uint8[H, W, 3] of a roll bool[T, P]: time on x (left to right), pitch on y (high at top).

    Rows span whole octaves around the notes; black-key rows are tinted, a line marks each C and each bar
    (`bar_frames`), and the first `primer_frames` columns are shaded to show the user's primer.
    """
    roll = np.asarray(roll, dtype=bool)
    frames = roll.shape[0]
    if frame_px is None:
        frame_px = int(np.clip(1600 // max(frames, 1), 1, 8))
    lo, hi = _pitch_rows(roll, low_pitch)
    pitches = np.arange(hi, lo - 1, -1)  # top row = highest pitch
    notes = roll[:, pitches - low_pitch].T  # [rows, T]

    colours = np.array(
        [_WHITE_KEY, _BLACK_KEY, _NOTE, _PRIMER_SHADE, _PRIMER_NOTE, _BAR_LINE, _OCTAVE_LINE], dtype=np.uint8
    )
    primer = np.arange(frames) < primer_frames
    background = np.where(np.isin(pitches % 12, _BLACK_PITCH_CLASSES)[:, None], 1, 0)
    background = np.where(primer, 3, background)  # [rows, T]
    index = np.where(notes, np.where(primer, 4, 2), background)

    def scale(grid: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(grid, pitch_px, axis=0), frame_px, axis=1)

    pixels, empty = scale(index), scale(background)
    gaps = np.arange(pitch_px - 1, len(pitches) * pitch_px, pitch_px)  # last pixel row of each key
    if pitch_px > 2:
        pixels[gaps] = empty[gaps]  # so that notes on neighbouring keys stay apart
    if bar_frames:
        bars = np.arange(bar_frames, frames, bar_frames) * frame_px
        pixels[:, bars] = np.where(pixels[:, bars] < 2, 5, pixels[:, bars])
    c_lines = gaps[pitches % 12 == 0]
    on_note = np.isin(pixels[c_lines], (2, 4))
    pixels[c_lines] = np.where(on_note, pixels[c_lines], 6)  # a line under each C (notes win if keys are thin)
    return colours[pixels]


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB image uint8[H, W, 3] (8-bit truecolour, no filtering, zlib level 9)."""
    height, width, _ = image.shape
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def write_roll_png(
    roll: np.ndarray,
    path: str | os.PathLike,
    *,
    low_pitch: int = 21,
    primer_frames: int = 0,
    bar_frames: int | None = None,
) -> None:
    """Write a piano-roll picture of a roll bool[T, P] to `path` (atomic); see `roll_image`."""
    image = roll_image(roll, low_pitch=low_pitch, primer_frames=primer_frames, bar_frames=bar_frames)
    write_bytes_atomic(path, encode_png(image))


def synthesize(midi: pretty_midi.PrettyMIDI, sample_rate: int = 22050) -> tuple[np.ndarray, str]:
    """Audio float[N] of a MIDI file and the renderer's name.

    FluidSynth with a General MIDI soundfont ($SEQGEN_SOUNDFONT, else pretty_midi's bundled TimGM6mb.sf2)
    when pyfluidsynth is installed; otherwise pretty_midi's own sine-wave synthesis.
    """
    soundfont = os.environ.get("SEQGEN_SOUNDFONT")
    try:
        audio = midi.fluidsynth(sample_rate, soundfont) if soundfont else midi.fluidsynth(sample_rate)
        return audio, f"fluidsynth ({soundfont or 'TimGM6mb.sf2'})"
    except (ImportError, OSError, ValueError) as exc:
        log.debug("fluidsynth unavailable (%s); using pretty_midi's sine synthesis", exc)
    return midi.synthesize(fs=sample_rate), "pretty_midi sine synthesis"


def write_wav(audio: np.ndarray, path: str | os.PathLike, sample_rate: int = 22050) -> None:
    """Write mono audio float[N] as 16-bit PCM WAV (peak-normalised to -1 dBFS; atomic)."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    scaled = audio * (0.89 / peak) if peak > 0 else audio
    pcm = np.clip(np.round(scaled * 32767), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def midi_file_to_wav(midi_path: str | os.PathLike, wav_path: str | os.PathLike, sample_rate: int = 22050) -> str:
    """Render a MIDI file to a WAV file; return the renderer used (see `synthesize`)."""
    audio, renderer = synthesize(pretty_midi.PrettyMIDI(str(midi_path)), sample_rate)
    write_wav(audio, wav_path, sample_rate)
    return renderer
