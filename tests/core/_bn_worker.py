"""Two-process gloo run: one DDP training step of a tiny Vi2CLR on different data per rank, then
BN buffers before/after :func:`broadcast_buffers`, and :func:`agree_to_step` answers; launched by
test_dist_bn.py.

Usage: python _bn_worker.py <out_dir>; rank r saves <out_dir>/rank<r>.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from vi2clr.losses import multi_positive_nce
from vi2clr.models import Vi2CLR, build_encoder
from vi2clr.train.distributed import DistInfo, agree_to_step, broadcast_buffers, convert_sync_bn


def bn_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "running_" in k}


def run(rank: int, world: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank, world_size=world)
    try:
        d = DistInfo(rank=rank, world_size=world, local_rank=rank, device=torch.device("cpu"))
        torch.manual_seed(0)  # identical initial weights
        model = Vi2CLR(build_encoder("tiny3d", width=4), build_encoder("tiny2d", width=4), proj_dim=16)
        model = convert_sync_bn(model, "auto", d)
        sync_modules = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
        net = DistributedDataParallel(model)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        torch.manual_seed(100 + rank)  # different data on each rank, as in training
        b = 3 + rank  # and unequal local batches
        for _ in range(2):
            video = torch.rand(2 * b, 3, 4, 16, 16) + rank
            image = torch.rand(2 * b, 3, 16, 16) * (1 + rank)
            z_v, z_i, z_j = net(video, image)
            groups = torch.full((b,), -1)
            loss = sum(multi_positive_nce(z[:b], z[b:], groups, gather=True) for z in (z_v, z_i, z_j))
            opt.zero_grad()
            loss.backward()
            opt.step()
        before = bn_state(model)
        broadcast_buffers(model)
        after = bn_state(model)
        agree = {
            "one_rank_empty": agree_to_step(3 if rank == 0 else 0, 2, d.device),
            "both_nonempty": agree_to_step(3 if rank == 0 else 1, 2, d.device),
            "global_too_small": agree_to_step(1 if rank == 0 else 0, 2, d.device),
            "global_enough_of_ones": agree_to_step(1, 2, d.device),
        }
        torch.save({"before": before, "after": after, "agree": agree, "sync_modules": sync_modules},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(run, args=(2, sys.argv[1]), nprocs=2, join=True)
