"""Multi-process training with ``torch.distributed``, as launched by ``torchrun``.

memae does not schedule anything itself: ``torchrun`` starts the processes and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; this module
joins them into one process group (``gloo`` on CPU, ``nccl`` on GPUs), and the shared
trainer then wraps the network in ``DistributedDataParallel`` and shards every epoch
with ``DistributedSampler``.

Command line (two processes on this machine)::

    torchrun --standalone --nproc_per_node=2 -m memae fit train.npy --out model/

Python (run the script with ``torchrun``)::

    import memae
    from memae.distributed import distributed_session

    with distributed_session():
        det = memae.MemAE.from_preset("kdd").fit(X)   # every rank gets the same model
        det.save("model/")                             # only rank 0 writes

What is the same on every rank and what differs: the network initialisation, the
validation split and the epoch's shuffling seed are common (``DistributedSampler``
splits one permutation between the ranks); only the seed of stochastic layers
(dropout, sampling) is offset by the rank, so ranks do not draw identical noise for
different rows. ``DistributedDataParallel`` averages the gradients of every
parameter, the memory items included, so the weights stay identical across ranks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0 (or a single process): the one that writes files and prints."""
    return get_rank() == 0


def launched_by_torchrun() -> bool:
    """Whether the environment describes a multi-process launch (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_device(device: torch.device) -> torch.device:
    """Under a multi-process launch, CUDA means this process's own GPU (``LOCAL_RANK``)."""
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


@contextmanager
def distributed_session(backend: str | None = None) -> Iterator[bool]:
    """Join the ``torchrun`` process group for the duration of the block.

    Does nothing (and yields ``False``) when the process was not started as one of
    several, so the same script runs unchanged with plain ``python``.

    Parameters
    ----------
    backend : {"gloo", "nccl"}, optional
        Default: ``nccl`` when CUDA is available, else ``gloo``.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        yield is_distributed()
        return
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    try:
        yield True
        # Tear down together: a rank that destroys its gloo pairs while a peer is
        # still working can abort that peer ("terminate called without an active
        # exception", seen in CI). Skipped on error, where a barrier could hang.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of a float64 tensor over the ranks (identity on one process)."""
    if not is_distributed():
        return values
    buf = values.detach().to(_comm_device(), torch.float64).clone()
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.to(values.device)


def broadcast_int(value: int) -> int:
    """Rank 0's ``value`` on every rank."""
    if not is_distributed():
        return value
    buf = torch.tensor([value], dtype=torch.int64, device=_comm_device())
    dist.broadcast(buf, src=0)
    return int(buf.item())


def all_agree(value: int) -> bool:
    """Whether every rank passed the same integer."""
    if not is_distributed():
        return True
    buf = torch.tensor([value, -value], dtype=torch.int64, device=_comm_device())
    dist.all_reduce(buf, op=dist.ReduceOp.MAX)
    return int(buf[0]) == -int(buf[1])


def shard_bounds(n: int, rank: int | None = None) -> tuple[int, int]:
    """The contiguous share ``[start, stop)`` of ``n`` rows of ``rank`` (default: this rank)."""
    rank, world = get_rank() if rank is None else rank, get_world_size()
    return n * rank // world, n * (rank + 1) // world


def gather_rows(local: np.ndarray, n: int) -> np.ndarray:
    """Concatenate every rank's :func:`shard_bounds` share of a 1-D float64 result."""
    if not is_distributed():
        return local
    sizes = [stop - start for start, stop in (shard_bounds(n, r) for r in range(get_world_size()))]
    buf = torch.zeros(max(sizes), dtype=torch.float64, device=_comm_device())
    buf[: len(local)] = torch.from_numpy(local)
    parts = [torch.empty_like(buf) for _ in sizes]
    dist.all_gather(parts, buf)
    return np.concatenate([p[:size].cpu().numpy() for p, size in zip(parts, sizes, strict=True)])


def barrier() -> None:
    if is_distributed():
        dist.barrier()
