"""multi_positive_nce(gather=True) on 2 gloo processes equals the loss over the whole batch, with
equal, unequal and empty local batches (padded, gathered and masked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vi2clr.losses import multi_positive_nce

WORKER = Path(__file__).with_name("_gather_worker.py")


def load_worker():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gather_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sizes", [(5, 5), (7, 3), (6, 0)], ids=["equal", "unequal", "one-rank-empty"])
def test_gathered_loss_and_gradients_match_single_process(tmp_path, sizes):
    world = len(sizes)
    subprocess.run([sys.executable, str(WORKER), str(tmp_path), ",".join(map(str, sizes))], check=True, timeout=180)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(world)]

    # the reference: the same views as ONE batch on one process (no gather, no padding)
    z1, z2, groups = load_worker().global_batch(sum(sizes))
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    full = multi_positive_nce(z1, z2, groups, tau=0.08)
    full.backward()

    # the global loss is the mean of the ranks' shares (W/2N)·Σ_{own anchors} ℓ_a ...
    torch.testing.assert_close(sum(r["loss"] for r in ranks) / world, full.detach())
    # ... and each rank's view gradient (summed over ranks by the gather's backward) is W times
    # the global gradient of its rows, i.e. exactly it after DDP's averaging over W ranks
    start = 0
    for size, out in zip(sizes, ranks):
        rows = slice(start, start + size)
        assert out["grad1"].shape == (size, z1.shape[1])
        torch.testing.assert_close(out["grad1"] / world, z1.grad[rows])
        torch.testing.assert_close(out["grad2"] / world, z2.grad[rows])
        start += size
    if sizes[1] == 0:
        assert ranks[1]["loss"] == 0


def test_a_padded_row_would_change_the_loss():
    """The masking matters: a zero row kept as a candidate changes the loss (so the test above can fail)."""
    z1, z2, groups = load_worker().global_batch(6)
    padded = multi_positive_nce(torch.cat([z1, torch.zeros(1, 8, dtype=z1.dtype)]),
                                torch.cat([z2, torch.zeros(1, 8, dtype=z2.dtype)]),
                                torch.cat([groups, torch.tensor([-1])]))
    assert not torch.isclose(padded, multi_positive_nce(z1, z2, groups))
