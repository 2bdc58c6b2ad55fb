"""A sweep's per-run records, read from OUT/runs/*.json (what `lab sweep` writes) or from the compact
OUT/runs.jsonl.gz (one run per line, what the repository keeps), checked field by field so that a tampered
folder (wrong JSON types, deep nesting, a FIFO, UTF-16, truncated files) is one line naming the file."""

from __future__ import annotations

import gzip
import json
import math
import os
import stat
import zlib
from pathlib import Path

from seqgen.errors import SeqgenError

PACKED = "runs.jsonl.gz"
MAX_FILE_BYTES = 256 << 20  # a population file or a packed sweep, decompressed


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _list_of(test):
    return lambda v: isinstance(v, list) and all(test(x) for x in v)


def _optional_number(v) -> bool:
    return v is None or _number(v)


FIELDS = {  # what the report reads → (test, what it must be)
    "run_id": (lambda v: isinstance(v, str), "a string"),
    "cell_id": (lambda v: isinstance(v, str), "a string"),
    "seed": (_integer, "an integer"),
    "status": (lambda v: v in ("fail", "success", "diverged"), "fail, success or diverged"),
    "success": (lambda v: isinstance(v, bool), "true or false"),
    "stopped_step": (_integer, "an integer"),
    "seq_len": (lambda v: _integer(v) and v >= 1, "an integer ≥ 1"),
    "metric": (lambda v: isinstance(v, str), "a string"),
    "criterion": (lambda v: isinstance(v, str), "a string"),
    "eval_steps": (_list_of(_integer), "a list of integers"),
    "metric_curve": (_list_of(_optional_number), "a list of numbers"),
    "diag_steps": (_list_of(_integer), "a list of integers"),
    "log10_ratio": (_list_of(_optional_number), "a list of numbers"),
    "profile_t": (_list_of(_integer), "a list of integers"),
    "profiles": (_list_of(_list_of(_optional_number)), "a list of lists of numbers"),
}
SETTINGS = {"task": str, "length": int, "cell": str, "init": str, "lr": float, "eval_every": int, "steps": int}


def check_record(record, where: str) -> dict:
    """A run record with every field the report reads, of the right type; SeqgenError otherwise."""
    if not isinstance(record, dict):
        raise SeqgenError(f"{where}: a run record should be an object, not {type(record).__name__}")
    for key, (test, what) in FIELDS.items():
        if key not in record:
            raise SeqgenError(f"{where}: run {record.get('run_id', '?')!r} has no {key!r}")
        if not test(record[key]):
            raise SeqgenError(f"{where}: run {record.get('run_id', '?')!r}: {key} should be {what}")
    settings = record.get("settings")
    if not isinstance(settings, dict) or not all(isinstance(v, (str, int, float, bool)) for v in settings.values()):
        raise SeqgenError(f"{where}: run {record['run_id']!r}: settings should be an object of plain values")
    for key, kind in SETTINGS.items():
        value = settings.get(key)
        ok = _number(value) and (kind is float or _integer(value)) if kind is not str else isinstance(value, str)
        if not ok or (kind is float and not math.isfinite(value)):
            raise SeqgenError(f"{where}: run {record['run_id']!r}: settings.{key} should be {kind.__name__}")
    if len(record["diag_steps"]) != len(record["log10_ratio"]) or len(record["eval_steps"]) != len(
        record["metric_curve"]) or any(len(p) != len(record["profile_t"]) for p in record["profiles"]):  # fmt: skip
        raise SeqgenError(f"{where}: run {record['run_id']!r}: its series differ in length")
    return record


def read_bytes(path: Path) -> bytes:
    """A regular file's bytes (a FIFO or device is refused, never opened for a blocking read); gz unpacked."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SeqgenError(f"{path}: not a regular file")
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as raw:
            if path.suffix != ".gz":
                data = raw.read(MAX_FILE_BYTES + 1)
            else:
                with gzip.GzipFile(fileobj=raw) as unpacked:
                    data = unpacked.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SeqgenError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise SeqgenError(f"{path}: more than {MAX_FILE_BYTES >> 20} MiB; not a sweep's result file")
    return data


def _parse(text: bytes, where: str):
    try:
        return json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SeqgenError(f"{where}: not UTF-8 JSON (byte {exc.start})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SeqgenError(f"{where}: not valid JSON ({str(exc)[:80]}); truncated or tampered") from None


def _population(path: Path) -> list[dict]:
    """The records of one OUT/runs/*.json population file, each with its population id and data seed."""
    data = _parse(read_bytes(path), str(path))
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not isinstance(data.get("spec"), dict):
        raise SeqgenError(f"{path}: not a population file (an object with spec and runs)")
    pid, data_seed = data.get("population_id"), data["spec"].get("data_seed")
    if not isinstance(pid, str) or not _integer(data_seed):
        raise SeqgenError(f"{path}: population_id should be a string and spec.data_seed an integer")
    return [{**check_record(r, str(path)), "population_id": pid, "data_seed": data_seed} for r in data["runs"]]


def packed_records(path: Path) -> list[dict]:
    """The records of a packed sweep, one JSON object per line."""
    records = []
    for n, line in enumerate(read_bytes(path).splitlines(), 1):
        where = f"{path} line {n}"
        record = check_record(_parse(line, where), where)
        if not isinstance(record.get("population_id"), str) or not _integer(record.get("data_seed")):
            raise SeqgenError(f"{where}: population_id should be a string and data_seed an integer")
        records.append(record)
    return records


def finished(directory: str | Path) -> tuple[dict[str, dict], bool]:
    """(every finished run of a sweep folder by run id, whether any came from runs/*.json): the packed runs and
    those in OUT/runs/ together, OUT/runs/ winning for a run in both (a sweep committed part way, then resumed,
    adds its new populations to the pack); empty when there are none."""
    directory = Path(directory)
    files = sorted(Path(directory, "runs").glob("*.json")) if Path(directory, "runs").is_dir() else []
    packed = Path(directory, PACKED)
    by_id = {r["run_id"]: r for r in packed_records(packed)} if packed.exists() else {}
    by_id.update({r["run_id"]: r for f in files for r in _population(f)})
    return by_id, bool(files)


def load_records(directory: str | Path) -> tuple[list[dict], bool]:
    """(every run of a sweep folder sorted by run id, whether any came from runs/*.json rather than the packed
    file), as `finished` reads them; SeqgenError when there is none."""
    by_id, from_runs = finished(directory)
    if not by_id:
        raise SeqgenError(f"{directory}: no finished runs (expected runs/*.json from `seqgen lab sweep` or {PACKED})")
    return [by_id[k] for k in sorted(by_id)], from_runs


def pack(records: list[dict]) -> bytes:
    """The compact per-sweep file: one record per line (sorted keys), gzip with no time stamp, so that the
    same runs always give the same bytes."""
    text = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
