"""Shared helpers of the test suite (importable as ``_support``: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from vi2clr.config import SYNTH_TINY, apply_overrides

REPO = Path(__file__).resolve().parents[1]
VI2CLR = str(Path(sys.executable).with_name("vi2clr"))

# The smallest settings under which every protocol still runs: 4 motion x 4 appearance classes,
# 32 px, 12-frame videos, 1-2 epochs.
TINY = {
    **{f"data.synth.{k}": v for k, v in SYNTH_TINY.items()},
    "data.num_workers": 0,
    "model.video_encoder.kwargs": {"width": 4, "frames": "residual"}, "model.image_encoder.kwargs": {"width": 4},
    "pretrain.epochs": 2, "pretrain.batch_size": 8, "pretrain.num_frames": 4, "pretrain.stride": 2, "pretrain.size": 32,
    "pretrain.optim.milestones": [1], "pretrain.keep_epochs": [1, 2], "pretrain.log_every": 1,
    "pretrain.clustering.group_size": 2, "pretrain.clustering.warmup_epochs": 1,
    "eval.size": 32, "eval.video_size": 32, "eval.num_frames": 4, "eval.batch_size": 16,
    "eval.linear.epochs": 3, "eval.linear.milestones": [2], "eval.semisup.epochs": 1, "eval.semisup.milestones": [1],
    "eval.svm.costs": [0.1, 1.0], "eval.svm.fewshot_ks": [1], "eval.svm.fewshot_samples": 2,
    "eval.retrieval.window_stride": 4, "eval.video.test_clips": 2,
    "eval.video.linear.epochs": 3, "eval.video.linear.milestones": [2],
    "eval.video.finetune.epochs": 1, "eval.video.finetune.milestones": [1], "eval.video.finetune.batch_size": 8,
    "eval.table1_epochs": {"epoch_50": 1, "epoch_100": 2},
}


def overrides(values: dict) -> list[str]:
    """``{"a.b": 1}`` → ``["a.b=1"]``: the ``-S`` strings of the CLI (values as JSON, which is YAML)."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def tiny_params(extra: dict | None = None) -> dict:
    """The repo's params.yaml with the TINY settings (and ``extra``) applied by `apply_overrides`."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    return apply_overrides(raw, overrides({**TINY, **(extra or {})}))


def run_cli(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess:
    """The real console script in a subprocess (as a user would type it)."""
    full_env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run([VI2CLR, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"vi2clr {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def invoke_cli(args: list[str], cwd: Path, env: dict | None = None, check: bool = True) -> SimpleNamespace:
    """The CLI in this process (Typer's CliRunner), run in ``cwd``: no interpreter start-up (~6 s of
    imports), the same parsing, params validation and user-error handler as the console script.
    Returns ``returncode``, ``stdout``, ``stderr`` like `run_cli`; an exception that is not the CLI's
    own exit propagates with its traceback."""
    from typer.testing import CliRunner

    from vi2clr.cli import app

    root = logging.getLogger()
    handlers, configured = list(root.handlers), getattr(root, "_vi2clr_configured", False)
    root._vi2clr_configured = False  # type: ignore[attr-defined]  # log to this call's captured stderr
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()  # pretrain and eval set compute.threads
    environ = dict(os.environ)  # mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI into os.environ
    old_cwd = Path.cwd()
    os.chdir(cwd)
    try:
        res = CliRunner().invoke(app, args, env={"COLUMNS": "200", **(env or {})}, catch_exceptions=True)
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(environ)
        if "mlflow" in sys.modules:  # forget the process-global URI the command left behind
            import mlflow

            mlflow.set_tracking_uri(None)
            os.environ.clear()
            os.environ.update(environ)
        root.handlers[:] = handlers
        root._vi2clr_configured = configured  # type: ignore[attr-defined]
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])  # pretrain sets it
        torch.set_num_threads(threads)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    out = SimpleNamespace(returncode=res.exit_code, stdout=res.stdout, stderr=res.stderr)
    if check and out.returncode != 0:
        raise AssertionError(f"vi2clr {' '.join(args)} exited {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def store_uri(where: Path | str) -> str:
    """A project folder → its default SQLite store URI; a URI is returned as it is."""
    return f"sqlite:///{Path(where) / 'mlflow.db'}" if isinstance(where, Path) else where


def mlflow_runs(where: Path | str, filter_string: str = "", experiment: str = "vi2clr") -> list:
    """The runs of ``experiment`` in a project's store (or at a tracking URI), newest first."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store_uri(where))
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id], filter_string)


def copy_repo(dest: Path) -> Path:
    """The tracked files of this repository, copied to ``dest`` (a clean checkout)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for rel in files:
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


DVC = str(Path(sys.executable).with_name("dvc"))
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}


def sh(args: list[str], cwd: Path, timeout: float = 900) -> str:
    env = {**os.environ, **GIT_ENV, "MLFLOW_DISABLE_TELEMETRY": "true",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def tiny_pipeline_params() -> dict:
    raw = tiny_params({"pretrain.keep_epochs": [1, 2]})
    suites = raw["eval_suites"]
    for name in ("image_only", "center_only"):
        suites[name]["protocols"] = ["image-linear", "voc-svm"]
    suites["video_only"]["protocols"] = ["video-finetune"]
    raw["eval_random"]["protocols"] = ["image-linear", "voc-svm", "retrieval", "video-finetune"]
    raw["seeds"] = {"pretrain": [0], "random_init": [0]}
    raw["data"]["synth"]["kinetics_val_per_class"] = 3  # 12 val videos: the learning curve needs >= 10
    raw["pretrain"]["curve"] = {"every": 1, "split": "val", "videos": 12, "k": 3}
    return raw


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (free when this returns)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
