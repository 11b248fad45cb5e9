"""The team setup end to end: the real ``vi2clr`` console script logs over HTTP to a real
``mlflow server`` (SQLite and PostgreSQL backend stores, proxied artifact store), and every run
reads back with its params, metrics, tags and artifacts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _support import tiny_params

QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}
VI2CLR = shutil.which("vi2clr", path=str(Path(sys.executable).parent)) or shutil.which("vi2clr")

# The suite's one tiny preset (tests/_support.py), one epoch. Seconds on 2 CPU cores.
TINY_PARAMS = tiny_params({"pretrain.epochs": 1, "pretrain.optim.lr": 0.005, "pretrain.keep_epochs": [],
                           "pretrain.clustering.warmup_epochs": 0})
EVAL_PROTOCOL = "retrieval"


def vi2clr(args: list[str], cwd: Path, uri: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, **QUIET_ENV, "MLFLOW_TRACKING_URI": uri}
    env.pop("DVC_ROOT", None)
    res = subprocess.run([VI2CLR, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"vi2clr {' '.join(args)} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory) -> Path:
    """A working dir with a tiny params.yaml and the synthetic data it names (shared by both servers)."""
    if VI2CLR is None:
        pytest.skip("the vi2clr console script is not installed (pip install -e .)")
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text(yaml.safe_dump(TINY_PARAMS, sort_keys=False))
    # data synth does not log to MLflow; the URI only has to be valid.
    vi2clr(["data", "synth"], root, f"sqlite:///{root / 'unused.db'}")
    return root


def test_client_roundtrip_through_server(tracking_server, tmp_path):
    """The server fixture itself: params, metrics, tags and a proxied artifact survive the round trip."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_server.url)
    exp_id = client.create_experiment(f"roundtrip-{tmp_path.name}")
    run = client.create_run(exp_id, tags={"table": "2"})
    run_id = run.info.run_id
    client.log_param(run_id, "pretrain.optim.lr", "0.01")
    for step, value in enumerate([3.0, 2.5, 2.0], start=1):
        client.log_metric(run_id, "epoch/loss_total", value, step=step)
    (tmp_path / "note.txt").write_text("hello")
    client.log_artifact(run_id, str(tmp_path / "note.txt"), "encoders")
    client.set_terminated(run_id)

    got = MlflowClient(tracking_server.url).get_run(run_id)
    assert got.data.params["pretrain.optim.lr"] == "0.01"
    assert got.data.metrics["epoch/loss_total"] == 2.0
    assert [m.value for m in client.get_metric_history(run_id, "epoch/loss_total")] == [3.0, 2.5, 2.0]
    assert got.data.tags["table"] == "2"
    assert got.info.status == "FINISHED"
    # Proxied: the client sees mlflow-artifacts:/, the bytes land in the server's destination.
    assert got.info.artifact_uri.startswith("mlflow-artifacts:")
    assert [f.path for f in client.list_artifacts(run_id, "encoders")] == ["encoders/note.txt"]
    local = client.download_artifacts(run_id, "encoders/note.txt", str(tmp_path / "dl"))
    assert Path(local).read_text() == "hello"
    assert list(tracking_server.artifacts.rglob("note.txt"))


def test_pretrain_and_eval_log_to_server(tracking_server, tiny_project, tmp_path):
    """`vi2clr pretrain` then `vi2clr eval` against the server; both runs read back over HTTP."""
    from mlflow.tracking import MlflowClient

    experiment = f"server-{tracking_server.backend}"
    out_dir = f"runs/pretrain/{tracking_server.backend}"
    common = ["-S", f"tracking.experiment={experiment}"]
    vi2clr(["pretrain", "-S", f"pretrain.out_dir={out_dir}", *common], tiny_project, tracking_server.url)
    encoders = tiny_project / out_dir
    assert (encoders / "video_encoder.pt").is_file() and (encoders / "image_encoder.pt").is_file()

    client = MlflowClient(tracking_server.url)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} on {tracking_server}"
    runs = client.search_runs([exp.experiment_id])
    assert [r.data.tags.get("kind") for r in runs] == ["pretrain"], [r.info.run_name for r in runs]
    pre = runs[0]
    assert pre.info.status == "FINISHED"
    assert float(pre.data.params["pretrain.optim.lr"]) == pytest.approx(0.005)
    assert pre.data.params["pretrain.epochs"] == "1"
    assert "epoch/loss_total" in pre.data.metrics
    assert pre.data.tags.get("data_digest")  # git commit is absent: the project dir is no repository
    names = sorted(f.path for f in client.list_artifacts(pre.info.run_id, "encoders"))
    assert names == ["encoders/image_encoder.pt", "encoders/video_encoder.pt"]
    got = Path(client.download_artifacts(pre.info.run_id, "encoders/video_encoder.pt", str(tmp_path)))
    assert got.read_bytes() == (encoders / "video_encoder.pt").read_bytes()

    vi2clr(["eval", EVAL_PROTOCOL, "--encoders", out_dir, *common], tiny_project, tracking_server.url)
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.info.run_id != pre.info.run_id]
    protocol_runs = [r for r in runs if r.data.tags.get("kind") == "eval-protocol"]
    evals = [r for r in runs if r.data.tags.get("kind") != "eval-protocol"]
    assert evals, "vi2clr eval logged no run"
    assert len(protocol_runs) == 1 and protocol_runs[0].info.status == "FINISHED"
    assert all(ev.data.tags.get("mlflow.parentRunId") == protocol_runs[0].info.run_id for ev in evals)
    for ev in evals:
        assert ev.info.status == "FINISHED" and ev.data.tags.get("kind") == "eval"
        assert ev.data.tags.get("pretrain_run_id") == pre.info.run_id
        assert ev.data.params.get("encoders") == out_dir
        assert "retrieval/r1" in ev.data.metrics
    assert {ev.data.tags.get("dataset") for ev in evals} <= {"ucf101", "hmdb51"}
