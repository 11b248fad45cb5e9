"""Two-process gloo run of multi_positive_nce(gather=True); launched by test_gather.py.

Usage: python _gather_worker.py <out_dir> <size of rank 0>,<size of rank 1>,...
Rank r takes its slice (b_r rows, b_r may differ between ranks and may be 0) of a fixed global
batch, computes the gathered loss, backpropagates, and saves {"loss", "grad1", "grad2"} to
<out_dir>/rank<r>.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vi2clr.losses import multi_positive_nce

D = 8
GROUPS = [0, 0, 1, -1, 2, 1, 3, 3, 0, 2, -1, 1]  # clusters span the ranks


def global_batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Views ``(n, D)`` ×2 (float64, unit norm) and group ids ``(n,)`` of the whole batch."""
    g = torch.Generator().manual_seed(0)
    z1 = torch.nn.functional.normalize(torch.randn(n, D, generator=g, dtype=torch.float64), dim=1)
    z2 = torch.nn.functional.normalize(torch.randn(n, D, generator=g, dtype=torch.float64), dim=1)
    return z1, z2, torch.tensor(GROUPS[:n])


def run(rank: int, sizes: list[int], out_dir: str) -> None:
    world = len(sizes)
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank, world_size=world)
    try:
        z1, z2, groups = global_batch(sum(sizes))
        start = sum(sizes[:rank])
        part = slice(start, start + sizes[rank])
        a = z1[part].clone().requires_grad_(True)
        b = z2[part].clone().requires_grad_(True)
        loss = multi_positive_nce(a, b, groups[part], tau=0.08, gather=True)
        loss.backward()
        torch.save({"loss": loss.detach(), "grad1": a.grad, "grad2": b.grad}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    out, rank_sizes = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
    mp.spawn(run, args=(rank_sizes, out), nprocs=len(rank_sizes), join=True)
