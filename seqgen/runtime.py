"""Process-wide plumbing: device choice, seeding, the rich console and progress bars."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from rich.console import Console

from seqgen.errors import SeqgenError

if TYPE_CHECKING:  # imported where used, so that `seqgen --help` stays fast
    import torch
    from rich.progress import Progress

console = Console(stderr=True, emoji=False)  # user text (file names, addresses like :abc:) is never an emoji code
log = logging.getLogger("seqgen")


class _PlainHandler(logging.Handler):
    """One unwrapped line per record on the console's stream, for logs, pipes and CI (no terminal)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not console.quiet:
            console.file.write(f"{record.levelname} {record.getMessage()}\n")
            console.file.flush()


def setup_logging() -> None:
    """Route library logging through one handler on stderr: rich on a terminal, plain lines elsewhere."""
    if not log.handlers:
        if console.is_terminal:
            from rich.logging import RichHandler

            log.addHandler(RichHandler(console=console, show_path=False, show_time=False))
        else:
            log.addHandler(_PlainHandler())
    log.setLevel(logging.INFO)
    log.propagate = False


def choose_device(name: str = "auto") -> torch.device:
    """Resolve `auto|cpu|cuda` once, at the edge of the program."""
    import torch

    if name == "auto":
        return _exact_float32(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if name == "cuda" and not torch.cuda.is_available():
        raise SeqgenError("cuda: no CUDA device is available (use cpu or auto)", param="device")
    if name not in ("cpu", "cuda"):
        raise SeqgenError(f"{name}: expected auto, cpu or cuda", param="device")
    return _exact_float32(torch.device(name))


def _exact_float32(device: torch.device) -> torch.device:
    """On CUDA, keep float32 matmuls and cuDNN RNNs in IEEE float32 (no TF32), so likelihoods equal the CPU's."""
    import torch

    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False  # cuDNN RNNs (GRU, LSTM, fused tanh) default to TF32
    return device


def set_threads(threads: int = 1) -> None:
    """Use `threads` intra-op torch threads in this process (the CLI sets it once, before any work). One per
    process is the default: small recurrent models gain little from more, and lose much when cores are shared
    (plain `train` under load: 453 frames/s with torch's default, 4,366 with one)."""
    import torch

    if threads < 1:
        raise SeqgenError(f"{threads}: expected at least 1 thread", param="threads")
    torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for reproducible runs."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An explicit torch.Generator for samplers, so sampling never depends on global RNG state."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def describe_cpu() -> str:
    """The CPU model and the vector instructions torch dispatches to (e.g. AVX512): float results, and so the
    Gibbs chains of an RNN-RBM run, are bit-identical only on machines that agree on both."""
    import platform

    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {torch.backends.cpu.get_cpu_capability()}"


def progress(transient: bool = False) -> Progress:
    """A rich progress bar on stderr with the columns every long command uses."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=transient,
        redirect_stdout=False,
        redirect_stderr=False,
    )
