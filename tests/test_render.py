"""Piano-roll PNGs decode to the documented size with notes, names and bars where they belong; WAV files
last exactly as long as the roll, through FluidSynth when it is installed and pretty_midi's synthesis else."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from matplotlib.image import imread

from seqgen.errors import SeqgenError
from seqgen.music.pianoroll import Quantisation, RollFormat, roll_to_midi
from seqgen.music.render import (
    MARGINS,
    midi_file_to_wav,
    pitch_name,
    plot_size,
    roll_figure,
    write_roll_png,
    write_wav,
)

FMT = RollFormat(Quantisation(steps_per_quarter=2, tempo_bpm=120.0))  # 0.25 s per frame
SF2_HEADER = b"RIFF\x04\x00\x00\x00sfbk"  # the first 12 bytes of every SoundFont 2 file


def one_note_roll() -> np.ndarray:
    roll = np.zeros((160, 88), bool)
    roll[100:120, 64 - 21] = True  # E4, frames 100..119
    return roll


def test_png_has_the_documented_size_and_the_note_where_it_belongs(tmp_path):
    path = tmp_path / "roll.png"
    size = write_roll_png(one_note_roll(), path, bar_frames=8)
    image = imread(path)[:, :, :3]
    _, height, full_width, full_height = plot_size(160, 12)  # one octave, C4..B4: the minimum height
    assert size == (full_width, full_height) == (160 * 4 + 60 + 16, 120 + 14 + 40)
    assert image.shape == (full_height, full_width, 3)
    left, _, top, _ = MARGINS
    note_row = top + height - int((64 - 60 + 0.5) * height / 12)  # E4's row, counted from the top
    note_blue = np.array([0.13, 0.25, 0.63])
    assert np.abs(image[note_row, left + 4 * 110] - note_blue).max() < 0.02  # frame 110: sounding
    assert np.abs(image[note_row, left + 4 * 90] - note_blue).max() > 0.3  # frame 90: silent
    assert np.abs(image[note_row - 3 * 6, left + 4 * 110] - note_blue).max() > 0.3  # G4: silent


def test_pitch_names_and_bar_lines_label_the_axes():
    assert [pitch_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]
    figure = roll_figure(one_note_roll(), bar_frames=8)
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["C4", "C#4", "D4"]
    assert ax.get_xlabel() == "bar" and ax.get_xticklabels()[1].get_text() == "2"
    (bars,) = ax.collections
    assert sorted({round(seg[0][0]) for seg in bars.get_segments()}) == list(range(8, 160, 8))
    wide = np.zeros((16, 88), bool)
    wide[:, [0, 87]] = True  # A0 and C8: only the Cs are named
    labels = [t.get_text() for t in roll_figure(wide).axes[0].get_yticklabels()]
    assert labels == [f"C{o}" for o in range(1, 9)]


def test_primer_frames_are_drawn_in_their_own_colour(tmp_path):
    roll = one_note_roll()
    roll[0:20, 64 - 21] = True
    write_roll_png(roll, tmp_path / "p.png", primer_frames=40)
    image = imread(tmp_path / "p.png")[:, :, :3]
    _, height, _, _ = plot_size(160, 12)
    left, _, top, _ = MARGINS
    row = top + height - int(4.5 * height / 12)
    assert np.abs(image[row, left + 4 * 10] - (0.75, 0.31, 0.08)).max() < 0.02  # primer note
    assert np.abs(image[row - 12, left + 4 * 30] - (1.0, 0.93, 0.8)).max() < 0.02  # primer shading


def wav_frames(path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path)) as wav:
        rate, n = wav.getframerate(), wav.getnframes()
        return rate, n, np.frombuffer(wav.readframes(n), "<i2").astype(float)


def test_wav_lasts_as_long_as_the_roll_with_sound_only_under_notes(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth program
    roll = np.zeros((40, 88), bool)
    roll[0:8, 69 - 21] = True  # A4 for 2 s, then 8 s of silence
    roll_to_midi(roll, tmp_path / "a.mid", FMT)
    renderer = midi_file_to_wav(tmp_path / "a.mid", tmp_path / "a.wav", sample_rate=8000)
    assert renderer.startswith("pretty_midi sine synthesis") and "fluidsynth program not found" in renderer
    rate, n, pcm = wav_frames(tmp_path / "a.wav")
    assert rate == 8000 and n == 40 * 0.25 * 8000
    assert np.abs(pcm[: 2 * rate]).max() > 0.8 * 32767 and np.abs(pcm[3 * rate :]).max() == 0


def test_fluidsynth_is_used_when_installed_and_trimmed_to_the_roll(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "fluidsynth"  # writes 12 s of stereo noise where -F says, at the -r rate
    fake.parent.mkdir()
    fake.write_text(
        f"#!{__import__('sys').executable}\n"
        "import sys, wave, numpy as np\n"
        "a = sys.argv; rate = int(a[a.index('-r') + 1])\n"
        "with wave.open(a[a.index('-F') + 1], 'wb') as w:\n"
        "    w.setnchannels(2); w.setsampwidth(2); w.setframerate(rate)\n"
        "    w.writeframes((np.random.default_rng(0).integers(-9000, 9000, 24 * rate)).astype('<i2').tobytes())\n"
    )
    fake.chmod(0o755)
    soundfont = tmp_path / "gm.sf2"
    soundfont.write_bytes(SF2_HEADER)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.setenv("SEQGEN_SOUNDFONT", str(soundfont))
    roll_to_midi(np.ones((40, 88), bool)[:, :88] & (np.arange(88) == 48), tmp_path / "b.mid", FMT)
    assert (
        midi_file_to_wav(tmp_path / "b.mid", tmp_path / "b.wav", sample_rate=8000)
        == f"FluidSynth ({soundfont})"
    )
    rate, n, _ = wav_frames(tmp_path / "b.wav")
    assert (rate, n) == (8000, 80_000)
    monkeypatch.setenv("SEQGEN_SOUNDFONT", str(tmp_path / "absent.sf2"))
    with pytest.raises(SeqgenError, match="absent.sf2: no such soundfont"):
        midi_file_to_wav(tmp_path / "b.mid", tmp_path / "c.wav")
    monkeypatch.setenv("SEQGEN_SOUNDFONT", str(tmp_path / "b.mid"))  # FluidSynth would render silence from it
    with pytest.raises(SeqgenError, match=r"b.mid: not a SoundFont 2 file \(.sf2\) \(set by \$SEQGEN_SOUNDFONT\)"):
        midi_file_to_wav(tmp_path / "b.mid", tmp_path / "c.wav")
    other = tmp_path / "other.sf2"  # --soundfont wins over $SEQGEN_SOUNDFONT
    other.write_bytes(SF2_HEADER)
    assert midi_file_to_wav(tmp_path / "b.mid", tmp_path / "d.wav", 8000, soundfont=other) == f"FluidSynth ({other})"
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(SeqgenError, match="needs the fluidsynth program") as refused:
        midi_file_to_wav(tmp_path / "b.mid", tmp_path / "e.wav", soundfont=other)
    assert refused.value.param == "soundfont"


def test_wav_is_peak_normalised_16_bit_mono(tmp_path):
    path = tmp_path / "tone.wav"
    write_wav(np.sin(np.linspace(0, 200, 4000)), path, sample_rate=8000)
    rate, n, pcm = wav_frames(path)
    assert (rate, n) == (8000, 4000) and 0.85 < np.abs(pcm).max() / 32767 < 0.9


def one_a4(path, seconds: float = 1.5) -> None:
    """A MIDI file of one A4 (440 Hz), `seconds` long at 120 BPM, built with mido."""
    import mido

    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.Message("note_on", note=69, velocity=96, time=0),
                            mido.Message("note_off", note=69, velocity=0, time=round(seconds * 2 * 480))])
    midi.tracks.append(track)
    midi.save(path)


def overtones_db(pcm: np.ndarray, rate: int, f0: float = 440.0) -> float:
    """Level in dB of the loudest of the 2nd to 4th harmonics of `f0`, relative to `f0` itself (bands of ±15 Hz)."""
    power = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    band = [power[np.abs(freqs - k * f0) < 15].sum() for k in (1, 2, 3, 4)]
    return float(10 * np.log10(max(band[1:]) / band[0] + 1e-30))


@pytest.mark.skipif(__import__("shutil").which("fluidsynth") is None, reason="the fluidsynth program is absent")
def test_fluidsynth_renders_a_piano_unlike_the_sine_fallback(tmp_path, monkeypatch):
    """The real synthesizer with a real General MIDI soundfont: the WAV lasts as long as the MIDI, and its
    spectrum holds a piano's overtones where the fallback's sine is one line at 440 Hz."""
    from seqgen.music.render import find_soundfont

    monkeypatch.delenv("SEQGEN_SOUNDFONT", raising=False)
    one_a4(tmp_path / "a4.mid")
    renderer = midi_file_to_wav(tmp_path / "a4.mid", tmp_path / "fluid.wav", sample_rate=22050)
    assert renderer == f"FluidSynth ({find_soundfont()})"
    rate, n, fluid = wav_frames(tmp_path / "fluid.wav")
    assert (rate, n) == (22050, round(1.5 * 22050))
    assert np.abs(fluid).max() > 0.8 * 32767  # sound, peak-normalised
    monkeypatch.setenv("PATH", str(tmp_path))  # now without fluidsynth: the fallback
    assert midi_file_to_wav(tmp_path / "a4.mid", tmp_path / "sine.wav").startswith("pretty_midi sine")
    _, n_sine, sine = wav_frames(tmp_path / "sine.wav")
    assert n_sine == n
    assert overtones_db(sine, rate) < -60  # a pure tone (measured: about -117 dB)
    assert overtones_db(fluid, rate) > -35  # a piano's overtones (measured with FluidR3_GM: -18 dB, the 4th)
    spectrum = np.abs(np.fft.rfft(fluid))
    assert abs(np.fft.rfftfreq(n, 1 / rate)[np.argmax(spectrum)] - 440) < 5  # the note itself is the loudest line


def test_sample_wav_says_its_renderer_and_takes_a_soundfont(cli, tmp_path, monkeypatch):
    """`seqgen sample --wav` names the renderer; --soundfont picks the file FluidSynth plays, is checked before
    sampling, and asks for --wav."""
    monkeypatch.delenv("SEQGEN_SOUNDFONT", raising=False)
    one_a4(tmp_path / "not-a-soundfont.sf2")
    bad = cli("sample", "--out", tmp_path / "a.mid", "--frames", 8, "--wav", "--soundfont",
              tmp_path / "not-a-soundfont.sf2")  # fmt: skip
    assert "not-a-soundfont.sf2: not a SoundFont 2 file (.sf2)" in bad.one_line_error()
    assert not (tmp_path / "a.mid").exists()
    without_wav = cli("sample", "--out", tmp_path / "a.mid", "--soundfont", tmp_path / "not-a-soundfont.sf2")
    assert "--soundfont: chooses the sound of --wav: give --wav too" in without_wav.one_line_error()
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth: sine waves, and the output says so
    fallback = cli("sample", "--out", tmp_path / "b.mid", "--frames", 8, "--seed", 1, "--wav")
    assert fallback.code == 0 and "audio rendered with pretty_midi sine synthesis" in fallback.output
    fake = tmp_path / "fluidsynth"  # a stand-in that writes an empty WAV (the header alone is checked here)
    fake.write_text(
        f"#!{__import__('sys').executable}\n"
        "import sys, wave\n"
        "a = sys.argv\n"
        "with wave.open(a[a.index('-F') + 1], 'wb') as w:\n"
        "    w.setnchannels(2); w.setsampwidth(2); w.setframerate(int(a[a.index('-r') + 1])); w.writeframes(b'')\n"
    )
    fake.chmod(0o755)
    chosen = tmp_path / "mine.sf2"
    chosen.write_bytes(SF2_HEADER)
    picked = cli("sample", "--out", tmp_path / "c.mid", "--frames", 8, "--wav", "--soundfont", chosen)
    assert picked.code == 0 and f"audio rendered with FluidSynth ({chosen})" in picked.output, picked.output
