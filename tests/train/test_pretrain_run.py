"""`vi2clr pretrain` end to end on tiny synthetic data: checkpoints, exports, MLflow, resume after
SIGKILL, the non-finite guard, and two gloo processes under torchrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _support import VI2CLR, mlflow_runs, run_cli, store_uri
from mlflow.tracking import MlflowClient


def _runs(project: Path, kind: str):
    return MlflowClient(store_uri(project)), mlflow_runs(project, f"tags.kind = '{kind}'")


def test_pretrain_writes_checkpoints_exports_and_a_complete_mlflow_run(tiny_project):
    run_cli(["pretrain"], cwd=tiny_project)
    out = tiny_project / "runs" / "pretrain" / "full"
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["format"] == "vi2clr-pretrain/1"
    for key in ("model", "optimizer", "scheduler", "scaler", "rng", "sampler", "cluster", "params_digest"):
        assert key in state
    assignments = state["cluster"]["assignments"]
    assert assignments.shape == (16,) and state["cluster"]["centroids"].shape[1] == 128
    assert torch.isclose(state["cluster"]["phi"].mean(), torch.tensor(0.08), atol=1e-4)

    from vi2clr.models import load_encoder

    video, meta = load_encoder(out / "video_encoder.pt", expect_kind="video")
    image, _ = load_encoder(out / "image_encoder.pt", expect_kind="image")
    assert meta["epoch"] == 2 and video.kind == "video" and image.kind == "image"
    assert (out / "epoch_0001" / "image_encoder.pt").exists() and (out / "clusters" / "epoch_0002.npz").exists()
    history = (tiny_project / "reports" / "pretrain" / "full" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[0].startswith("epoch,loss_center")

    client, runs = _runs(tiny_project, "pretrain")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["pretrain.optim.lr"] == "0.001"
    assert run.data.params["pretrain.loss.tau"] == "0.08"
    for metric in ("epoch/loss_total", "epoch/loss_center", "epoch/loss_video", "epoch/loss_image", "epoch/lr",
                   "cluster/num_clusters", "cluster/size_mean", "cluster/motion_nmi", "cluster/appearance_ari",
                   "time/extract_s", "time/cluster_s", "time/train_s", "time/data_wait_s",
                   "throughput/clips_per_s", "train/loss_total"):
        assert metric in run.data.metrics, metric
    assert "data_digest" in run.data.tags and run.data.tags["ablation"] == "full"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "encoders")}
    assert artifacts == {"encoders/video_encoder.pt", "encoders/image_encoder.pt"}
    clusters = {a.path for a in client.list_artifacts(run.info.run_id, "clusters")}
    assert clusters == {"clusters/epoch_0001.npz", "clusters/epoch_0002.npz"}

    # An existing run is never overwritten by accident; a params change refuses to resume.
    again = run_cli(["pretrain"], cwd=tiny_project, check=False)
    assert again.returncode == 1 and "pass --resume" in again.stderr
    changed = run_cli(["pretrain", "--resume", "-S", "pretrain.optim.lr=0.5"], cwd=tiny_project, check=False)
    assert changed.returncode == 1 and "resume refused" in changed.stderr and "Traceback" not in changed.stderr


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_resume_after_sigkill_matches_an_uninterrupted_run(tiny_project):
    args = ["pretrain", "-S", "pretrain.epochs=3", "-S", "pretrain.keep_epochs=[]"]
    run_cli([*args, "-S", "pretrain.out_dir=runs/a"], cwd=tiny_project)

    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen([VI2CLR, *args, "-S", "pretrain.out_dir=runs/b"], cwd=tiny_project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tiny_project / "runs" / "b" / "last.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if last.exists() and torch.load(last, weights_only=True)["epoch"] >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)  # mid-run, no chance to clean up
    proc.wait()
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert killed_at < 3

    run_cli([*args, "-S", "pretrain.out_dir=runs/b", "--resume"], cwd=tiny_project)
    a, b = _weights(tiny_project / "runs" / "a" / "last.pt"), _weights(last)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # The resumed run continued the same MLflow run.
    _, runs = _runs(tiny_project, "pretrain")
    assert len(runs) == 2


def test_the_learning_curve_probe_does_not_change_what_is_learned(tiny_project):
    """``pretrain.curve`` is a resume-free diagnostic (not in the params digest): probing every epoch
    or never must train bit-identical weights. (The tiny val split is below the probe's 10 videos: it
    reads the training split here, the same videos the training decodes.)"""
    args = ["pretrain", "-S", "pretrain.keep_epochs=[]", "-S", "pretrain.curve.split=train",
            "-S", "pretrain.curve.videos=10", "-S", "pretrain.curve.k=3"]
    run_cli([*args, "-S", "pretrain.curve.every=1", "-S", "pretrain.out_dir=runs/probed"], cwd=tiny_project)
    run_cli([*args, "-S", "pretrain.curve.every=0", "-S", "pretrain.out_dir=runs/plain"], cwd=tiny_project)
    probed = torch.load(tiny_project / "runs" / "probed" / "last.pt", map_location="cpu", weights_only=True)
    plain = torch.load(tiny_project / "runs" / "plain" / "last.pt", map_location="cpu", weights_only=True)
    assert probed["params_digest"] == plain["params_digest"]
    for name in probed["model"]:
        assert torch.equal(probed["model"][name], plain["model"][name]), name
    _, runs = _runs(tiny_project, "pretrain")
    curves = sorted(sorted(k for k in r.data.metrics if k.startswith("curve/")) for r in runs)
    assert len(runs) == 2 and curves[0] == [] and curves[1], curves  # the probe did run in one of them


def test_non_finite_losses_stop_the_run_with_a_checkpoint(tiny_project, monkeypatch):
    import vi2clr.train.pretrain as pretrain
    from vi2clr.config import load_params
    from vi2clr.train.criterion import Criterion

    real = Criterion.__call__

    def nan_terms(*args, **kwargs):
        terms = real(*args, **kwargs)
        terms["total"] = terms["total"] * float("nan")
        return terms

    monkeypatch.chdir(tiny_project)
    monkeypatch.setattr(Criterion, "__call__", nan_terms)
    p = load_params("params.yaml", ["pretrain.max_nonfinite=2", "pretrain.out_dir=runs/nan"])
    with pytest.raises(pretrain.PretrainError, match="2 non-finite losses in a row at epoch 1"):
        pretrain.run_pretrain(p)
    assert (tiny_project / "runs" / "nan" / "stopped.pt").exists()


def test_two_gloo_processes_under_torchrun_see_the_same_clusters(tiny_project):
    dump = tiny_project / "dump"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", VI2CLR,
           "pretrain", "-S", "pretrain.loss.gather=true", "-S", "pretrain.batch_size=4"]
    env = {**os.environ, "VI2CLR_DUMP_CLUSTERS": str(dump), "MLFLOW_DISABLE_TELEMETRY": "true",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tiny_project, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for epoch in (1, 2):
        r0 = np.load(dump / f"rank0_epoch{epoch}.npy")
        r1 = np.load(dump / f"rank1_epoch{epoch}.npy")
        assert r0.shape == (16,) and np.array_equal(r0, r1)
    state = torch.load(tiny_project / "runs" / "pretrain" / "full" / "last.pt", weights_only=True)
    assert state["epoch"] == 2
    _, runs = _runs(tiny_project, "pretrain")
    assert len(runs) == 1 and runs[0].data.params["run.world_size"] == "2"  # rank 0 alone logs


def test_unreadable_videos_do_not_stop_two_ranks(tmp_path):
    """Ranks that skip different numbers of videos still gather the clustering features."""
    import yaml
    from _support import tiny_params

    raw = tiny_params({"data.synth.corrupt": 2, "data.synth.zero_length": 1, "pretrain.epochs": 1,
                       "pretrain.clustering.warmup_epochs": 0, "pretrain.keep_epochs": [], "pretrain.batch_size": 4})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    run_cli(["data", "synth"], cwd=tmp_path)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", VI2CLR, "pretrain"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "skipping unreadable file" in proc.stderr
    assert torch.load(tmp_path / "runs/pretrain/full/last.pt", weights_only=True)["epoch"] == 1
