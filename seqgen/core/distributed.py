"""Data-parallel training under torchrun (torch.distributed: gloo on CPU, nccl on GPU) for `core.train.fit`.

Every rank builds the same global batches (same seed, same shuffle) and keeps its block of rows, so each
piece or text row is seen once per epoch. Gradients are averaged weighted by each rank's frame/token count,
which makes a step equal to the single-process step on the whole global batch. The same reduction carries
a non-finite flag (all ranks skip together) and the stop flags: Ctrl-C (SIGINT) or SIGTERM only sets this
rank's `StopRequest` (seqgen.core.signals), and every rank stops at the next step, where rank 0 saves last.pt.
A collective that fails because another rank is gone raises `PeerLost` (one line, no gloo traceback).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from seqgen.core.signals import Stopped, StopRequest
from seqgen.errors import SeqgenError
from seqgen.runtime import console

# Long enough for rank 0 to validate a large split while the others wait at the broadcast.
TIMEOUT = timedelta(hours=2)


@dataclass
class Group:
    """This process's place in the run: `rank` of `world_size` processes, computing on `device`."""

    rank: int
    world_size: int
    device: torch.device
    stop: StopRequest = field(default_factory=StopRequest)

    @property
    def active(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, metrics and logs."""
        return self.rank == 0

    def shard(self, batch: Any) -> Any:
        """This rank's contiguous block of rows (dim 0) of every tensor in a nested tuple/list/dict batch."""
        if not self.active:
            return batch
        if isinstance(batch, Tensor):
            return batch.tensor_split(self.world_size)[self.rank]
        if isinstance(batch, (tuple, list)):
            return type(batch)(self.shard(b) for b in batch)
        if isinstance(batch, dict):
            return {k: self.shard(v) for k, v in batch.items()}
        return batch

    def has_rows(self, batch: Any) -> bool:
        """Whether this rank's shard of a batch has any rows (a small last batch leaves some ranks none)."""
        if isinstance(batch, Tensor):
            return batch.shape[0] > 0 if batch.dim() else True
        parts = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else ()
        return all(self.has_rows(b) for b in parts)

    def average_gradients(self, params: list[nn.Parameter], count: int, finite: bool) -> bool:
        """Replace each gradient by Σ_r count_r · g_r / Σ_r count_r over ranks (one flat all-reduce); return
        whether every rank's loss was finite. Raises `Stopped` on all ranks when any asked to stop (SIGTERM
        when any rank had SIGTERM, else SIGINT)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        flat = flat * count if finite else torch.zeros_like(flat)
        signum = self.stop.signum
        flags = flat.new_tensor([count, not finite, signum == signal.SIGINT, signum == signal.SIGTERM])
        buffer = torch.cat([flat, flags])
        with _collective():
            dist.all_reduce(buffer)
        total, nonfinite, interrupt, terminate = buffer[-4:].tolist()
        if interrupt or terminate:
            raise Stopped(signal.SIGTERM if terminate else signal.SIGINT)
        if nonfinite:
            return False
        buffer = buffer[:-4] / max(total, 1.0)
        for p, g in zip(params, buffer.split([p.numel() for p in params])):
            p.grad = g.view_as(p)
        return True

    def sum(self, *values: float) -> list[float]:
        """Each value summed over ranks (float64)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        with _collective():
            dist.all_reduce(t)
        return t.tolist()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's picklable `obj`, on every rank."""
        if not self.active:
            return obj
        box = [obj]
        with _collective():
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's picklable `obj`, in rank order, on every rank."""
        if not self.active:
            return [obj]
        objects = [None] * self.world_size
        with _collective():
            dist.all_gather_object(objects, obj)
        return objects

    def broadcast_module(self, module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers into every rank's `module`, in place."""
        if self.active:
            with _collective():
                for tensor in module.state_dict().values():
                    dist.broadcast(tensor, src=0)

    def check_same(self, what: str, obj: Any) -> None:
        """SeqgenError on every rank unless all ranks hold an equal `obj` (compared by a hash of its pickle)."""
        if not self.active:
            return
        digests = self.gather(hashlib.sha256(pickle.dumps(obj)).hexdigest())
        if len(set(digests)) > 1:
            raise SeqgenError(f"the {self.world_size} processes disagree on the {what}; each must load the same data")

    def seed_rank(self, seed: int, step: int) -> None:
        """Give ranks > 0 their own global RNG stream (dropout, CD-k Gibbs), a function of seed, rank and step
        so that a resumed run draws the same numbers; rank 0 keeps the stream its checkpoints carry."""
        if self.rank > 0:
            torch.manual_seed((seed * 1_000_003 + step) * 1_009 + self.rank)


class PeerLost(SeqgenError):
    """A collective failed because another rank of the run ended (killed, or stopped by an error)."""


@contextlib.contextmanager
def _collective() -> Iterator[None]:
    """A failed collective (gloo's 'Connection closed by peer', an NCCL error) becomes `PeerLost`."""
    try:
        yield
    except RuntimeError as exc:
        raise PeerLost(
            f"another process of this run ended; this one stopped too ({str(exc).splitlines()[0][:160]})"
        ) from None


def world_from_env() -> tuple[int, int, int]:
    """(world size, rank, local rank) from torchrun's environment; (1, 0, 0) outside it."""
    env = os.environ
    return int(env.get("WORLD_SIZE", 1)), int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0))


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[Group]:
    """Join torchrun's process group for the duration of a run (a plain `Group` of one outside torchrun).

    On GPU each process computes on cuda:LOCAL_RANK. Ranks > 0 print nothing.
    """
    world, _, local_rank = world_from_env()
    if world == 1:
        yield Group(0, 1, device)
        return
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    group = Group(dist.get_rank(), dist.get_world_size(), device)
    console.quiet = console.quiet or not group.is_main
    try:
        yield group
    finally:
        if owned:
            dist.destroy_process_group()
