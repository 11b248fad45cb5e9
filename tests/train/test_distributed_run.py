"""`vi2clr pretrain` under real torchrun, 2 gloo ranks, gather on: unreadable videos on ONE rank
only (a whole batch of that rank, and part of another) do not stop or desynchronise the run; and
the paper-shaped configuration (S3D + ResNet-50, 128 px, T = 32) runs the same code path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from _support import VI2CLR, run_cli, tiny_params


def _rank_batches(n: int, batch_size: int, seed: int) -> list[list[list[int]]]:
    """The warm-up epoch's batches of each of 2 ranks (instance groups: the sampler pretraining builds)."""
    from vi2clr.clustering import ClusterAwareBatchSampler

    out = []
    for rank in range(2):
        s = ClusterAwareBatchSampler(np.arange(n), batch_size, 1, num_replicas=2, rank=rank, seed=seed)
        s.set_epoch(0)
        out.append([list(map(int, b)) for b in s])
    return out


def _corrupt_on_rank1(project: Path, batch_size: int) -> list[int]:
    """Truncate, in the first epoch, all videos of rank 1's first batch (all ranks skip that step) and one
    of its second (unequal local batches in the gathered loss)."""
    from vi2clr.config import load_params
    from vi2clr.train.pretrain import load_pretrain_index

    cwd = Path.cwd()
    os.chdir(project)
    try:
        index = load_pretrain_index(load_params("params.yaml", []))
    finally:
        os.chdir(cwd)
    r0, r1 = _rank_batches(len(index.samples), batch_size, seed=0)
    bad = r1[0] + r1[1][:1]
    assert not set(bad) & {i for b in r0 for i in b}, "the corrupt videos must be rank 1's alone"
    for i in bad:
        path = project / index.root / index.samples[i].path
        path.write_bytes(path.read_bytes()[:100])
    return bad


PAPER = {"model.video_encoder": {"name": "s3d", "kwargs": {}}, "model.image_encoder": {"name": "resnet50", "kwargs": {}},
         "pretrain.size": 128, "pretrain.num_frames": 32, "pretrain.stride": 1, "data.synth.num_frames": 32}


@pytest.mark.parametrize("shape", ["tiny", pytest.param("paper", marks=pytest.mark.slow)])
def test_two_ranks_gather_and_sync_bn_with_unreadable_videos_on_one_rank(tmp_path, shape):
    batch = 4 if shape == "tiny" else 2
    extra = {"pretrain.epochs": 2 if shape == "tiny" else 1, "pretrain.clustering.warmup_epochs": 1,
             "pretrain.keep_epochs": [], "pretrain.batch_size": batch, "pretrain.clustering.group_size": batch // 2,
             "pretrain.loss.gather": True, "pretrain.sync_bn": True, "pretrain.progress": False,
             "data.synth.kinetics_missing": 0}
    if shape == "paper":  # 12 videos = 3 batches of 2 per rank: one skipped, one 2 vs 1, one full: 2 steps
        extra.update(PAPER)
        extra.update({"data.synth.num_motion": 2, "data.synth.num_appearance": 2, "data.synth.kinetics_train_per_class": 6})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(extra)))
    run_cli(["data", "synth"], cwd=tmp_path)
    bad = _corrupt_on_rank1(tmp_path, batch)

    dump = tmp_path / "dump"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", VI2CLR, "pretrain"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1", "VI2CLR_DUMP_CLUSTERS": str(dump)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600 if shape == "tiny" else 3000)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "skipping unreadable file" in proc.stderr and "needs the same batch size" not in proc.stderr
    state = torch.load(tmp_path / "runs/pretrain/full/last.pt", weights_only=True)
    assert state["epoch"] == extra["pretrain.epochs"]
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    if shape == "tiny":  # the clustering epoch: all ranks trained with the same clusters, bad videos left out
        r0, r1 = np.load(dump / "rank0_epoch2.npy"), np.load(dump / "rank1_epoch2.npy")
        assert np.array_equal(r0, r1)
    assert len(bad) == batch + 1
