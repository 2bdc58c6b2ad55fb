"""Layering: nothing outside seqgen/cli/ imports seqgen.cli (the products own their contract; the CLI renders it),
read from the source with ast so that a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {REPO / "seqgen" / "__main__.py"}  # `python -m seqgen` runs the CLI


def cli_imports(path: Path) -> list[str]:
    """The `seqgen.cli` modules that `path` imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found += [n for n in names if n == "seqgen.cli" or n.startswith("seqgen.cli.")]
    return found


def test_only_the_cli_imports_the_cli() -> None:
    cli = REPO / "seqgen" / "cli"
    files = [*(REPO / "seqgen").rglob("*.py"), *(REPO / "scripts").rglob("*.py")]
    offenders = {
        str(path.relative_to(REPO)): cli_imports(path)
        for path in files
        if cli not in path.parents and path not in ENTRY_POINTS and cli_imports(path)
    }
    assert not offenders, f"modules outside seqgen/cli/ import the CLI: {offenders}"


def test_the_scan_sees_an_import(tmp_path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from seqgen.cli.options import TRAIN\n    import seqgen.cli\n")
    assert cli_imports(module) == ["seqgen.cli.options", "seqgen.cli.options.TRAIN", "seqgen.cli"]
    module.write_text("from seqgen import options\nimport seqgen.client_side\n")
    assert cli_imports(module) == []


def test_help_states_the_products_own_defaults() -> None:
    """Each product default is written once (its DEFAULTS); `--help` says it from there, and training uses it."""
    from seqgen.music.configs import DEFAULTS as MUSIC
    from seqgen.options import TRAIN, training_options
    from seqgen.text.configs import DEFAULTS as TEXT

    helps = {o.name: o.help for o in TRAIN}
    assert helps["lr"].endswith(f"Default: music {MUSIC['lr']:g}, text {TEXT['lr']:g}.")
    assert helps["hidden"].endswith(f"Default: music the preset's, text {TEXT['hidden']}.")
    assert helps["lr_step"].endswith("Default: 10.")
    for task, defaults in (("music", MUSIC), ("text", TEXT)):
        resolved = training_options(task)
        assert {k: resolved[k] for k in defaults} == defaults
