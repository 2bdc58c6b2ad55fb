"""Pictures and sound of piano-rolls: a matplotlib PNG with named pitches and bar lines, and WAV audio
through FluidSynth and a General MIDI soundfont (--soundfont, $SEQGEN_SOUNDFONT or the system's) when both are
installed, pretty_midi's sine synthesis else."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import pretty_midi

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_path, write_bytes_atomic

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FRAME_PX, KEY_PX, MARGINS = 4, 6, (60, 16, 14, 40)  # pixels: per frame, per key; left, right, top, bottom
COLOUR_BAR_PX, TITLE_PX = 70, 18  # extra pixels for a colour bar (right) and a title (top)
SOUNDFONT_PATHS = (  # where distributions and Homebrew put a General MIDI soundfont
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 -> 'C4', 61 -> 'C#4', 21 -> 'A0'."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _pitch_rows(roll: np.ndarray, low_pitch: int) -> tuple[int, int]:
    """The MIDI range [lo, hi] to draw: whole octaves C..B around the notes (the full roll if it is empty)."""
    active = np.flatnonzero(roll.any(axis=0))
    if active.size == 0:
        return low_pitch, low_pitch + roll.shape[1] - 1
    lo = (low_pitch + int(active[0])) // 12 * 12
    hi = (low_pitch + int(active[-1])) // 12 * 12 + 11
    return max(lo, low_pitch), min(hi, low_pitch + roll.shape[1] - 1)


def plot_size(frames: int, rows: int) -> tuple[int, int, int, int]:
    """Plot area (width, height) and image (width, height) in pixels for `frames` frames and `rows` keys:
    FRAME_PX per frame (400..3200 px wide) and KEY_PX per key (120..800 px high), plus MARGINS."""
    width, height = int(np.clip(frames * FRAME_PX, 400, 3200)), int(np.clip(rows * KEY_PX, 120, 800))
    left, right, top, bottom = MARGINS
    return width, height, width + left + right, height + top + bottom


def roll_figure(
    roll: np.ndarray, *, low_pitch: int = 21, primer_frames: int = 0, bar_frames: int | None = None,
    values: np.ndarray | None = None, label: str = "",
):  # fmt: skip
    """matplotlib Figure of a roll bool[T, P] (Agg, no pyplot): time on x with a line and number per bar
    (`bar_frames`), pitch on y (high at top) named at each C, or at every key for two octaves or less; the
    first `primer_frames` frames are shaded and their notes drawn in orange. With `values` float[T, P], each
    note is coloured by its value (a colour bar on the right, `label` above the plot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    roll = np.asarray(roll, dtype=bool)
    frames = roll.shape[0]
    lo, hi = _pitch_rows(roll, low_pitch)
    pitches = np.arange(lo, hi + 1)
    width, height, full_width, full_height = plot_size(frames, len(pitches))
    if values is not None:
        full_width, full_height = full_width + COLOUR_BAR_PX, full_height + TITLE_PX
    left, _, _, bottom = MARGINS
    figure = Figure(figsize=(full_width / 100, full_height / 100), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((left / full_width, bottom / full_height, width / full_width, height / full_height))
    black = np.isin(pitches % 12, (1, 3, 6, 8, 10))
    image = np.where(black[:, None, None], 0.93, 1.0) * np.ones((len(pitches), max(frames, 1), 3))
    primer = np.arange(max(frames, 1)) < primer_frames
    image[:, primer] = (1.0, 0.93, 0.8)
    notes = roll[:, pitches - low_pitch].T if frames else np.zeros((len(pitches), 1), bool)
    image[notes & ~primer] = (0.13, 0.25, 0.63)
    image[notes & primer] = (0.75, 0.31, 0.08)
    if values is not None:
        _colour_notes(figure, ax, image, notes, values[:, pitches - low_pitch].T if frames else None, label)
    ax.imshow(
        image,
        aspect="auto",
        interpolation="nearest",
        origin="lower",
        extent=(0, max(frames, 1), lo - 0.5, hi + 0.5),
    )
    named = pitches if len(pitches) <= 25 else pitches[pitches % 12 == 0]
    ax.set_yticks(named, [pitch_name(int(p)) for p in named], fontsize=7)
    for c in pitches[pitches % 12 == 0]:
        ax.axhline(c - 0.5, color=(0.7, 0.72, 0.78), linewidth=0.6)
    if bar_frames:
        bars = np.arange(0, frames, bar_frames)
        ax.vlines(bars[1:], lo - 0.5, hi + 0.5, color=(0.45, 0.47, 0.55), linewidth=0.8)
        step = max(1, len(bars) // 32)  # at most ~32 bar numbers
        ax.set_xticks(bars[::step], [str(i + 1) for i in range(0, len(bars), step)], fontsize=7)
        ax.set_xlabel("bar", fontsize=8)
    else:
        ax.set_xlabel("frame", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    return figure


def _colour_notes(figure, ax, image, notes, values, label):
    """Paint the notes of `image` [rows, T, 3] by `values` [rows, T] (viridis, 5th-95th percentile) and add a
    colour bar to the right of `ax`, and `label` (what the values are) above it."""
    from matplotlib import cm, colors

    finite = values[notes] if values is not None else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    lo, hi = (np.percentile(finite, [5, 95]) if finite.size else (0.0, 1.0))
    norm = colors.Normalize(lo, max(hi, lo + 1e-6))
    if values is not None:
        image[notes] = cm.viridis(norm(values[notes]))[:, :3]
    box = ax.get_position()
    bar_ax = figure.add_axes((box.x1 + 0.005, box.y0, 0.01, box.height))
    bar = figure.colorbar(cm.ScalarMappable(norm, cm.viridis), cax=bar_ax)  # (box: the plot area in figure units)
    bar.set_label("nats", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    ax.set_title(label, fontsize=7, loc="left")


def write_roll_png(
    roll: np.ndarray,
    path: str | os.PathLike,
    *,
    low_pitch: int = 21,
    primer_frames: int = 0,
    bar_frames: int | None = None,
    values: np.ndarray | None = None,
    label: str = "",
) -> tuple[int, int]:
    """Write a piano-roll picture (PNG, atomic) of a roll bool[T, P]; see `roll_figure` (`values`: note colours).
    Returns its (width, height) in pixels (`plot_size`, plus the colour bar and title with `values`)."""
    figure = roll_figure(roll, low_pitch=low_pitch, primer_frames=primer_frames, bar_frames=bar_frames,
                         values=values, label=label)  # fmt: skip
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes_atomic(path, buffer.getvalue())
    width, height = figure.canvas.get_width_height()
    return width, height


def check_soundfont(path: str | os.PathLike, origin: str = "") -> Path:
    """`path` if it is a readable SoundFont 2 file (RIFF, form type sfbk), else one line naming it; FluidSynth
    itself renders silence with exit status 0 from a file that is not one. `origin`: where the path came from."""
    path, said = Path(path), f" ({origin})" if origin else ""
    if not path.is_file():
        raise SeqgenError(f"{path}: no such soundfont{said}")
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError as exc:
        raise SeqgenError(f"{path}: cannot be read ({exc.strerror or exc}){said}") from None
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise SeqgenError(f"{path}: not a SoundFont 2 file (.sf2){said}")
    return path


def find_soundfont(given: str | os.PathLike | None = None) -> Path | None:
    """The General MIDI soundfont to render with: `given` (--soundfont), else $SEQGEN_SOUNDFONT (each must be a
    SoundFont 2 file), else the first of SOUNDFONT_PATHS present, else the TimGM6mb.sf2 that pretty_midi ships;
    None if there is none."""
    if given is not None:
        return check_soundfont(given)
    chosen = os.environ.get("SEQGEN_SOUNDFONT")
    if chosen:
        return check_soundfont(chosen, "set by $SEQGEN_SOUNDFONT")
    bundled = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    return next((Path(p) for p in (*SOUNDFONT_PATHS, bundled) if Path(p).is_file()), None)


def _read_wav(path: Path) -> np.ndarray:
    """Mono float audio [N] in -1..1 of a 16-bit PCM WAV file (channels averaged)."""
    with wave.open(str(path)) as wav:
        if wav.getsampwidth() != 2:
            raise SeqgenError(f"{path}: FluidSynth wrote {8 * wav.getsampwidth()}-bit audio, expected 16-bit")
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, wav.getnchannels())
    return pcm.mean(axis=1) / 32768.0


def synthesize(
    midi_path: str | os.PathLike, sample_rate: int = 22050, soundfont: str | os.PathLike | None = None
) -> tuple[np.ndarray, str]:
    """Audio float[N] of a MIDI file, exactly as long as the file (its last event), and the renderer used:
    the `fluidsynth` program with a General MIDI soundfont (`soundfont`, else `find_soundfont`'s) when both
    are installed, otherwise pretty_midi's sine-wave synthesis (refused when `soundfont` was asked for)."""
    try:
        midi = pretty_midi.PrettyMIDI(str(midi_path))
    except (ValueError, OSError, EOFError) as exc:
        raise SeqgenError(f"{midi_path}: cannot synthesise audio ({exc})") from None
    program, chosen = shutil.which("fluidsynth"), find_soundfont(soundfont)
    if soundfont is not None and program is None:
        raise SeqgenError(f"{soundfont}: rendering with a soundfont needs the fluidsynth program, which is not "
                          "installed (Debian: apt-get install fluidsynth)", param="soundfont")
    if program and chosen:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "audio.wav"
            command = [program, "-ni", "-g", "0.5", "-r", str(sample_rate), "-F", str(out), "-T", "wav"]
            done = subprocess.run(
                [*command, "-O", "s16", str(chosen), str(midi_path)], capture_output=True, check=False
            )
            if done.returncode != 0 or not out.is_file():
                problem = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise SeqgenError(f"{midi_path}: fluidsynth failed ({problem[0]})")
            audio, renderer = _read_wav(out), f"FluidSynth ({chosen})"
    else:
        missing = "the fluidsynth program" if not program else "a General MIDI soundfont"
        audio, renderer = midi.synthesize(fs=sample_rate), f"pretty_midi sine synthesis ({missing} not found)"
    samples = round(midi.get_end_time() * sample_rate)
    return np.pad(audio[:samples], (0, max(0, samples - len(audio)))), renderer


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


def midi_file_to_wav(
    midi_path: str | os.PathLike, wav_path: str | os.PathLike, sample_rate: int = 22050,
    soundfont: str | os.PathLike | None = None,
) -> str:
    """Render a MIDI file to a WAV file as long as the MIDI file; return the renderer used (see `synthesize`)."""
    audio, renderer = synthesize(midi_path, sample_rate, soundfont)
    write_wav(audio, wav_path, sample_rate)
    return renderer
