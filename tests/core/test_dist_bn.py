"""BN state is identical on all ranks before the clustering pass; ranks agree on skipping a step."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch

from vi2clr.train.distributed import DistInfo, convert_sync_bn

WORKER = Path(__file__).with_name("_bn_worker.py")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("bn")
    subprocess.run([sys.executable, str(WORKER), str(out)], check=True, timeout=300)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_bn_buffers_differ_after_training_and_are_identical_after_the_broadcast(ranks):
    r0, r1 = ranks
    assert r0["before"], "the tiny model has BatchNorm buffers"
    # after a DDP step on different data, each rank holds its own last BN update ...
    assert any(not torch.equal(r0["before"][k], r1["before"][k]) for k in r0["before"])
    # ... and broadcast_buffers (called by pretraining before extraction) makes them rank 0's
    for k in r0["after"]:
        assert torch.equal(r0["after"][k], r1["after"][k]), k
        assert torch.equal(r0["after"][k], r0["before"][k]), k


def test_cpu_keeps_plain_batchnorm(ranks):
    """torch's SyncBatchNorm runs on CUDA only: on CPU/gloo convert_sync_bn leaves BN as is."""
    assert ranks[0]["sync_modules"] == 0


def test_ranks_agree_to_skip_a_step_when_any_rank_is_empty_or_the_global_batch_too_small(ranks):
    for r in ranks:
        assert r["agree"] == {"one_rank_empty": False, "both_nonempty": True, "global_too_small": False,
                              "global_enough_of_ones": True}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch's SyncBatchNorm needs CUDA")
def test_sync_bn_conversion_on_cuda():
    from vi2clr.models import Vi2CLR, build_encoder

    d = DistInfo(rank=0, world_size=2, local_rank=0, device=torch.device("cuda"))
    model = Vi2CLR(build_encoder("tiny3d", width=4), build_encoder("tiny2d", width=4), proj_dim=16).cuda()
    params = {id(p) for p in model.parameters()}
    converted = convert_sync_bn(model, "auto", d)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.modules())
    assert {id(p) for p in converted.parameters()} == params  # an optimiser built earlier still holds them
    assert convert_sync_bn(model, False, d) is model


def test_timeout_param_reaches_the_process_group_call(monkeypatch):
    import torch.distributed as dist

    from vi2clr.config import load_params
    from vi2clr.train import distributed

    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: seen.update(kw))
    p = load_params(str(Path(__file__).parents[2] / "params.yaml"), ["pretrain.dist_timeout_min=90"])
    distributed.init_distributed(timeout=timedelta(minutes=p.pretrain.dist_timeout_min))
    assert seen["timeout"] == timedelta(minutes=90)
