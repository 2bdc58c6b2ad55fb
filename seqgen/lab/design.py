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
"default" whatever the block says (duplicates collapse).
"""

from __future__ import annotations

import hashlib
import itertools
import json
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
MEMBER_KEYS = ("lr", "clip", "momentum")
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


def stable_hash(obj, n: int = 12) -> str:
    """Hex digest of an object's canonical JSON: ids that do not change between processes or machines."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


@dataclass
class Run:
    """One RNN to train: its settings (every factor), replicate seed and ids."""

    settings: dict
    seed: int
    cell_id: str = field(init=False)
    run_id: str = field(init=False)
    population_key: str = field(init=False)

    def __post_init__(self):
        self.cell_id = stable_hash(self.settings)
        self.run_id = f"{self.cell_id}-s{self.seed}"
        self.population_key = stable_hash({k: v for k, v in self.settings.items() if k not in MEMBER_KEYS})


@dataclass
class Design:
    """An expanded design: its name, base seed, population size limit and runs (deduplicated, ordered)."""

    name: str
    seed: int
    max_members: int
    runs: list[Run]

    @property
    def n_cells(self) -> int:
        return len({r.cell_id for r in self.runs})


def _check(key: str, value, where: str):
    """Validate one setting's type (ints are accepted for floats)."""
    if key not in SETTINGS:
        raise SeqgenError(f"{where}: unknown setting {key!r} (known: {', '.join(SETTINGS)}, seeds)")
    kind = SETTINGS[key][0]
    ok = isinstance(value, kind) or (kind is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok or (kind is int and isinstance(value, bool)):
        raise SeqgenError(f"{where}: {key} = {value!r} should be {kind.__name__}")
    if key == "init" and value not in INITS:
        raise SeqgenError(f"{where}: init {value!r}: expected one of {', '.join(INITS)}")
    return float(value) if kind is float else value


def load_design(path: str | Path, seed: int | None = None) -> Design:
    """Read and expand a TOML design (`seed` replaces its base seed); SeqgenError names the file and problem."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SeqgenError(f"{path}: cannot read the design ({exc})") from exc
    return expand(raw if seed is None else {**raw, "seed": seed}, str(path))


def expand(raw: dict, where: str = "design") -> Design:
    """Expand a parsed design (see the module docstring) into runs."""
    unknown = set(raw) - {"name", "seed", "max_members", "defaults", "block"}
    if unknown:
        raise SeqgenError(f"{where}: unknown top-level keys {sorted(unknown)}")
    if not raw.get("block"):
        raise SeqgenError(f"{where}: no [[block]] table: nothing to run")
    base = {k: default for k, (_, default) in SETTINGS.items()}
    base.update({k: _check(k, v, f"{where} [defaults]") for k, v in raw.get("defaults", {}).items()})
    seed = int(raw.get("seed", 0))
    runs: dict[str, Run] = {}
    for b, block in enumerate(raw["block"]):
        where_b = f"{where} block {b + 1}"
        block = dict(block)
        seeds = block.pop("seeds", 1)
        replicates = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
        factors = {k: v if isinstance(v, list) else [v] for k, v in block.items()}
        for k, values in factors.items():
            factors[k] = [_check(k, v, where_b) for v in values]
        for combo in itertools.product(*factors.values()):
            settings = {**base, **dict(zip(factors, combo))}
            if settings["cell"] in ("lstm", "gru"):
                settings["init"] = "default"
            for r in replicates:
                run = Run(settings, seed + r)
                runs.setdefault(run.run_id, run)
    max_members = int(raw.get("max_members", 64))
    return Design(str(raw.get("name", Path(where).stem)), seed, max(1, max_members), list(runs.values()))


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
