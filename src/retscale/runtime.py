"""What every training or inference job shares: the distributed context, seeding, training-state files, AdamW
parameter groups and provenance.

- ``DistContext`` / ``init_distributed`` / ``distributed``: the torchrun process group (gloo on CPU, NCCL on GPU); a
  plain run is a world of one and every collective below is then a no-op. Fine-tuning, evaluation, ICL and the study
  use the same one: a job started inside another's group (a study's fine-tuning) joins it and leaves it up.
- ``seed_everything`` (``transformers.set_seed``), ``rng_state`` / ``restore_rng_state``: reproducible runs and
  bit-identical resumes.
- ``save_training_state`` / ``load_training_state``: one atomically replaced ``torch.save`` file per resumable run.
- ``decay_groups``: AdamW groups without weight decay on biases and norm gains.
- ``library_versions`` / ``provenance``: the record every result file carries.
- ``reuse_freed_memory``: keep glibc's malloc from mapping fresh pages for every large tensor (the CLI calls it).

torch is imported inside the functions, so light modules (the evaluate runner for BM25) can import this one.
"""

from __future__ import annotations

import logging
import os
import platform
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from retscale.fileio import atomic_write

if TYPE_CHECKING:
    import torch

LIBRARIES = ("retscale", "torch", "transformers", "sentence-transformers", "tokenizers", "pytrec-eval-terrier",
             "numpy", "bm25s")
BUCKET_ELEMENTS = 1 << 24  # ~64 MB of fp32 per gradient all-reduce call
T = TypeVar("T")


# ---- memory allocator ----------------------------------------------------------------------------------------
M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")  # the user's own choice


def reuse_freed_memory(threshold_bytes: int = 1 << 28) -> bool:
    """Ask glibc's malloc to serve blocks under ``threshold_bytes`` from its heap and to keep freed memory there.

    A training step allocates and frees the same large tensors every time (64 × 128 tokens × a 4,096-word vocabulary
    is a 134 MB logits tensor). With glibc's defaults each is a fresh mmap whose pages the kernel zeroes on first
    touch, and each free unmaps it again: in the reference run's d192 pretraining that was ~19% of the CPU time in
    the kernel, and a d192 probe ran 14–21% faster with this setting (docs/results/EXPERIMENTS.md §5). Larger
    blocks (a real model's embedding matrix) are still mapped. The cost: the process keeps its peak heap instead of
    returning it. A user's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` win (that is also how to
    opt out: set either to glibc's default). Returns whether the mmap threshold was raised.
    """
    import ctypes
    import ctypes.util

    if platform.libc_ver()[0] != "glibc" or any(k in os.environ for k in MALLOC_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # Some glibc versions cap the threshold at 32 MiB (mallopt(3)): then take the cap.
    raised = any(mallopt(M_MMAP_THRESHOLD, value) for value in (threshold_bytes, 32 << 20))
    # a trim threshold above the mmap threshold: freed heap memory is kept for the next step's tensors
    mallopt(M_TRIM_THRESHOLD, 2 * threshold_bytes)
    if not raised:
        logging.getLogger(__name__).debug("glibc refused a higher mmap threshold: large tensors stay mmapped")
    return raised


# ---- distributed context -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistContext:
    """This process's place in a torchrun job (a world of one without torchrun) and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


def pick_device(name: str = "auto", local_rank: int = 0) -> str:
    """``auto`` → this rank's GPU if there is one, else the CPU; anything else is taken as a torch device name."""
    import torch

    if name == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    return name


def init_distributed(device: str = "auto", timeout: timedelta | None = None) -> DistContext:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE`` > 1), else a single rank.

    ``timeout``: how long a collective may wait for the slowest rank (torch's default, 30 min for gloo, when None);
    it applies only when this call creates the group."""
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if chosen.startswith("cuda"):
        torch.cuda.set_device(torch.device(chosen))  # NCCL needs each process on its own GPU
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.startswith("cuda") else "gloo", timeout=timeout)
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, device=chosen)


@contextmanager
def distributed(device: str = "auto", timeout: timedelta | None = None) -> Iterator[DistContext]:
    """``init_distributed`` for the length of a job. The group is shut down at the end only if this call started
    it: a job run inside another job's group (a study's fine-tuning stage) joins that group and leaves it up."""
    import torch.distributed as dist

    started = not (dist.is_available() and dist.is_initialized())
    ctx = init_distributed(device, timeout)
    try:
        yield ctx
    finally:
        if started:
            shutdown_distributed(ctx)


def shutdown_distributed(ctx: DistContext) -> None:
    import torch.distributed as dist

    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def broadcast_parameters(model: torch.nn.Module, ctx: DistContext) -> None:
    """Make every rank start from rank 0's weights (LoRA init, for one, is random)."""
    if not ctx.enabled:
        return
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)


def sum_gradients(params: list[torch.nn.Parameter], ctx: DistContext) -> None:
    """All-reduce (sum) the gradients in flat buckets, as DDP does.

    Explicit rather than ``DistributedDataParallel``: GradCache runs several backward passes per step, and one
    bucketed all-reduce after them all does the same communication without ``no_sync`` juggling."""
    if not ctx.enabled:
        return
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    bucket: list[torch.Tensor] = []
    size = 0
    for grad in [*grads, None]:
        if grad is not None:
            bucket.append(grad)
            size += grad.numel()
        if bucket and (grad is None or size >= BUCKET_ELEMENTS):
            flat = torch.cat([g.reshape(-1) for g in bucket])
            dist.all_reduce(flat)
            offset = 0
            for g in bucket:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()
            bucket, size = [], 0


def all_reduce_sum(value: float, ctx: DistContext) -> float:
    """``value`` summed over the ranks (float64, so token counts stay exact)."""
    if not ctx.enabled:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item())


def broadcast_object(value: T, ctx: DistContext) -> T:
    """Rank 0's ``value`` (any picklable object) on every rank; the other ranks' ``value`` is ignored."""
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_objects(value: T, ctx: DistContext) -> list[T]:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if not ctx.enabled:
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(values, value)
    return values


def gather_with_grad(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Every rank's ``tensor`` (equal shapes) concatenated in rank order; gradients flow back to the rank that
    made each row (``torch.distributed.nn.functional.all_gather``)."""
    if not ctx.enabled:
        return tensor
    import torch
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor))


# ---- seeding and RNG state -----------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU)."""
    from transformers import set_seed

    set_seed(seed % 2**32)


def rng_state() -> dict[str, Any]:
    """Every random stream a training step may draw from, for a bit-identical resume."""
    import torch

    cuda = [torch.cuda.get_rng_state(d) for d in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda, "python": random.getstate(), "numpy": np.random.get_state()}


def restore_rng_state(state: dict[str, Any] | torch.Tensor) -> None:
    import torch

    if isinstance(state, torch.Tensor):  # pretraining states written before this module kept torch's stream only
        torch.set_rng_state(state)
        return
    torch.set_rng_state(state["torch"])
    for device, cuda_state in enumerate(state["cuda"]):
        if device < torch.cuda.device_count():
            torch.cuda.set_rng_state(cuda_state, device)
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


# ---- training state files and optimiser groups ---------------------------------------------------------------
def save_training_state(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` (plus the RNG streams) into ``path``, replacing it atomically."""
    import torch

    with atomic_write(path, "wb") as fh:
        torch.save({**state, "rng": rng_state()}, fh)


def load_training_state(path: Path) -> dict[str, Any]:
    """Read a file written by ``save_training_state`` and restore its RNG streams."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    restore_rng_state(state["rng"])
    return state


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups over the trainable parameters: usual practice, no weight decay on biases and norm
    gains (the 1-D tensors)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


# ---- provenance ----------------------------------------------------------------------------------------------
def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(**record: Any) -> dict[str, Any]:
    """``record`` plus the library versions and a UTC timestamp: what every result file says about its making."""
    return {**record, "versions": library_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
