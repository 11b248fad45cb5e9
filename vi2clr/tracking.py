"""MLflow at the edge: where the store is, what every run is tagged with, and a tracker that
never takes a training run down with it.

Conventions (docs/architecture.md §5): tracking URI from ``MLFLOW_TRACKING_URI``, else an SQLite file at an
absolute path in the project root; one run per pretraining and per evaluation, opened before its
work starts and closed FINISHED / FAILED / KILLED as it ends; tags ``table``, ``row``, ``col``,
``pretrain_run_id``, git commit, ``dvc.stage``, ``dvc.exp_name``, ``vi2clr.pipeline_run``,
``mlflow.user``, data digest; the data as MLflow dataset inputs; the exported encoders as MLflow
models registered under :data:`VIDEO_MODEL_NAME` / :data:`IMAGE_MODEL_NAME`. Only rank 0 logs.
"""

from __future__ import annotations

import contextlib
import copy
import getpass
import hashlib
import json
import logging
import math
import os
import signal
import subprocess
import threading
import time
import types
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vi2clr.config import Params, flatten

log = logging.getLogger(__name__)

STORE_FILE = "mlflow.db"
COMMIT_ENV = "VI2CLR_GIT_COMMIT"          # the commit of a build without .git (docker build-arg)
PIPELINE_ENV = "VI2CLR_PIPELINE_RUN"      # groups the stages of one pipeline run
PIPELINE_TAG = "vi2clr.pipeline_run"
EVAL_RUN_TAG_PREFIX = "vi2clr.eval_run."  # on a pretraining run: one tag per linked evaluation run
# MLflow 3's UI picks the experiment's view from this tag; the value is the UI's
# ExperimentKind.CUSTOM_MODEL_DEVELOPMENT (mlflow/server/js, mlflow 3.17), the model-training view.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
VIDEO_MODEL_NAME = "vi2clr-video-encoder"
IMAGE_MODEL_NAME = "vi2clr-image-encoder"
DATASET_DIGEST_CHARS = 32  # MLflow's SQL stores keep a dataset digest in VARCHAR(36)

# Params that change how a pretraining is run or saved, never what it learns.
PRETRAIN_NOT_DEFINING = ("out_dir", "log_every", "progress", "tags", "keep_epochs", "keep_every")
# The blocks of ``eval`` each protocol reads, besides the shared keys below.
EVAL_BLOCKS: dict[str, tuple[str, ...]] = {
    "image-linear": ("size", "batch_size", "linear"),
    "table1": ("size", "batch_size", "linear", "table1_epochs"),
    "voc-svm": ("size", "batch_size", "svm"),
    "voc-fewshot": ("size", "batch_size", "svm"),
    "semisup": ("size", "batch_size", "semisup"),
    "retrieval": ("video_size", "num_frames", "batch_size", "retrieval"),
    "video-linear": ("video_size", "num_frames", "batch_size", "video"),
    "video-finetune": ("video_size", "num_frames", "batch_size", "video"),
}
EVAL_SHARED = ("seed",)
FILES_DIGEST_TAG = "data_files_digest"  # an evaluation run's data: names, labels and file sizes
FILES_DIGEST_SAMPLE = 1024  # files whose size :func:`files_digest` reads


def files_digest(index: Any, most: int = FILES_DIGEST_SAMPLE) -> str:
    """sha256 over ``index.digest()`` and the byte sizes of at most ``most`` of its files, evenly
    spaced in the index's order (``-1`` for a missing file): what changes when the same file names
    hold other data (another ``data.synth.seed`` or family draws every video and image anew, and the
    encoded sizes with them). A sample, not every file, so that an evaluation on ImageNet's 1.28 M
    training images costs ~1,000 ``stat`` calls; a real data set edited in a few files can pass
    unseen (the index digest still catches any file added, removed, renamed or relabelled)."""
    samples = index.samples
    step = max(1, -(-len(samples) // most))  # ceil: at most ``most`` files
    h = hashlib.sha256(index.digest().encode())
    for sample in samples[::step]:
        try:
            size = index.resolve(sample).stat().st_size
        except (OSError, ValueError):  # missing, unreadable, or a path the index's guard refuses
            size = -1
        h.update(f"\n{sample.path}\t{size}".encode())
    return h.hexdigest()


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


def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` bound to ``uri``.

    The first client of a new SQLite store creates its tables (alembic migrations), and processes
    doing so at once fail ("Online migration expected to match one row"), as the seeds of a row do
    when ``vi2clr seeds`` starts them together on a fresh clone. So the processes of one SQLite store
    take turns opening it, under an exclusive ``fcntl`` lock on ``<store>.lock``; other stores
    (servers, which migrate once) open directly. Written by hand: MLflow has no such lock."""
    from mlflow.tracking import MlflowClient

    if not uri.startswith("sqlite:///"):
        return MlflowClient(uri)
    import fcntl

    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
        return MlflowClient(uri)  # its constructor opens the store (and creates the tables)


def is_server_uri(uri: str) -> bool:
    """True for a tracking server (``http(s)://``), False for a local store."""
    return uri.startswith(("http://", "https://"))


def git_commit(root: Path | None = None) -> str | None:
    """HEAD of the repository at ``root`` (``-dirty`` when tracked files are modified); without git
    or a repository (a Docker image), ``$VI2CLR_GIT_COMMIT`` (the image's build arg)."""
    root = root or project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get(COMMIT_ENV) or None
    return f"{sha}-dirty" if dirty else sha


def user_name() -> str:
    """The OS user; an arbitrary container UID has no passwd entry, so then ``$USER`` or ``uid<N>``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or f"uid{os.getuid()}"


def pipeline_run(commit: str | None = None) -> str | None:
    """The id grouping the stages of one pipeline run.

    ``$VI2CLR_PIPELINE_RUN`` if set, else ``$DVC_EXP_NAME`` (``dvc exp run``), else the pipeline
    state ``state-<sha256(commit + params.yaml)[:12]>``: every stage of a ``dvc repro`` on one
    commit and one params file shares it. None without a commit.
    """
    explicit = os.environ.get(PIPELINE_ENV) or os.environ.get("DVC_EXP_NAME")
    if explicit:
        return explicit
    commit = commit or git_commit()
    if not commit:
        return None
    h = hashlib.sha256(commit.encode())
    params_file = Path.cwd() / "params.yaml"
    if params_file.is_file():
        h.update(params_file.read_bytes())
    return f"state-{h.hexdigest()[:12]}"


def base_tags() -> dict[str, str]:
    """Tags of every run whatever its kind: user, git commit, pipeline run, DVC stage/experiment."""
    tags = {"mlflow.user": user_name()}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit.removesuffix("-dirty")
    group = pipeline_run(commit)
    if group:
        tags[PIPELINE_TAG] = group
    stage = os.environ.get("VI2CLR_DVC_STAGE")
    if stage:
        tags["dvc.stage"] = stage
    exp = os.environ.get("DVC_EXP_NAME")
    if exp:
        tags["dvc.exp_name"] = exp
    return tags


def standard_tags(*, dvc_stage: str | None = None, data_digest: str | None = None,
                  extra: dict[str, str] | None = None) -> dict[str, str]:
    """:func:`base_tags` plus the stage, the data digest and ``extra`` (``None`` values dropped)."""
    tags = base_tags()
    if dvc_stage:
        tags["dvc.stage"] = dvc_stage
    if data_digest:
        tags["data_digest"] = data_digest
    tags.update({k: str(v) for k, v in (extra or {}).items() if v is not None})
    return tags


# ----------------------------------------------------------------------------- params that define a run


def pretrain_params(p: Params) -> dict[str, Any]:
    """What defines a pretraining: ``model``, the training data (``data.kinetics400``, and
    ``data.subset`` when an index file is used), ``pretrain`` minus output, logging and progress
    settings (:data:`PRETRAIN_NOT_DEFINING`), and ``compute.threads``. Nested;
    :meth:`Tracker.log_params` flattens it."""
    pre = p.pretrain.model_dump(mode="json")
    for key in PRETRAIN_NOT_DEFINING:
        pre.pop(key, None)
    data: dict[str, Any] = {"kinetics400": p.data.kinetics400.model_dump(mode="json")}
    if p.data.kinetics400.index:
        data["subset"] = p.data.subset.model_dump(mode="json")
    return {"model": p.model.model_dump(mode="json"), "data": data, "pretrain": pre,
            "compute": {"threads": p.compute.threads}}


def eval_params(p: Params, protocol: str) -> dict[str, Any]:
    """What defines an evaluation: the ``eval`` keys the protocol reads (:data:`EVAL_BLOCKS`) and
    ``eval.seed``; an unknown protocol gets the whole ``eval`` block. Nested under ``eval``, beside
    ``compute.threads`` (the numbers depend on it)."""
    full = p.eval.model_dump(mode="json")
    keys = EVAL_BLOCKS.get(protocol)
    threads = {"compute": {"threads": p.compute.threads}}
    if keys is None:
        return {"eval": full, **threads}
    return {"eval": {k: full[k] for k in (*keys, *EVAL_SHARED)}, **threads}


def run_status(exc_type: type[BaseException] | None, exc: BaseException | None = None) -> str:
    """FINISHED (no exception, or exit code 0), KILLED (Ctrl-C, SIGTERM) or FAILED."""
    if exc_type is None:
        return "FINISHED"
    if issubclass(exc_type, (KeyboardInterrupt, RunTerminated)):
        return "KILLED"
    if issubclass(exc_type, SystemExit) and getattr(exc, "code", 1) in (0, None):
        return "FINISHED"
    return "FAILED"


class RunTerminated(SystemExit):
    """Raised in the main thread by SIGTERM (``scancel``, ``docker stop``) inside a run: exit 128+15."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


# The main thread's state of :func:`store_write` (signal handlers run there only): how deep, and
# the signal that arrived meanwhile.
_store_write = types.SimpleNamespace(depth=0, pending=None)


def _stop_now(signum: int) -> None:
    """What a stop signal does at a safe point: SIGINT raises KeyboardInterrupt, SIGTERM RunTerminated."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise RunTerminated(signum)


@contextlib.contextmanager
def store_write() -> Iterator[None]:
    """Within: a stop signal caught by :func:`terminate_raises` waits until the block ends, then raises.

    An exception raised by a signal handler in the middle of a local SQL store's write (SQLAlchemy
    inside a transaction) can leave the connection checked out holding SQLite's write lock: every
    later write of this process, its own ``set_terminated`` included, then waits for a lock nobody
    will release, and the run stays RUNNING (measured: two processes logging to one SQLite store,
    SIGTERM at a random moment, most runs stayed RUNNING). So the tracker's store calls finish
    first; the stop follows at once after. Written by hand: neither MLflow nor SQLAlchemy defers signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _store_write.depth += 1
    try:
        yield
    finally:
        _store_write.depth -= 1
        signum = _store_write.pending
        if _store_write.depth == 0 and signum is not None:
            _store_write.pending = None
            _stop_now(signum)


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """Within: SIGTERM raises :class:`RunTerminated` so the run closes KILLED (main thread only).

    Ctrl-C keeps raising KeyboardInterrupt. Either waits for the end of a :func:`store_write`
    block that is under way, so the store is never left halfway through a write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        if _store_write.depth > 0:
            _store_write.pending = _store_write.pending or signum
            return
        _stop_now(signum)

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, handler)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when a caller handles Ctrl-C
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """mlflow's flavour ``log_model`` reads the process-global tracking URI: bind it for the call."""
    import mlflow

    old = mlflow.get_tracking_uri()
    old_env = os.environ.get("MLFLOW_TRACKING_URI")  # mlflow.set_tracking_uri also writes the env var
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old)
        if old_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_env


def _quiet_http_retries() -> None:
    """The tracker retries itself (bounded, without blocking training); mlflow's own default of
    7 retries with backoff factor 2 would stall every call for minutes while a server is down.
    Only defaults: a value the user set wins."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def _system_metrics_wanted(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    env = os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING")
    return env is None or env.strip().lower() not in ("0", "false", "no")


# ----------------------------------------------------------------------------- the tracker


class Tracker:
    """One MLflow run, or nothing: a disabled tracker (rank > 0) accepts every call.

    Uses an ``MlflowClient`` bound to this run's store, never mlflow's process-global state, so
    two trackers (or a tracker and a child process) cannot log to each other's store. The run is
    created in ``__init__`` (before the work); use it as a context manager so it closes FINISHED,
    FAILED or KILLED (Ctrl-C, SIGTERM) with the work.

    A store failure never raises: the call is queued, and the queue is sent when the store answers
    again. Retries follow an exponential backoff: after the k-th failure in a row the next attempt
    waits ``min(backoff_s * 2**(k-1), max_backoff_s)`` seconds; meanwhile calls only queue (no
    blocking). ``end`` waits at most ``flush_timeout_s`` for what is still queued, then warns with
    the number of calls lost. At most ``max_queue`` calls are kept (oldest dropped, with a warning).
    """

    def __init__(self, *, enabled: bool = True, params: Params | None = None, experiment: str | None = None,
                 run_name: str | None = None, run_id: str | None = None, tags: dict[str, str] | None = None,
                 system_metrics: bool | None = None, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 flush_timeout_s: float = 60.0, max_queue: int = 100_000):
        self.enabled = enabled
        self.run_id: str | None = run_id
        self.uri = tracking_uri(params)
        self.experiment = experiment or (params.tracking.experiment if params else "vi2clr")
        self.experiment_id: str | None = None
        self.backoff_s, self.max_backoff_s, self.flush_timeout_s = backoff_s, max_backoff_s, flush_timeout_s
        self._tags = {**base_tags(), **(tags or {})}
        self._run_name, self._resume = run_name, run_id is not None
        self._start_ms = int(time.time() * 1000)
        self._queue: deque[tuple[str, Callable[[str], Any]]] = deque(maxlen=max_queue)
        self._failures = 0
        self._next_try = 0.0
        self._warned_offline = self._warned_dropped = False
        self._sent_after_outage = 0
        self._closed = False
        self._monitor = None
        self._system_metrics = _system_metrics_wanted(system_metrics)
        self._client = None
        self._pending_open = False
        self._enter_cm: contextlib.ExitStack | None = None
        if not enabled:
            return
        _quiet_http_retries()
        self._client = mlflow_client(self.uri)
        self._try_open()

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def opened(self) -> bool:
        """True once the run exists in the store (its creation may wait for the store to answer)."""
        return self.run_id is not None and not self._pending_open

    @property
    def pending(self) -> int:
        """Calls queued for the store."""
        return len(self._queue)

    def _experiment_id(self) -> str:
        client = self._client
        exp = client.get_experiment_by_name(self.experiment)
        if exp is None:
            # A local store keeps artifacts beside it; a server decides for itself (proxied artifacts).
            location = None
            if self.uri.startswith("sqlite:///"):
                location = (Path(self.uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
            try:
                return client.create_experiment(self.experiment, artifact_location=location,
                                                tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
            except Exception:  # noqa: BLE001 - created meanwhile by another process
                exp = client.get_experiment_by_name(self.experiment)
                if exp is None:
                    raise
        if EXPERIMENT_KIND_TAG not in exp.tags:  # never override a kind a user chose in the UI
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return exp.experiment_id

    def _open(self) -> None:
        client = self._client
        self.experiment_id = self._experiment_id()
        if self._resume:
            client.update_run(self.run_id, status="RUNNING")
            client.log_batch(self.run_id, tags=_tags(self._tags))
        else:
            run = client.create_run(self.experiment_id, start_time=self._start_ms, run_name=self._run_name,
                                    tags=self._tags)
            self.run_id = run.info.run_id
        self._pending_open = False
        self._start_system_metrics()

    def _store_write(self) -> contextlib.AbstractContextManager:
        """A local SQL store's write is not cut by a stop signal (:func:`store_write`); a server's
        request may be (the server keeps its transaction; a stop should not wait for a timeout)."""
        return contextlib.nullcontext() if is_server_uri(self.uri) else store_write()

    def _try_open(self) -> None:
        self._pending_open = True
        try:
            with self._store_write():
                self._open()
        except Exception as exc:  # noqa: BLE001
            self._failed("open run", exc)

    def _start_system_metrics(self) -> None:
        """mlflow's monitor, bound to this store (its ``tracking_uri``): system/* metrics every
        ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` s (10 by default). Needs psutil."""
        if not self._system_metrics or (self._monitor is not None and self._monitor._process is not None
                                        and self._monitor._process.is_alive()):
            return
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self._monitor = SystemMetricsMonitor(self.run_id, tracking_uri=self.uri,
                                                 resume_logging=self._resume or self._monitor is not None)
            self._monitor.start()
        except Exception as exc:  # noqa: BLE001 - psutil missing, ...: metrics off, run goes on
            log.warning("system metrics off: %s", exc)
            self._system_metrics = False

    def _failed(self, what: str, exc: BaseException) -> None:
        self._failures += 1
        delay = min(self.backoff_s * 2 ** (self._failures - 1), self.max_backoff_s)
        self._next_try = time.monotonic() + delay
        if not self._warned_offline:
            warnings.warn(f"MLflow store {self.uri} not answering ({what}: {exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); queuing and retrying with backoff, "
                          "training continues", stacklevel=4)
            self._warned_offline = True

    def _flush(self, force: bool = False) -> bool:
        """Send what is queued (after the backoff delay unless ``force``); True when all is sent."""
        if self._client is None:
            return True
        if self._failures and not force and time.monotonic() < self._next_try:
            return False
        if self._pending_open:
            try:
                with self._store_write():
                    self._open()
            except Exception as exc:  # noqa: BLE001
                self._failed("open run", exc)
                return False
        while self._queue:
            what, fn = self._queue[0]
            try:
                with self._store_write():
                    fn(self.run_id)
                    self._queue.popleft()
            except Exception as exc:  # noqa: BLE001
                self._failed(what, exc)
                return False
            if self._failures:
                self._sent_after_outage += 1
        if self._failures:
            log.warning("MLflow store %s answers again: sent %d queued calls", self.uri, self._sent_after_outage)
            self._failures, self._sent_after_outage, self._warned_offline = 0, 0, False
            self._start_system_metrics()
        return True

    def _submit(self, what: str, fn: Callable[[str], Any]) -> None:
        """Queue ``fn(run_id)`` and send the queue now unless the store is in its backoff delay."""
        if self._client is None or self._closed:
            return
        if len(self._queue) == self._queue.maxlen and not self._warned_dropped:
            warnings.warn(f"MLflow queue full ({self._queue.maxlen} calls): dropping the oldest", stacklevel=3)
            self._warned_dropped = True
        self._queue.append((what, fn))
        self._flush()

    def _call(self, fn: str, *args: Any, **kwargs: Any) -> None:
        self._submit(fn, lambda run_id: getattr(self._client, fn)(run_id, *args, **kwargs))

    # -- logging -----------------------------------------------------------------------------

    def log_params(self, params: Params | dict[str, Any]) -> None:
        """Flattened (``a.b.c``) params; values as strings, ``None`` as ``null``."""
        from mlflow.entities import Param

        flat = flatten(params)
        items = [Param(k, ("null" if v is None else str(v))[:6000]) for k, v in sorted(flat.items())]
        for i in range(0, len(items), 100):
            self._call("log_batch", params=items[i : i + 100])

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._tags.update({k: str(v) for k, v in tags.items() if v is not None})
        self._call("log_batch", tags=_tags(tags))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Finite values only; timestamp = now (kept when the call is queued)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        clean = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for i in range(0, len(clean), 500):
            self._call("log_batch", metrics=clean[i : i + 500])

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        self._call("log_artifact", str(path), artifact_path=artifact_path)

    def log_dict(self, data: dict, name: str) -> None:
        self._call("log_dict", copy.deepcopy(data), name)

    def log_dataset(self, name: str, digest: str, source: str | Path, *, context: str = "train",
                    profile: dict[str, Any] | None = None) -> None:
        """An MLflow dataset input: ``name``, ``digest`` (its first :data:`DATASET_DIGEST_CHARS`
        chars; the full one in the profile), source path (``{"uri": ...}``, source type local)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        prof = {"digest": digest, **(profile or {})}
        entity = Dataset(name=name, digest=digest[:DATASET_DIGEST_CHARS], source_type="local",
                         source=json.dumps({"uri": str(Path(source).resolve())}), profile=json.dumps(prof))
        inp = DatasetInput(entity, tags=[InputTag("mlflow.data.context", context)])

        def send(run_id: str) -> None:
            try:
                self._client.log_inputs(run_id, datasets=[inp])
            except Exception as exc:
                # Runs started together (`vi2clr seeds`) insert the same new data set at once and
                # all but one fail on its unique key; the row now exists, so once more links it.
                if "UNIQUE constraint failed: datasets" not in str(exc):
                    raise
                self._client.log_inputs(run_id, datasets=[inp])

        self._submit("log_inputs", send)

    def log_index(self, index: Any, *, context: str = "train") -> None:
        """:meth:`log_dataset` of a ``vi2clr.data.index.Index`` (name, ``digest()``, root, counts);
        also tags ``data_digest`` when the run has none yet (the first data set logged), and for an
        evaluation's data ``data_files_digest`` (:func:`files_digest`: the index's digest names the
        files, not their bytes; the tables compare both before they compare runs of two pipelines)."""
        digest = index.digest()
        self.log_dataset(index.name, digest, index.root, context=context,
                         profile={"num_samples": len(index.samples), "num_classes": len(index.classes)})
        if "data_digest" not in self._tags:
            tags = {"data_digest": digest}
            if context == "eval":
                tags[FILES_DIGEST_TAG] = files_digest(index)
            self.set_tags(tags)

    def link_pretraining(self, pretrain_run_id: str | None, *, name: str | None = None) -> None:
        """Link this (evaluation) run and its pretraining run both ways: here ``pretrain_run_id``
        and ``mlflow.parentRunId`` (the UI nests it under the pretraining run, same experiment
        only); there ``vi2clr.eval_run.<this run id>`` = this run's name. No-op for random init."""
        if not pretrain_run_id or pretrain_run_id in ("random-init", "unknown"):
            return
        self.set_tags({"pretrain_run_id": pretrain_run_id})
        label = name or self._run_name or "eval"

        def link(run_id: str) -> None:
            from mlflow.exceptions import MlflowException

            try:
                parent = self._client.get_run(pretrain_run_id)
            except MlflowException:  # not in this store (e.g. encoders from elsewhere): one-way link
                return
            if parent.info.experiment_id == self.experiment_id:
                self._client.set_tag(run_id, "mlflow.parentRunId", pretrain_run_id)
            self._client.set_tag(pretrain_run_id, f"{EVAL_RUN_TAG_PREFIX}{run_id}", label)

        self._submit("link runs", link)

    def log_encoder_models(self, video_encoder: Any, image_encoder: Any, *, num_frames: int, video_size: int,
                           image_size: int, register: bool = True,
                           version_tags: dict[str, str] | None = None) -> None:
        """Both encoders as MLflow models (``mlflow.pytorch.log_model``), registered as
        :data:`VIDEO_MODEL_NAME` / :data:`IMAGE_MODEL_NAME` unless ``register`` is False.

        Saved as ``pt2`` (``torch.export``; no pickle, so ``mlflow.pytorch.load_model`` needs no
        ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``), with a TensorSpec signature: video
        ``(B, 3, num_frames, video_size, video_size) -> (B, D)``, image ``(B, 3, S, S) -> (B, D)``.
        The input example has batch 2: torch.export fixes a size-1 dimension, so a batch of 1
        would make the loaded model accept batch 1 only. A model ``torch.export`` cannot trace is
        saved as a pickle instead (loading it then needs that variable).
        """
        import torch

        shapes = {"video": (2, 3, num_frames, video_size, video_size), "image": (2, 3, image_size, image_size)}
        for kind, enc, reg in (("video", video_encoder, VIDEO_MODEL_NAME), ("image", image_encoder, IMAGE_MODEL_NAME)):
            model = copy.deepcopy(enc).cpu().eval()  # a snapshot: training may go on, the call may be queued
            gen = torch.Generator().manual_seed(0)
            example = torch.rand(shapes[kind], generator=gen)
            self._submit(f"log {kind} model", lambda run_id, m=model, x=example, n=f"{kind}_encoder", r=reg:
                         self._log_model(run_id, m, x, n, r if register else None, version_tags or {}))

    def _log_model(self, run_id: str, model: Any, example: Any, name: str, registered: str | None,
                   version_tags: dict[str, str]) -> None:
        import mlflow
        import torch
        from mlflow.models import infer_signature

        with torch.no_grad():
            out = model(example)
        signature = infer_signature(example.numpy(), out.numpy())
        pins = [f"torch=={torch.__version__.split('+')[0]}"]
        client = self._client
        logged = client.create_logged_model(self.experiment_id, name=name, source_run_id=run_id,
                                            tags={"vi2clr.kind": name})
        kwargs = dict(name=name, signature=signature, input_example=example.numpy(), run_id=run_id,
                      model_id=logged.model_id, pip_requirements=pins)
        with _global_tracking_uri(self.uri):
            try:
                info = mlflow.pytorch.log_model(model, serialization_format="pt2", **kwargs)
            except Exception as exc:  # noqa: BLE001 - an op torch.export cannot trace
                if "export" not in f"{exc.__class__.__module__} {exc}".lower():
                    raise
                warnings.warn(f"{name}: torch.export failed ({exc.__class__.__name__}); logged as a pickle",
                              stacklevel=2)
                logged = client.create_logged_model(self.experiment_id, name=name, source_run_id=run_id)
                kwargs["model_id"] = logged.model_id
                info = mlflow.pytorch.log_model(model, serialization_format="pickle", **kwargs)
            if registered:
                # Inside the binding too: the SQL registry resolves a ``models:/m-…`` source through
                # a default ``MlflowClient()``, i.e. the process-global URI, not this client's.
                self._register(registered, info.model_uri, run_id, logged.model_id, version_tags)

    def _register(self, registered: str, source: str, run_id: str, model_id: str,
                  version_tags: dict[str, str]) -> None:
        from mlflow.exceptions import MlflowException

        client = self._client
        try:
            client.create_registered_model(registered, description="vi2clr encoder exported by pretraining")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        client.create_model_version(registered, source=source, run_id=run_id, model_id=model_id,
                                    tags={"pretrain_run_id": run_id, **version_tags})

    # -- lifecycle ---------------------------------------------------------------------------

    def end(self, status: str = "FINISHED") -> None:
        """Close the run with ``status``; waits at most ``flush_timeout_s`` for queued calls."""
        if self._client is None or self._closed:
            return
        if self._monitor is not None:
            with contextlib.suppress(Exception):
                self._monitor.finish()
        end_ms = int(time.time() * 1000)
        self._queue.append(("set_terminated", lambda run_id: self._client.set_terminated(
            run_id, status=status, end_time=end_ms)))
        self._closed = True
        deadline = time.monotonic() + self.flush_timeout_s
        while not self._flush(force=True):
            wait = min(self._next_try, deadline) - time.monotonic()
            if time.monotonic() >= deadline:
                warnings.warn(f"MLflow store {self.uri} still not answering after {self.flush_timeout_s:.0f}s: "
                              f"{len(self._queue)} calls not sent (run {self.run_id or 'never created'})",
                              stacklevel=2)
                break
            time.sleep(max(0.0, wait))
        self._client = None

    def __enter__(self) -> Tracker:
        self._enter_cm = contextlib.ExitStack()
        self._enter_cm.enter_context(terminate_raises())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.end(run_status(exc_type, exc))
        finally:
            if getattr(self, "_enter_cm", None) is not None:
                self._enter_cm.close()


def _tags(tags: dict[str, Any]) -> list:
    from mlflow.entities import RunTag

    return [RunTag(k, str(v)) for k, v in tags.items() if v is not None]


def search_runs(uri: str, experiment: str, filter_string: str = "") -> Iterator[Any]:
    """All runs of ``experiment`` (MLflow ``Run`` objects), newest first."""
    client = mlflow_client(uri)
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
