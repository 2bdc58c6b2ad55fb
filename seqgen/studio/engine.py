"""What the studio page asks for: songs from a shipped model, continuing a built-in or uploaded primer, written
as MIDI and WAV into a private folder, and returned as note runs for the page to draw."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.music.shipped import named_model, shipped_index
from seqgen.studio.primers import PRIMERS, primer_midi

MAX_UPLOAD = 2_000_000  # bytes of MIDI a page may send as its primer
KEPT = 20  # songs kept on disk for the page to play and download; older ones are removed
LIMITS = {"temperature": (0.05, 5.0), "seconds": (1.0, 300.0)}


def _number(request: dict, name: str, default: float) -> float:
    """A bounded number from the request, or one line saying what is wrong with it."""
    value = request.get(name, default)
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise SeqgenError(f"{name} {value!r}: expected a number from {low:g} to {high:g}")
    return float(value)


class Studio:
    """Generates songs on request (one at a time: the model runs on one thread), keeping the last KEPT."""

    def __init__(self, folder: Path, soundfont: Path | None = None):
        self.folder, self.soundfont = folder, soundfont
        self.lock = threading.Lock()
        self.loaded: dict[str, tuple[dict, Any]] = {}
        self.count = 0

    def catalogue(self) -> dict:
        """The shipped models and the built-in primers, as the page lists them."""
        keys = ("name", "kind", "dataset", "title", "test_log_likelihood", "estimator")
        models = [{k: r[k] for k in keys if k in r} for r in shipped_index()]
        primers = [{"name": name, "label": label} for name, (label, _, _) in PRIMERS.items()]
        return {"models": models, "primers": primers, "limits": LIMITS}

    def _model(self, name: str):
        """The checkpoint and model of the shipped model `name`, loaded once."""
        if name not in self.loaded:
            from seqgen.checkpoint import load_checkpoint
            from seqgen.tasks import get_task

            path = named_model(name)
            if path is None:
                raise SeqgenError(f"model {name!r}: not a shipped model (see seqgen models)")
            ckpt = load_checkpoint(path)
            if ckpt.get("task") != "music":
                raise SeqgenError(f"{path}: not a music model")
            self.loaded[name] = ckpt, get_task("music").load(ckpt, path, "cpu")
        return self.loaded[name]

    def _primer(self, request: dict, folder: Path) -> Path | None:
        """The primer file the request names: none, a built-in, or an uploaded MIDI file (base64)."""
        primer, upload = request.get("primer") or None, request.get("upload")
        if upload is not None:
            try:
                data = base64.b64decode(str(upload), validate=True)
            except (binascii.Error, ValueError):
                raise SeqgenError("upload: not base64-encoded data") from None
            if not 0 < len(data) <= MAX_UPLOAD:
                raise SeqgenError(f"upload: {len(data):,} bytes; a primer must be 1 byte to {MAX_UPLOAD:,}")
            path = folder / "primer" / (Path(str(request.get("upload_name") or "")).name or "upload.mid")
            path.parent.mkdir()
            path.write_bytes(data)  # kept under its own name, so that a refusal names the user's file
            return path
        if primer is None:
            return None
        if primer not in PRIMERS:
            raise SeqgenError(f"primer {primer!r}: not one of {', '.join(PRIMERS)}")
        path = folder / "primer.mid"
        path.write_bytes(primer_midi(primer))
        return path

    def generate(self, request: dict) -> dict:
        """Sample one song as the request says (model, primer, temperature, seconds, seed); its files and notes."""
        from seqgen.music.pianoroll import note_runs
        from seqgen.music.sample import sample_music
        from seqgen.music.task import midi_read_of

        if not isinstance(request, dict):
            raise SeqgenError("the request must be a JSON object")
        temperature, seconds = _number(request, "temperature", 1.0), _number(request, "seconds", 20.0)
        seed = request.get("seed")
        if seed is None or seed == "":
            seed = secrets.randbelow(2**31)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise SeqgenError(f"seed {seed!r}: expected a whole number from 0")
        name = model_name(request)
        with self.lock:
            ckpt, model = self._model(name)
            self.count += 1
            song_id = str(self.count)
            folder = self.folder / song_id
            folder.mkdir(parents=True)
            try:
                primer = self._primer(request, folder)
                result = sample_music(ckpt, model, folder / "song.mid", seconds=seconds, temperature=temperature,
                                      primer=primer, read=midi_read_of(ckpt), seed=seed, wav=True,
                                      soundfont=self.soundfont)  # fmt: skip
            except SeqgenError as exc:  # said with the user's file name, not the studio's folder
                shutil.rmtree(folder, ignore_errors=True)
                said = str(exc).replace(f"{folder / 'primer'}{os.sep}", "").replace(f"{folder}{os.sep}", "")
                raise SeqgenError(said) from None
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._forget(self.count - KEPT)
        fmt = model.roll_format
        keys, starts, ends = note_runs(result.rolls[0])
        spq = fmt.quantisation.steps_per_quarter
        return {
            "id": song_id, "model": name, "seed": seed, "tempo_bpm": result.tempo_bpm,
            "frames": int(result.rolls.shape[1]), "primer_frames": result.primer_frames,
            "bar_frames": 4 * spq if spq else None,
            "frame_seconds": 60 / result.tempo_bpm / spq if spq else fmt.quantisation.frame_seconds,
            "notes": [[int(k) + fmt.low_pitch, int(s), int(e)] for k, s, e in zip(keys, starts, ends)],
            "renderer": result.wav_renderer, "midi": f"/files/{song_id}/song.mid", "wav": f"/files/{song_id}/song.wav",
        }  # fmt: skip

    def _forget(self, song: int) -> None:
        """Remove song number `song`'s folder (if any): the studio keeps the last KEPT songs."""
        if song > 0:
            shutil.rmtree(self.folder / str(song), ignore_errors=True)

    def song_file(self, song_id: str, name: str) -> Path | None:
        """A kept song's song.mid or song.wav, or None."""
        if not song_id.isdigit() or name not in ("song.mid", "song.wav"):
            return None
        path = self.folder / song_id / name
        return path if path.is_file() else None


def model_name(request: dict) -> str:
    """The model a request asked for (the index's first when it named none)."""
    name = request.get("model") or shipped_index()[0]["name"]
    if not isinstance(name, str):
        raise SeqgenError(f"model {name!r}: expected a shipped model's name")
    return name
