"""Two-process gloo run of multi_positive_nce(gather=True); launched by test_gather.py.

Usage: python _gather_worker.py <out_dir> <world_size>
Each rank takes its slice of a fixed global batch, computes the gathered loss, backpropagates,
and saves {"loss", "grad1", "grad2"} to <out_dir>/rank<r>.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vi2clr.losses import multi_positive_nce

B, D = 5, 8


def global_batch(world: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    z1 = torch.nn.functional.normalize(torch.randn(world * B, D, generator=g, dtype=torch.float64), dim=1)
    z2 = torch.nn.functional.normalize(torch.randn(world * B, D, generator=g, dtype=torch.float64), dim=1)
    groups = torch.tensor([0, 0, 1, -1, 2, 1, 3, 3, 0, 2])[: world * B]  # clusters span both ranks
    return z1, z2, groups


def run(rank: int, world: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank, world_size=world)
    try:
        z1, z2, groups = global_batch(world)
        part = slice(rank * B, (rank + 1) * B)
        a = z1[part].clone().requires_grad_(True)
        b = z2[part].clone().requires_grad_(True)
        loss = multi_positive_nce(a, b, groups[part], tau=0.08, gather=True)
        loss.backward()
        torch.save({"loss": loss.detach(), "grad1": a.grad, "grad2": b.grad}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    out, world_size = sys.argv[1], int(sys.argv[2])
    mp.spawn(run, args=(world_size, out), nprocs=world_size, join=True)
