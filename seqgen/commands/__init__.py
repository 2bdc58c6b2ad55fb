"""CLI command modules; each exposes `register(app)`. Order here is the order in `seqgen --help`."""

from seqgen.commands import data, music, sample, text

COMMAND_MODULES = [data, music, sample, text]
