"""seqgen installs like a real package: a built wheel and `pip install .` (not editable), each in a fresh
virtual environment outside the checkout, sample from the shipped model. Nothing is downloaded: the new
environments reuse this one's dependencies through a .pth line added after installing seqgen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.install


def _run(*args, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEQGEN_MODELS_DIR")}
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of what the package is built from, so the build writes nothing into the checkout."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "seqgen", src / "seqgen", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def _fresh_venv(where: Path) -> Path:
    """A new venv without pip (fast); returns its python."""
    _run(sys.executable, "-m", "venv", "--without-pip", where)
    return where / "bin" / "python"


def _reuse_dependencies(python: Path) -> None:
    """Append this environment's site-packages to the new one's path (after its own, so seqgen comes from it)."""
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(purelib, "_seqgen_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


def _pip_install(python: Path, *args) -> subprocess.CompletedProcess:
    return _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
                "--no-build-isolation", "-q", *args)


def _check_installed(python: Path, work: Path, sample: bool = True) -> None:
    """The installed seqgen is the venv's own, carries the models, knows its version, and samples with the
    shipped model."""
    origin = _run(python, "-c", "import seqgen; print(seqgen.__file__)", cwd=work).stdout.strip()
    assert Path(origin).is_relative_to(python.parent.parent), origin
    assert (Path(origin).parent / "models" / "bach-rnn-nade.pt").is_file()
    seqgen = python.parent / "seqgen"
    assert _run(seqgen, "--version", cwd=work).stdout.strip() == "seqgen 0.1.0"
    if not sample:
        return
    _run(seqgen, "sample", "--out", "song.mid", "--frames", "16", "--seed", "0", cwd=work)
    import mido

    assert mido.MidiFile(work / "song.mid").length > 0


def test_wheel_carries_models_and_samples_outside_checkout(source, tmp_path):
    dist = tmp_path / "dist"
    build = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, source)
    assert "Deprecat" not in build.stdout + build.stderr
    wheel = next(dist.glob("seqgen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"seqgen/models/bach-rnn-nade.pt", "seqgen/models/bach-rnn-rbm.pt"} <= set(names)
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, wheel)
    _reuse_dependencies(python)
    (tmp_path / "work").mkdir()
    _check_installed(python, tmp_path / "work")


def test_pip_install_dot_not_editable_samples(source, tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    _reuse_dependencies(python)  # first: the in-place build needs setuptools from the reused dependencies
    _pip_install(python, source)
    (tmp_path / "work").mkdir()
    _check_installed(python, tmp_path / "work", sample=False)  # the same files as the wheel, which samples
