"""Factorial designs: a TOML file → runs (one trained RNN each) → cells (a setting of every factor; its runs
are the seeds) → populations (runs that differ only in learning rate, clipping, momentum and seed).

    name = "adding-factorial"      # optional
    seed = 0                       # replicate r has initialisation seed `seed + r`
    max_members = 64               # largest population
    [defaults]                     # scalar settings shared by every block
    task = "adding"
    steps = 800
    [[block]]                      # a full factorial: every list is a factor, crossed with the others
    cell = ["tanh", "relu"]
    init = ["identity", "orthogonal"]
    length = [25, 50, 100]
    lr = [1e-3, 1e-2]
    seeds = 5                      # or an explicit list of replicate numbers

The design is the union of its blocks. LSTM/GRU keep PyTorch's initialisation, so their `init` is
"default" whatever the block says (duplicates collapse). Every value is checked before anything is expanded,
and a design of more than MAX_CELLS cells or MAX_RUNS runs is refused before it is expanded.

Seeds: by default (`paired_seeds = false`) each cell draws its own initialisation seeds and its own data
stream (its seeds share that stream). With `paired_seeds = true`, the cells that differ only in learning
rate, clipping or momentum share the seeds `seed + r` and one data stream (a paired comparison).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import stat
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from seqgen.errors import SeqgenError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

INITS = {  # name → (RecurrentConfig.init, init_scale)
    "identity": ("identity", 1.0),
    "scaled_identity": ("identity", 0.01),
    "orthogonal": ("orthogonal", 1.0),
    "gaussian": ("gaussian", 1.0),
    "default": ("orthogonal", 1.0),  # gated cells: unused, PyTorch's own initialisation
}
# The engine's names, kept here so that a design is checked without importing torch (a test keeps them equal).
TASKS = ("adding", "temporal_order", "latching", "copy_memory", "digits", "digits_permuted", "mnist",
         "mnist_permuted")  # fmt: skip
CELLS = ("tanh", "relu", "sigmoid", "linear", "lstm", "gru")
OPTIMIZERS = ("nesterov", "sgd", "adam")
MOMENTUM_SCHEDULES = ("constant", "sutskever")
MEMBER_KEYS = ("lr", "clip", "momentum")
MAX_CELLS = 20_000  # a design expanding to more cells (or runs) is refused before it is expanded
MAX_RUNS = 200_000
SETTINGS = {  # key → (type, default)
    "task": (str, "adding"),
    "length": (int, 0),
    "cell": (str, "tanh"),
    "init": (str, "orthogonal"),
    "leaky": (bool, False),
    "hidden": (int, 32),
    "optimizer": (str, "adam"),
    "momentum_schedule": (str, "constant"),
    "steps": (int, 500),
    "batch_size": (int, 20),
    "eval_every": (int, 50),
    "eval_size": (int, 1000),
    "diag_every": (int, 100),
    "threshold": (float, -1.0),  # < 0: the task's stated default
    "data_path": (str, ""),
    "lr": (float, 1e-3),
    "clip": (float, 1.0),
    "momentum": (float, 0.9),
}
CHOICES = {"task": TASKS, "cell": CELLS, "init": tuple(INITS), "optimizer": OPTIMIZERS,
           "momentum_schedule": MOMENTUM_SCHEDULES}  # fmt: skip
BOUNDS = {  # key → (test, what it must be)
    "length": (lambda v: v >= 0, "≥ 0 (0: the task's own length)"),
    **{k: (lambda v: v >= 1, "≥ 1") for k in ("hidden", "steps", "batch_size", "eval_every", "eval_size",
                                               "diag_every")},
    "threshold": (math.isfinite, "finite (negative: the task's default)"),
    "lr": (lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
    "clip": (lambda v: math.isfinite(v) and v >= 0, "a finite number ≥ 0 (0: no clipping)"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
}  # fmt: skip
TOP_LEVEL = ("name", "seed", "max_members", "paired_seeds", "defaults", "block")
MAX_DESIGN_BYTES = 1 << 20


def stable_hash(obj, n: int = 12) -> str:
    """Hex digest of an object's canonical JSON: ids that do not change between processes or machines."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


@dataclass
class Run:
    """One RNN to train: its settings (every factor), initialisation seed and ids; `paired` runs that differ
    only in the member keys (lr, clip, momentum) share a population key, hence a population and data stream."""

    settings: dict
    seed: int
    paired: bool = True
    cell_id: str = field(init=False)
    run_id: str = field(init=False)
    population_key: str = field(init=False)

    def __post_init__(self):
        self.cell_id = stable_hash(self.settings)
        self.run_id = f"{self.cell_id}-s{self.seed}"
        shared = {k: v for k, v in self.settings.items() if k not in MEMBER_KEYS or not self.paired}
        self.population_key = stable_hash(shared)


@dataclass
class Design:
    """An expanded design: its name, base seed, population size limit, pairing and runs (deduplicated)."""

    name: str
    seed: int
    max_members: int
    runs: list[Run]
    paired_seeds: bool = False

    @property
    def n_cells(self) -> int:
        return len({r.cell_id for r in self.runs})


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(key: str, value, where: str):
    """Validate one setting: its type (ints are accepted for floats), its choices and its range."""
    if key not in SETTINGS:
        raise SeqgenError(f"{where}: unknown setting {key!r} (known: {', '.join(SETTINGS)}, seeds)")
    kind = SETTINGS[key][0]
    ok = isinstance(value, kind) and (kind is not int or _is_int(value))
    if not ok and not (kind is float and _is_int(value)):
        raise SeqgenError(f"{where}: {key} = {value!r} should be {kind.__name__}")
    if key in CHOICES and value not in CHOICES[key]:
        raise SeqgenError(f"{where}: {key} {value!r}: expected one of {', '.join(CHOICES[key])}")
    value = float(value) if kind is float else value
    test, what = BOUNDS.get(key, (lambda v: True, ""))
    if not test(value):
        raise SeqgenError(f"{where}: {key} = {value!r} should be {what}")
    return value


def _replicates(seeds, where: str) -> list[int]:
    """A block's replicate numbers: `seeds = n` (n ≥ 1) or a non-empty list of distinct integers ≥ 0."""
    if _is_int(seeds) and 1 <= seeds <= MAX_RUNS:
        return list(range(seeds))
    if isinstance(seeds, list) and seeds and all(_is_int(s) and 0 <= s < 2**31 for s in seeds):
        return sorted(set(seeds))
    raise SeqgenError(f"{where}: seeds = {seeds!r} should be a count 1..{MAX_RUNS} or a list of integers ≥ 0")


def _table(value, what: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise SeqgenError(f"{where}: {what} should be a table, not {type(value).__name__}")
    return value


def read_design_text(path: str | Path) -> str:
    """A design file's text: a regular UTF-8 file of at most MAX_DESIGN_BYTES (a FIFO is refused, not read)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise SeqgenError(f"{path}: not a regular file")
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as f:
            data = f.read(MAX_DESIGN_BYTES + 1)
    except OSError as exc:
        raise SeqgenError(f"{path}: cannot read the design ({exc.strerror or exc})") from None
    if len(data) > MAX_DESIGN_BYTES:
        raise SeqgenError(f"{path}: a design of more than {MAX_DESIGN_BYTES} bytes; expected a small TOML file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SeqgenError(f"{path}: not UTF-8 text (byte {exc.start}); save the design as UTF-8") from None


def load_design(path: str | Path, seed: int | None = None) -> Design:
    """Read, check and expand a TOML design (`seed` replaces its base seed); SeqgenError names file and problem."""
    text = read_design_text(path)
    try:
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise SeqgenError(f"{path}: not a valid TOML design ({exc})") from None
    return expand(raw if seed is None else {**raw, "seed": seed}, str(path))


def _blocks(raw: dict, where: str) -> tuple[dict, list[tuple[str, dict, list[int]]]]:
    """Check the whole design before expanding it: (defaults, [(where, factors, replicates)]), refusing one
    that would expand to more than MAX_CELLS cells or MAX_RUNS runs."""
    unknown = set(raw) - set(TOP_LEVEL)
    if unknown:
        raise SeqgenError(f"{where}: unknown top-level keys {sorted(unknown)} (known: {', '.join(TOP_LEVEL)})")
    blocks = raw.get("block")
    if not blocks:
        raise SeqgenError(f"{where}: no [[block]] table: nothing to run")
    if not isinstance(blocks, list):
        raise SeqgenError(f"{where}: block should be an array of tables ([[block]])")
    defaults = _table(raw.get("defaults", {}), "[defaults]", where)
    base = {k: default for k, (_, default) in SETTINGS.items()}
    base.update({k: _check(k, v, f"{where} [defaults]") for k, v in defaults.items()})
    checked, cells, runs = [], 0, 0
    for b, block in enumerate(blocks):
        where_b = f"{where} block {b + 1}"
        block = dict(_table(block, "a block", where_b))
        replicates = _replicates(block.pop("seeds", 1), where_b)
        factors = {k: v if isinstance(v, list) else [v] for k, v in block.items()}
        for k, values in factors.items():
            if not values:
                raise SeqgenError(f"{where_b}: {k} = [] (an empty factor gives no runs)")
            factors[k] = [_check(k, v, where_b) for v in values]
        n = math.prod(len(v) for v in factors.values())
        cells, runs = cells + n, runs + n * len(replicates)
        if cells > MAX_CELLS or runs > MAX_RUNS:
            raise SeqgenError(
                f"{where}: expands to more than {MAX_CELLS} cells or {MAX_RUNS} runs "
                f"({cells} cells, {runs} runs by block {b + 1}); split it into smaller designs"
            )
        checked.append((where_b, factors, replicates))
    return base, checked


def _top(raw: dict, key: str, default, test, what: str, where: str):
    value = raw.get(key, default)
    if not test(value):
        raise SeqgenError(f"{where}: {key} = {value!r} should be {what}")
    return value


def expand(raw: dict, where: str = "design") -> Design:
    """Check a parsed design completely (see the module docstring), then expand it into runs."""
    base, blocks = _blocks(raw, where)
    seed = _top(raw, "seed", 0, lambda v: _is_int(v) and 0 <= v < 2**31, "an integer in [0, 2^31)", where)
    max_members = _top(raw, "max_members", 64, lambda v: _is_int(v) and v >= 1, "an integer ≥ 1", where)
    paired = _top(raw, "paired_seeds", False, lambda v: isinstance(v, bool), "true or false", where)
    name = _top(raw, "name", Path(where).stem, lambda v: isinstance(v, str), "a string", where)
    runs: dict[str, Run] = {}
    for _, factors, replicates in blocks:
        for combo in itertools.product(*factors.values()):
            settings = {**base, **dict(zip(factors, combo))}
            if settings["cell"] in ("lstm", "gru"):
                settings["init"] = "default"
            for r in replicates:
                own = seed + r if paired else int(stable_hash([stable_hash(settings), seed, r], 8), 16) % 2**31
                run = Run(settings, own, paired)
                runs.setdefault(run.run_id, run)
    return Design(name, seed, max_members, list(runs.values()), paired)


@dataclass
class Population:
    """Runs packed to train together: the shared spec fields and the members' (run_id, seed, lr, clip, μ)."""

    population_id: str
    spec: dict
    members: list[dict]
    runs: list[Run] = field(repr=False)


def pack(runs: list[Run], design_seed: int, max_members: int) -> list[Population]:
    """Group runs by population key, split groups into populations of ≤ `max_members`, largest work first.

    The data stream depends on the shared settings and the design seed only (never on which members are
    packed together), so a run gives the same result in any population, including a resumed one.
    """
    from seqgen.lab.train import PopulationSpec

    spec_keys = {f.name for f in fields(PopulationSpec)}
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.population_key, []).append(run)
    populations = []
    for key, group in groups.items():
        s = group[0].settings
        init, scale = INITS[s["init"]]
        spec = {k: v for k, v in s.items() if k in spec_keys}
        spec.update(init=init, init_scale=scale, threshold=None if s["threshold"] < 0 else s["threshold"])
        spec["data_seed"] = int(stable_hash([key, design_seed], 8), 16) % 2**31
        for i in range(0, len(group), max_members):
            chunk = group[i : i + max_members]
            members = [{"run_id": r.run_id, "seed": r.seed, **{k: r.settings[k] for k in MEMBER_KEYS}} for r in chunk]
            pid = stable_hash(sorted(r.run_id for r in chunk), 16)
            populations.append(Population(pid, spec, members, chunk))
    return sorted(populations, key=_cost, reverse=True)


def _cost(p: Population) -> int:
    """Rough work of a population (members × updates × steps, gated cells ×3), to start the largest first."""
    gated = 3 if p.spec["cell"] in ("lstm", "gru") else 1
    return len(p.members) * p.spec["steps"] * (p.spec["length"] or 64) * gated
