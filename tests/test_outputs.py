"""Operating-system errors are one clear line, found before the work starts: read-only folders, permission
denied, folders and /proc as files, a full disk (a tiny tmpfs, root only), FIFOs, devices and symlinks.
Multi-file outputs (`sample --n 64`, `data export`) complete or leave nothing of that call behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import exit_code as cli

from seqgen.music.sample import shipped_model

JSB_MAT = Path(os.environ.get("SEQGEN_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data") \
    / "boulanger2012_mat" / "JSB_Chorales.mat"
ROOT = os.geteuid() == 0
TRAIN_TEXT = ["train", "--cell", "gru", "--no-leaky", "--hidden", "6", "--embedding", "4", "--batch-size", "4",
              "--chunk-len", "20", "--device", "cpu"]




def in_child(body: Callable[[], int], uid: int | None = None) -> int:
    """Run `body` in a forked child (as `uid` if given); its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if uid is not None:
                os.setgid(uid)
                os.setuid(uid)
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def one_line(capfd, code: int, *names) -> str:
    """The single error line of a failed call; it names every one of `names`."""
    out, err = capfd.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1, out + err
    assert len(errors) == 1 and "Traceback" not in err, err
    for name in names:
        assert str(name) in errors[0], errors[0]
    return errors[0]


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)]
    proc = subprocess.run(command, capture_output=True, check=False)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")


@pytest.fixture
def readonly(tmp_path):
    """A folder no file can be created in: a read-only tmpfs as root (root ignores mode bits), else mode 555."""
    folder = tmp_path / "ro"
    if ROOT:
        _mount_tmpfs(folder, "ro,size=64k")
        yield folder
        subprocess.run(["umount", "-l", str(folder)], check=True)
    else:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 96 KiB tmpfs (root only): room for a probe and a few small files, not for 64 songs."""
    if not ROOT:
        pytest.skip("a full disk is simulated with a tiny tmpfs, which needs root")
    folder = tmp_path / "tiny"
    _mount_tmpfs(folder, "size=96k")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "t.txt"
    path.write_text("the cat sat on the mat\nand the dog ran far away\n" * 20)
    return path


@pytest.fixture(scope="module")
def midi(tmp_path_factory) -> Path:
    """A short song from the shipped model, to score."""
    path = tmp_path_factory.mktemp("midi") / "song.mid"
    assert cli("sample", "--out", path, "--frames", "16", "--seed", "0") == 0
    return path


# --- read-only, permission denied, folders, /proc: refused before any work ---------------------------------

def test_train_into_readonly_folder_fails_before_the_first_epoch(readonly, text, capfd):
    code = cli(*TRAIN_TEXT, "--text", text, "--epochs", "1", "--out", readonly / "run")
    err = capfd.readouterr().err
    assert code == 1 and "epoch 1" not in err and "tokenizer" not in err, err  # refused before loading data
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(readonly / "run") in errors[0], err
    assert "Read-only" in errors[0] or "ermission" in errors[0]


@pytest.mark.parametrize("case", ["sample", "score --per-frame", "data export"])
def test_readonly_outputs_fail_before_work(readonly, midi, capfd, case):
    if case == "sample":
        code, target = cli("sample", "--out", readonly / "song.mid", "--n", "4"), readonly / "song.mid"
    elif case == "score --per-frame":
        target = readonly / "f.csv"
        code = cli("score", midi, "--model", shipped_model(), "--per-frame", target)
    else:
        code, target = cli("data", "export", "--out", readonly / "export", JSB_MAT, "--limit", "2"), readonly / "export"
    one_line(capfd, code, target)
    assert not any(readonly.iterdir())


def test_permission_denied_is_one_line(tmp_path, midi, capfd):
    """As an unprivileged user (root drops to nobody in a child), writing into root's 755 folder."""
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    midi_copy = tmp_path / "song.mid"
    midi_copy.write_bytes(midi.read_bytes())
    tmp_path.chmod(0o755)
    os.chmod(shipped_model(), os.stat(shipped_model()).st_mode | stat.S_IROTH)
    if ROOT:
        code = in_child(lambda: cli("sample", "--out", folder / "song.mid", "--frames", "8"), uid=65534)
    else:
        folder.chmod(0o555)
        code = cli("sample", "--out", folder / "song.mid", "--frames", "8")
    line = one_line(capfd, code, folder / "song.mid")
    assert "ermission denied" in line
    assert not any(folder.iterdir())


@pytest.mark.parametrize("flag", ["--out", "--per-frame"])
def test_folder_as_output_file_says_folder(tmp_path, midi, capfd, flag):
    folder = tmp_path / "a folder.mid"
    folder.mkdir()
    if flag == "--out":
        code = cli("sample", "--out", folder, "--frames", "8")
    else:
        code = cli("score", midi, "--model", shipped_model(), "--per-frame", folder)
    assert "folder" in one_line(capfd, code, folder)
    assert folder.is_dir() and not any(folder.iterdir())


@pytest.mark.parametrize("flag", ["--out", "--per-frame"])
def test_proc_as_output_is_one_line(midi, capfd, flag):
    if flag == "--out":
        code, target = cli("sample", "--out", "/proc/x.mid", "--frames", "8"), "/proc/x.mid"
    else:
        code, target = cli("score", midi, "--model", shipped_model(), "--per-frame", "/proc/x.csv"), "/proc/x.csv"
    one_line(capfd, code, target)


# --- special files: refused (FIFO, device), symlinks written through ---------------------------------------

def test_fifo_target_is_refused_and_kept(tmp_path, capfd):
    fifo = tmp_path / "song.mid"
    os.mkfifo(fifo)
    assert "FIFO" in one_line(capfd, cli("sample", "--out", fifo, "--frames", "8"), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_dev_null_is_refused_and_kept(capfd):
    before = os.lstat("/dev/null")
    one_line(capfd, cli("sample", "--out", "/dev/null", "--frames", "8"), "/dev/null")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


@pytest.mark.skipif(not ROOT, reason="making a device node needs root")
def test_device_node_with_the_right_suffix_is_refused_and_kept(tmp_path, capfd):
    device = tmp_path / "null.mid"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # another /dev/null
    assert "not a regular file" in one_line(capfd, cli("sample", "--out", device, "--frames", "8"), device)
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_symlink_target_is_written_through(tmp_path, capfd):
    real = tmp_path / "store" / "real.mid"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "song.mid"
    link.symlink_to(real)
    assert cli("sample", "--out", link, "--frames", "8", "--seed", "0") == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes()[:4] == b"MThd"
    assert [p.name for p in real.parent.iterdir()] == ["real.mid"]  # no temp left beside the target


def test_symlink_in_a_multi_file_output_is_refused_with_fifo_among_them(tmp_path, capfd):
    """`--n 3` writes song-000..002; a FIFO at song-001 stops the call before anything is written."""
    os.mkfifo(tmp_path / "song-001.mid")
    one_line(capfd, cli("sample", "--out", tmp_path / "song.mid", "--n", "3", "--frames", "8"), "song-001.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song-001.mid"]


# --- a full disk: one line, and nothing of the call left behind ---------------------------------------------

def test_full_disk_sample_64_leaves_nothing(tiny_disk, capfd):
    code = cli("sample", "--out", tiny_disk / "song.mid", "--n", "64", "--frames", "256", "--seed", "0")
    assert "No space left" in one_line(capfd, code, tiny_disk)
    assert list(tiny_disk.iterdir()) == []


def test_full_disk_data_export_leaves_nothing(tiny_disk, capfd):
    out = tiny_disk / "jsb"
    code = cli("data", "export", "--out", out, JSB_MAT, "--split", "test")
    assert "No space left" in one_line(capfd, code, tiny_disk)
    assert not out.exists() or list(out.iterdir()) == []


def test_full_disk_mid_training_is_one_line_and_keeps_the_last_good_checkpoint(tiny_disk, text, capfd):
    """The first epoch's files fit, a later epoch's do not: one line, the earlier checkpoint intact, no temps."""
    ballast = tiny_disk / "ballast"
    run = tiny_disk / "run"
    code = cli(*TRAIN_TEXT, "--text", text, "--epochs", "1", "--out", run)
    assert code == 0
    used = sum(p.stat().st_size for p in run.iterdir())
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    ballast.write_bytes(b"\0" * max(0, free - used // 2))  # room for less than one more set of files
    capfd.readouterr()
    code = cli(*TRAIN_TEXT, "--text", text, "--epochs", "3", "--out", run, "--resume")
    assert "No space left" in one_line(capfd, code)
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "metrics.jsonl"]
    ballast.unlink()
    assert cli("score", text, "--model", run / "last.pt", "--json") == 0


# --- progress when stderr is a pipe (CI, logs): a line per epoch, as it happens -----------------------------

def test_training_prints_a_line_per_epoch_into_a_pipe_as_it_goes(text, tmp_path):
    """The first epoch's log line reaches a pipe while training still runs; Ctrl-C then exits 130."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "seqgen.cli", *TRAIN_TEXT, "--text", str(text), "--epochs", "500",
            "--patience", "0", "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seen = []
    try:
        for line in proc.stderr:
            if "epoch " in line and "/500" in line:
                seen.append(line)
            if seen:
                break
        assert proc.poll() is None, "the epoch lines arrived only when training ended"
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130, rest
    finally:
        proc.kill()
    assert seen[0].split("epoch ")[1].startswith("1/500")
