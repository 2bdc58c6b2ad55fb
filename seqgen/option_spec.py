"""How an option is declared: `Opt` (name, type, default, help, the products it applies to) and the enums'
base, shared by the products' option modules (seqgen/music/options.py, seqgen/text/options.py) and the CLI.
Imports neither torch nor the CLI."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

import typer

MUSIC, TEXT = frozenset({"music"}), frozenset({"text"})
M, O, T, D = "Model", "Optimisation", "Training", "Data"  # the --help panels


class Choice(str, Enum):
    """Base of the option enums: the CLI shows the values, the code receives plain strings."""

    def __str__(self) -> str:
        return self.value



@dataclass(frozen=True)
class Opt:
    """One CLI option: Python name, type, default, help, and the products it applies to (None: all)."""

    name: str
    type: Any
    default: Any
    help: str
    flags: tuple[str, ...] = ()
    tasks: frozenset[str] | None = None
    panel: str | None = None
    argument: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        """The name users type, e.g. --gibbs-steps."""
        return self.flags[0].split("/")[0] if self.flags else "--" + self.name.replace("_", "-")

    def parameter(self) -> inspect.Parameter:
        """This option as a typer-annotated keyword parameter."""
        maker = typer.Argument if self.argument else typer.Option
        info = maker(*self.flags, help=self.help, rich_help_panel=self.panel, **self.extra)
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, default=self.default, annotation=Annotated[self.type, info]
        )


def _o(name, type_, default, help_, *flags, tasks=None, panel=None, **extra) -> Opt:
    return Opt(name, type_, default, help_, flags, tasks, panel, False, extra)


def _flag(name, help_, *flags, tasks=None, panel=None) -> Opt:
    """A boolean switch shown as --name only (no <bool> value)."""
    return Opt(name, bool, False, help_, flags or ("--" + name.replace("_", "-"),), tasks, panel)
