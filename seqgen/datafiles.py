"""Find published data files: explicit path, $SEQGEN_DATA_DIR, the user cache, then a verified download."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_path
from seqgen.runtime import progress

DATA_DIR_ENV = "SEQGEN_DATA_DIR"
CACHE_DIR_ENV = "SEQGEN_CACHE_DIR"


@dataclass(frozen=True)
class RemoteFile:
    """A published data file: its file name, a public address and the sha256 of its bytes."""

    name: str
    url: str
    sha256: str


def cache_dir() -> Path:
    """The user cache (`~/.cache/seqgen`, or $SEQGEN_CACHE_DIR)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "seqgen")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def search_data_dir(names: list[str]) -> Path | None:
    """Search $SEQGEN_DATA_DIR recursively for the first of `names` (published file names)."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root:
        return None
    base = Path(root)
    if not base.is_dir():
        raise SeqgenError(f"{base}: ${DATA_DIR_ENV} does not name a folder")
    for name in names:
        hits = sorted(base.rglob(name))
        if hits:
            return hits[0]
    return None


def download(remote: RemoteFile, dest: Path) -> Path:
    """Download `remote` to `dest` with a progress bar, verify its sha256, write atomically."""
    try:
        with urllib.request.urlopen(remote.url, timeout=30) as response, atomic_path(dest) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            digest = hashlib.sha256()
            with progress(transient=True) as bar, open(tmp, "wb") as out:
                task = bar.add_task(f"download {remote.name}", total=total, status="")
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    digest.update(block)
                    bar.advance(task, len(block))
            if digest.hexdigest() != remote.sha256:
                raise SeqgenError(
                    f"{remote.url}: sha256 mismatch (got {digest.hexdigest()[:12]}…, "
                    f"expected {remote.sha256[:12]}…); file not saved"
                )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise SeqgenError(
            f"{remote.name}: not found locally and download from {remote.url} failed ({exc}); "
            f"set ${DATA_DIR_ENV} to a folder holding it or pass its path as data"
        ) from None
    return dest


def locate(remotes: list[RemoteFile], explicit: Path | None = None) -> list[Path]:
    """Resolve each file in `remotes`: explicit folder/file, $SEQGEN_DATA_DIR, the cache, then download.

    `explicit` may be a file (only for a single remote) or a folder searched recursively.
    """
    if explicit is not None:
        if not explicit.exists():
            raise SeqgenError(f"{explicit}: no such file or folder")
        if explicit.is_file():
            if len(remotes) != 1:
                raise SeqgenError(f"{explicit}: expected a folder holding {', '.join(r.name for r in remotes)}")
            return [explicit]
    found = []
    for remote in remotes:
        path = None
        if explicit is not None:
            hits = sorted(explicit.rglob(remote.name))
            if not hits:
                raise SeqgenError(f"{explicit}: no file named {remote.name} in this folder")
            path = hits[0]
        path = path or search_data_dir([remote.name])
        if path is None:
            cached = cache_dir() / "data" / remote.name
            path = cached if cached.is_file() else download(remote, cached)
        found.append(path)
    return found
