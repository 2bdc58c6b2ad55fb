"""Every mistake the parser catches is click's short message (usage, hint, one `Error:` line), exit 2, never a
traceback, whatever typer bundles; a bad argument or unreadable input is refused before torch is imported."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seqgen.music.sample import shipped_model

MISTAKES = {
    "misspelled option": ["sample", "--temprature", "2"],
    "missing value": ["sample", "--n"],
    "out-of-range value": ["sample", "--n", "0"],
    "bad choice": ["score", "--split", "tset"],
    "extra arguments": ["data", "list", "one", "two"],
    "not an integer": ["train", "--seed", "notint"],
    "bare seqgen": [],
    "unknown command": ["trian"],
}


@pytest.mark.parametrize("case", MISTAKES)
def test_usage_error_is_short_exit_2(cli, case) -> None:
    result = cli(*MISTAKES[case])
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    if case == "missing value":  # click raises it while parsing, before the command's usage is known
        assert errors == ["Error: Option '--n' requires an argument."]
    elif case != "bare seqgen":
        assert "Usage: seqgen" in result.stderr and "--help' for help" in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 5, result.output
    else:  # a bare group lists its commands, then says what is missing
        assert "train" in result.stderr and errors == ["Error: Missing command."]


def test_both_click_exception_classes_are_handled() -> None:
    """click's own UsageError (older typer) and typer's bundled one (typer >= 0.26) are both caught."""
    import click

    from seqgen.cli import _click_errors

    assert issubclass(click.UsageError, _click_errors())
    try:
        from typer._click.exceptions import UsageError
    except ImportError:
        return
    assert issubclass(UsageError, _click_errors())


def _run_here(args: list[str]) -> subprocess.CompletedProcess:
    """`seqgen ARGS` in a fresh interpreter that reports on its last line whether torch was imported."""
    code = ("import sys\nfrom seqgen.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)


def fast_errors(tmp_path) -> dict[str, list]:
    """Mistakes in the arguments and inputs that cannot be read, each refused before torch is imported."""
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo.mid")
    return {
        "usage error": (["sample", "--n", "0"], "Error: Invalid value for '--n'"),
        "override without resume": (["train", "--override", "--out", tmp_path / "r"], "--override only applies"),
        "missing model": (["score", "--model", tmp_path / "no.pt", tmp_path / "x.mid"], "no such checkpoint file"),
        "folder as model": (["sample", "--model", tmp_path / "folder"], "is a folder, not a checkpoint file"),
        "missing input": (["score", tmp_path / "no.mid"], "no.mid: no such file"),
        "folder as input": (["score", tmp_path / "folder"], "folder: no MIDI files"),  # a folder of MIDI is input
        "fifo as input": (["score", tmp_path / "fifo.mid"], "fifo.mid: not a regular file"),
        "missing primer": (["sample", "--primer", tmp_path / "no.mid"], "no.mid: no such MIDI file"),
        "missing text": (["train-text", "--text", tmp_path / "no.txt", "--out", tmp_path / "r"], "no such text file"),
        "unknown data": (["train", "--data", tmp_path / "nope", "--out", tmp_path / "r"], "bach-chorales"),
        "data info": (["data", "info", tmp_path / "nope"], "not a dataset name"),
    }


@pytest.mark.parametrize("case", ["usage error", "override without resume", "missing model", "folder as model",
                                  "missing input", "folder as input", "fifo as input", "missing primer",
                                  "missing text", "unknown data", "data info"])
def test_errors_come_before_torch(case, tmp_path) -> None:
    args, expected = fast_errors(tmp_path)[case]
    proc = _run_here([str(a) for a in args])
    *_, torch_imported = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert torch_imported == "False", f"torch was imported before refusing: {proc.stderr}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_input_is_one_line_before_torch(tmp_path) -> None:
    path = tmp_path / "locked.mid"
    path.write_bytes(b"MThd")
    path.chmod(0)
    proc = _run_here(["score", str(path)])
    assert "locked.mid: permission denied" in proc.stderr and proc.stdout.strip().endswith("False"), proc.stderr


def test_score_without_model_uses_the_shipped_model(cli, tmp_path, monkeypatch) -> None:
    """`score FILE` scores with the shipped RNN-NADE, as `sample` samples from it."""
    import json

    monkeypatch.delenv("SEQGEN_MODELS_DIR", raising=False)
    assert cli("sample", "--out", tmp_path / "s.mid", "--frames", 16, "--seed", 3).code == 0
    plain = cli("score", tmp_path / "s.mid", "--json")
    named = cli("score", tmp_path / "s.mid", "--model", shipped_model(), "--json")
    assert plain.code == 0 and named.code == 0, plain.output
    result, expected = json.loads(plain.stdout), json.loads(named.stdout)
    assert result.pop("seconds") > 0 and expected.pop("seconds") > 0
    assert result == expected and result["frames"] == 16 and result["log_likelihood_per_frame"] < 0


def test_error_line_prints_names_literally(cli, tmp_path) -> None:
    """A file name with rich markup or an emoji code (:abc:, [red]) is printed as it is, not rendered."""
    path = tmp_path / ":thumbs_up: [red]x[/red].mid"
    line = cli("score", path).one_line_error()
    assert f"{path}: no such" in line, line
