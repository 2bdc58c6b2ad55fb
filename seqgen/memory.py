"""How much memory this process may still take, and refusing work whose output alone would not fit (no torch here,
so the command line can check before importing it)."""

from __future__ import annotations

import os
import resource
from pathlib import Path

from seqgen.errors import SeqgenError

MAX_SAMPLE_STEPS = 10_000_000  # --frames and --length: a fixed maximum (hours of music, tens of MB of text)
# Bytes a sample takes per step while it is made and written, (per sample, once): a song frame's roll and statistics,
# and the MIDI events of one song at a time (up to ~6 KB a frame when half the keys change every frame); a token.
MUSIC_FRAME_BYTES = (2048, 8192)
TEXT_TOKEN_BYTES = (256, 0)


def available_bytes() -> int:
    """The least of MemAvailable (/proc/meminfo, else free pages), the cgroup's memory.max minus its current use,
    and this process's address-space limit (RLIMIT_AS)."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    if not limits and hasattr(os, "sysconf"):
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            pass
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            limits.append(int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limits) if limits else 1 << 62


def check_sample_size(option: str, steps: int, n: int, step_bytes: tuple[int, int], unit: str = "frames") -> None:
    """Refuse `steps` (frames or tokens per sample) above MAX_SAMPLE_STEPS, or n samples whose output, at
    `step_bytes` (per sample, once) per step, would not fit in `available_bytes()`: one line naming the option."""
    if steps > MAX_SAMPLE_STEPS:
        raise SeqgenError(f"{steps:,} {unit} is more than the maximum of {MAX_SAMPLE_STEPS:,}", param=option)
    need, have = steps * (n * step_bytes[0] + step_bytes[1]), available_bytes()
    if need > have:
        raise SeqgenError(
            f"{steps:,} {unit} for {n} sample(s) would need about {need / 2**30:.1f} GiB, more than the "
            f"{have / 2**30:.1f} GiB of memory available", param=option)  # fmt: skip
