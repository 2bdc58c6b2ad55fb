"""The one exception type whose message the CLI prints as a single line (no traceback)."""


class SeqgenError(Exception):
    """A user-facing error: bad input file, missing data, unusable checkpoint.

    The message must be one line that names the file (if any) and the problem.
    """
