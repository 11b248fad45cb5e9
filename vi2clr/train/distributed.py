"""torchrun's environment, read as it is (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT): no launcher.

``vi2clr pretrain`` runs unchanged as one process or under ``torchrun --nproc_per_node=N``
(multi-node: ``--nnodes``, ``--rdzv-endpoint``). NCCL on GPU, gloo on CPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(timeout: timedelta | None = None) -> DistInfo:
    """Join the process group torchrun describes (a single process when WORLD_SIZE is unset or 1).

    ``timeout`` bounds how long a collective waits for the slowest rank (torch's default: 10
    minutes for NCCL, 30 for gloo). Pretraining sizes it with ``pretrain.dist_timeout_min`` to
    cover rank 0's clustering pass, during which the other ranks wait in a broadcast.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=device)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (identity without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks of a short list of floats."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_rows(features: torch.Tensor, indices: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Assemble the (num_rows, D) matrix whose row ``indices[j]`` is ``features[j]``, over all ranks.

    Each rank holds the rows of its DistributedSampler share. Shares may differ in length (a rank
    that skipped an unreadable video has fewer rows), so every rank pads to the longest share with
    index −1 before ``all_gather``; writing rows by dataset index then drops both that padding and
    the sampler's own padding (a repeated index carries an identical row). Rows of videos nobody
    could read stay zero.
    """
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        count = torch.tensor([features.shape[0]], device=features.device)
        counts = [torch.empty_like(count) for _ in range(world)]
        dist.all_gather(counts, count)
        longest = int(max(c.item() for c in counts))
        pad = longest - features.shape[0]
        features = torch.cat([features, features.new_zeros((pad, features.shape[1]))])
        indices = torch.cat([indices, indices.new_full((pad,), -1)])
        feats = [torch.empty_like(features) for _ in range(world)]
        idx = [torch.empty_like(indices) for _ in range(world)]
        dist.all_gather(feats, features.contiguous())
        dist.all_gather(idx, indices.contiguous())
        features, indices = torch.cat(feats), torch.cat(idx)
        keep = indices >= 0
        features, indices = features[keep], indices[keep]
    out = features.new_zeros((num_rows, features.shape[1]))
    out[indices] = features
    return out


def all_ranks_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` holds on every rank (one all_reduce; the local flag without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return bool(flag)
    return all_reduce_sum([float(flag)], device)[0] == dist.get_world_size()


# ----------------------------------------------------------------------------- step agreement


def agree_to_step(local_n: int, min_global: int, device: torch.device) -> bool:
    """Whether every rank takes this training step; the same answer on every rank.

    One all_reduce of ``[local_n, local_n == 0]`` gives the global batch N = Σ_r n_r and the
    number of empty ranks E. All ranks step iff N ≥ ``min_global`` and E = 0: DDP needs every
    rank to run forward and backward (and SyncBatchNorm and the loss gather run collectives), so
    a rank whose whole batch was unreadable makes all ranks skip together rather than fall out
    of step. A rank with few (≥ 1) items still steps; the gathered loss pads and masks it.
    Without a process group: ``local_n >= min_global``.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return local_n >= min_global
    t = torch.tensor([local_n, int(local_n == 0)], dtype=torch.long, device=device)
    dist.all_reduce(t)
    total, empty = (int(v) for v in t.tolist())
    return total >= min_global and empty == 0


# ----------------------------------------------------------------------------- BatchNorm across ranks


def convert_sync_bn(model: torch.nn.Module, setting: bool | Literal["auto"], d: DistInfo) -> torch.nn.Module:
    """``model`` with every BatchNorm made a ``torch.nn.SyncBatchNorm`` when ``setting`` asks for it.

    ``"auto"`` = on when world size > 1. Call before DDP wrapping (parameters are reused, so an
    optimiser built earlier still holds them). SyncBatchNorm normalises each training batch with
    the mean/variance of the GLOBAL batch (all ranks) and so keeps running statistics equal on
    every rank; torch implements it for CUDA (and XPU) only — on CPU it raises. On CPU (gloo)
    the model is returned unchanged with a warning: each rank then normalises with its own
    batch statistics, and :func:`broadcast_buffers` before the clustering pass still gives every
    rank rank 0's BN state.
    """
    on = setting is True or (setting == "auto" and d.distributed)
    if not on:
        return model
    if d.device.type != "cuda":
        if d.is_main and d.distributed:
            log.warning("pretrain.sync_bn: torch's SyncBatchNorm needs CUDA; on %s each rank uses its own batch "
                        "statistics (BN buffers are broadcast from rank 0 before each clustering pass)", d.device)
        return model
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


def broadcast_buffers(model: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running mean/var, batch counts) to every rank, in place.

    DDP broadcasts buffers at the start of each training forward, so after the last step every
    rank holds its own update; call this before a pass that uses the bare module (the clustering
    features) so all ranks extract with identical BN state. No-op without a process group.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    for buf in model.buffers():
        dist.broadcast(buf.data, src=src)
