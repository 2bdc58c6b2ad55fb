"""The one exception type whose message the CLI prints as a single line (no traceback)."""

from __future__ import annotations


class SeqgenError(Exception):
    """A user-facing error: bad input file, missing data, unusable checkpoint, a bad parameter value.

    The message is one line that names the file (if any) and the problem. `param` names the library
    parameter at fault (e.g. "temperature"); the CLI shows it as the flag the user typed (--temperature).
    """

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def check_choice(param: str, value: object, choices: tuple[str, ...]) -> None:
    """ValueError naming the parameter when `value` is not one of `choices` (configs validate with it)."""
    if value not in choices:
        raise ValueError(f"{param} {value!r}: expected one of {', '.join(choices)}")
