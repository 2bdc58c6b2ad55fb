"""The one way tests invoke the command line: `seqgen.cli.main` in this process, returning the exit code.

(The `cli` fixture in conftest.py wraps it with captured output.)
"""

from seqgen.cli import main


def exit_code(*args) -> int:
    """Run `seqgen ARGS` in this process and return its exit status."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
