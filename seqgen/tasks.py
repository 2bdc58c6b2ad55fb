"""The task registry: each product (music, text, ...) registers one object with the same small contract.

The CLI's `train`, `sample` and `score` know nothing about a product: they find its `TaskSpec` from the
data (training) or from the checkpoint's `task` entry, reject the options the spec does not accept in one
place, and call it. Specs are imported lazily so that `seqgen --help` never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from seqgen.errors import SeqgenError

Progress = Callable[[int, int | None], None]  # (done, total or None)


@dataclass
class Outcome:
    """What a `sample` or `score` call made: files written, lines and tables to show, and a JSON-able result."""

    written: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    tables: list[Any] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


class TaskSpec(Protocol):
    """One product. Option names are the Python names of the CLI options (`gibbs_steps`, not --gibbs-steps).

    Which options apply to which product is declared with the options (seqgen.options), so the CLI
    rejects the others in one place; `sample_suffixes` are the file types `sample --out` may have.
    """

    name: str
    sample_suffixes: tuple[str, ...]

    def owns_data(self, data: str | None, text: Path | None) -> bool:
        """Whether `train --data DATA` / `--text FILE` is this product's data."""
        ...

    def train(self, options: dict[str, Any]) -> tuple[str, bool]:
        """Train with fully resolved options (defaults filled in); return a summary line and whether
        the run was interrupted."""
        ...

    def load(self, ckpt: dict[str, Any], path: Path, device: Any) -> Any:
        """The checkpoint's model, validated (config, weights, data settings), in eval mode on `device`."""
        ...

    def sample(self, ckpt: dict, model: Any, options: dict[str, Any], progress: Progress) -> Outcome:
        """Generate from `model` as `options` say (out, n, temperature, seed, device, and the task's own)."""
        ...

    def score(self, ckpt: dict, model: Any, options: dict[str, Any], progress: Progress) -> Outcome:
        """Score a file or a named data split with `model`; the result dict is what `--json` prints."""
        ...


_REGISTRY: dict[str, str] = {"music": "seqgen.music.task:SPEC", "text": "seqgen.text.task:SPEC"}
TASK_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def register(name: str, target: str) -> None:
    """Register a product: `target` is "module:attribute" of its TaskSpec, imported on first use."""
    global TASK_NAMES
    _REGISTRY[name] = target
    TASK_NAMES = tuple(_REGISTRY)


def get_task(name: str) -> TaskSpec:
    """The registered spec called `name`."""
    if name not in _REGISTRY:
        raise SeqgenError(f"checkpoint task {name!r} is not one of {', '.join(_REGISTRY)}")
    module, attribute = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def task_for_data(data: str | None, text: Path | None) -> TaskSpec:
    """The product whose data `data` / `text` is (the first registered one that claims it)."""
    for name in _REGISTRY:
        spec = get_task(name)
        if spec.owns_data(data, text):
            return spec
    raise SeqgenError(f"data {data or text}: no task reads it ({', '.join(_REGISTRY)})")
