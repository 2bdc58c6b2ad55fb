"""Safe output files: checked before the work starts, written atomically (temp file, then rename).

A target that is a symlink is written through (the file it points to is replaced, the link kept), so a
linked output keeps working. FIFOs, device nodes, sockets and folders are refused: they cannot be replaced
atomically, and replacing one (e.g. /dev/null as root) would destroy something that is not ours.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError


def _real_target(path: Path) -> Path:
    """The file that writing `path` replaces: symlinks followed; special files and folders refused."""
    target = path.resolve() if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise SeqgenError(f"{path}: cannot write there ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise SeqgenError(f"{path}: is a folder; give a file name")
    if not stat.S_ISREG(mode):
        raise SeqgenError(f"{path}: is not a regular file (a FIFO, device or socket); refusing to replace it")
    return target


def check_output(path: str | os.PathLike, suffixes: Sequence[str] = ()) -> Path:
    """Refuse, before any work, an output that cannot be written: wrong suffix, folder, special file, or a
    folder where no file can be created (probed by creating and deleting a temp file)."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise SeqgenError(f"{path}: this model writes {' or '.join(suffixes)} files, not {path.suffix or 'no suffix'}")
    target = _real_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=target.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SeqgenError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    return path


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Refuse, before any work, a folder that cannot hold new files."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SeqgenError(f"{folder}: is a file, not a folder")
    check_output(folder / "probe")
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on error delete it.

    Readers never see a half-written file and an existing file is kept if writing fails.
    """
    with _named(path), _staged(Path(path)) as tmp:
        yield tmp
        os.replace(tmp, _real_target(Path(path)))


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """All-or-nothing for several files: yield temp paths; on success rename them all, on any error
    (disk full midway, Ctrl-C) delete the temps, and undo the renames already made: a new file is removed,
    a file it replaced comes back (kept as a hard link until the end)."""
    name = f"{paths[0]} … {paths[-1]}" if len(paths) > 1 else paths[0] if paths else "output"
    with _named(name), contextlib.ExitStack() as stack:
        temps = [stack.enter_context(_staged(Path(p))) for p in paths]
        yield temps
        done: list[tuple[Path, Path | None]] = []
        try:
            for tmp, path in zip(temps, paths):
                target = _real_target(Path(path))
                backup = None
                if target.exists():
                    backup = stack.enter_context(_staged(target))
                    backup.unlink()
                    os.link(target, backup)
                os.replace(tmp, target)
                done.append((target, backup))
        except BaseException:
            for target, backup in reversed(done):
                if backup is None:
                    target.unlink(missing_ok=True)
                else:
                    os.replace(backup, target)
            raise


@contextlib.contextmanager
def _named(target: str | os.PathLike) -> Iterator[None]:
    """An OSError while writing (disk full, I/O error) becomes one line naming the output, not its temp file."""
    try:
        yield
    except OSError as exc:
        raise SeqgenError(f"{target}: cannot write ({exc.strerror or exc}); nothing was written") from None


@contextlib.contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temp file beside `path`, deleted on exit unless it was renamed away."""
    target = _real_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def json_safe(value: Any) -> Any:
    """The same nested dicts and lists with non-finite floats as None, so that JSON written is strict."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def numbered_paths(out: Path, n: int, suffix: str | None = None) -> list[Path]:
    """`out` itself for one output, else out-000, out-001, … (with `suffix` replacing the extension)."""
    suffix = out.suffix if suffix is None else suffix
    if n == 1:
        return [out.with_suffix(suffix)]
    return [out.with_name(f"{out.stem}-{i:03d}{suffix}") for i in range(n)]


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_texts_atomic(paths: Sequence[Path], texts: Sequence[str]) -> None:
    """Write several UTF-8 texts, all or none."""
    with atomic_paths(paths) as temps:
        for tmp, text in zip(temps, texts):
            tmp.write_bytes(text.encode("utf-8"))
