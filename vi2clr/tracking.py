"""MLflow at the edge: where the store is, what every run is tagged with, and a tracker that
never takes a training run down with it.

Conventions (DESIGN.md §5): tracking URI from ``MLFLOW_TRACKING_URI``, else an SQLite file at an
absolute path in the project root; one run per pretraining and per evaluation; tags ``table``,
``row``, ``col``, ``pretrain_run_id``, git commit, ``dvc.stage``, ``dvc.exp_name``, data digest.
Only rank 0 logs.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Iterator

from vi2clr.config import Params, flatten

log = logging.getLogger(__name__)

STORE_FILE = "mlflow.db"


def project_root() -> Path:
    """The real repository: ``DVC_ROOT`` under ``dvc exp run`` (cwd is a temp copy there), else cwd."""
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def tracking_uri(params: Params | None = None) -> str:
    """params ``tracking.uri`` > ``MLFLOW_TRACKING_URI`` > ``sqlite:///<project root>/mlflow.db``."""
    if params is not None and params.tracking.uri:
        return params.tracking.uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{project_root() / STORE_FILE}"


def git_commit(root: Path | None = None) -> str | None:
    """HEAD of the repository at ``root``, with ``-dirty`` when tracked files are modified."""
    root = root or project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def standard_tags(*, dvc_stage: str | None = None, data_digest: str | None = None,
                  extra: dict[str, str] | None = None) -> dict[str, str]:
    """Tags every run carries; ``DVC_EXP_NAME`` is set by ``dvc exp run``."""
    tags: dict[str, str] = {}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit.removesuffix("-dirty")
    stage = dvc_stage or os.environ.get("VI2CLR_DVC_STAGE")
    if stage:
        tags["dvc.stage"] = stage
    exp = os.environ.get("DVC_EXP_NAME")
    if exp:
        tags["dvc.exp_name"] = exp
    if data_digest:
        tags["data_digest"] = data_digest
    tags.update({k: str(v) for k, v in (extra or {}).items() if v is not None})
    return tags


def _reachable(uri: str, timeout: float = 3.0) -> str | None:
    """None when the store answers, else the reason (HTTP stores only; file stores always answer)."""
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as resp:
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(getattr(exc, "reason", exc))


class Tracker:
    """One MLflow run, or nothing: a disabled tracker (rank > 0, store down) accepts every call.

    Uses an ``MlflowClient`` bound to this run's store, never mlflow's process-global state, so
    two trackers (or a tracker and a child process) cannot log to each other's store. A store
    failure is reported once and turns the tracker off; training goes on.
    """

    def __init__(self, *, enabled: bool = True, params: Params | None = None, experiment: str | None = None,
                 run_name: str | None = None, run_id: str | None = None, tags: dict[str, str] | None = None):
        self.enabled = enabled
        self.run_id: str | None = None
        self.uri = tracking_uri(params)
        self._client = None
        if not enabled:
            return
        reason = _reachable(self.uri)
        if reason is not None:
            self._disable(f"tracking store {self.uri} unreachable ({reason})")
            return
        try:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(self.uri)
            name = experiment or (params.tracking.experiment if params else "vi2clr")
            exp = client.get_experiment_by_name(name)
            if exp is None:
                # A local store keeps artifacts beside it; a server decides for itself (proxied artifacts).
                location = None
                if self.uri.startswith("sqlite:///"):
                    location = (Path(self.uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
                exp_id = client.create_experiment(name, artifact_location=location)
            else:
                exp_id = exp.experiment_id
            if run_id:
                client.update_run(run_id, status="RUNNING")
                if tags:
                    for key, value in tags.items():
                        client.set_tag(run_id, key, value)
                self.run_id = run_id
            else:
                self.run_id = client.create_run(exp_id, run_name=run_name, tags=tags or {}).info.run_id
            self._client = client
        except Exception as exc:  # noqa: BLE001
            self._disable(f"tracking store {self.uri} failed ({exc.__class__.__name__}: {exc})")

    def _disable(self, why: str) -> None:
        if self.enabled:
            warnings.warn(f"MLflow tracking off for this run: {why}; training continues", stacklevel=3)
        self.enabled = False
        self._client = None

    def _call(self, fn: str, *args: Any, **kwargs: Any) -> None:
        if self._client is None:
            return
        try:
            getattr(self._client, fn)(self.run_id, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self._disable(f"{fn} failed ({exc.__class__.__name__}: {exc})")

    def log_params(self, params: Params | dict[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten(params)
        items = [Param(k, ("null" if v is None else str(v))[:6000]) for k, v in sorted(flat.items())]
        for i in range(0, len(items), 100):
            self._call("log_batch", params=items[i : i + 100])

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self._call("log_batch", tags=[RunTag(k, str(v)) for k, v in tags.items() if v is not None])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        clean = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for i in range(0, len(clean), 500):
            self._call("log_batch", metrics=clean[i : i + 500])

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        self._call("log_artifact", str(path), artifact_path=artifact_path)

    def log_dict(self, data: dict, name: str) -> None:
        self._call("log_dict", data, name)

    def end(self, status: str = "FINISHED") -> None:
        self._call("set_terminated", status=status)
        self._client = None

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.end("FINISHED" if exc_type is None else ("KILLED" if exc_type is KeyboardInterrupt else "FAILED"))


def search_runs(uri: str, experiment: str, filter_string: str = "") -> Iterator[Any]:
    """All runs of ``experiment`` (MLflow ``Run`` objects), newest first."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return iter(())
    token = None
    runs: list[Any] = []
    while True:
        page = client.search_runs([exp.experiment_id], filter_string, max_results=1000, page_token=token,
                                  order_by=["attributes.start_time DESC"])
        runs.extend(page)
        token = page.token
        if not token:
            break
    return iter(runs)
