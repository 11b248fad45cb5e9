"""multi_positive_nce(gather=True) on 2 gloo processes equals the loss over the whole batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from vi2clr.losses import multi_positive_nce

WORKER = Path(__file__).with_name("_gather_worker.py")


def load_worker():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gather_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gathered_loss_and_gradients_match_single_process(tmp_path):
    world = 2
    subprocess.run([sys.executable, str(WORKER), str(tmp_path), str(world)], check=True, timeout=180)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world)]

    z1, z2, groups = load_worker().global_batch(world)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    full = multi_positive_nce(z1, z2, groups, tau=0.08)
    full.backward()

    # the global loss is the mean of the ranks' losses (each over its own 2B anchors) ...
    torch.testing.assert_close(sum(r["loss"] for r in ranks) / world, full.detach())
    # ... and each rank's view gradient (summed over ranks by all_gather's backward) is W times
    # the global gradient of its rows, i.e. exactly it after DDP's averaging over W ranks
    b = z1.shape[0] // world
    for r, out in enumerate(ranks):
        rows = slice(r * b, (r + 1) * b)
        torch.testing.assert_close(out["grad1"] / world, z1.grad[rows])
        torch.testing.assert_close(out["grad2"] / world, z2.grad[rows])
