"""The tracker against a local SQLite store: run lifecycle and status, tags, the params that
define a run, dataset inputs, links between runs, system metrics and registered encoder models."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest
import torch

from vi2clr import tracking
from vi2clr.config import Params
from vi2clr.data.index import Index, Sample
from vi2clr.models.encoders import build_encoder
from vi2clr.tracking import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    IMAGE_MODEL_NAME,
    PIPELINE_TAG,
    VIDEO_MODEL_NAME,
    Tracker,
    eval_params,
    pretrain_params,
)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An SQLite store with mlflow's tables (creating them takes seconds: done once, then copied)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    from mlflow.tracking import MlflowClient

    return uri, MlflowClient(uri)


def test_run_opens_before_work_and_closes_with_its_status(store, monkeypatch):
    uri, client = store
    monkeypatch.setenv("VI2CLR_PIPELINE_RUN", "pipe-7")
    with Tracker(params=Params(), run_name="ok", system_metrics=False) as ok:
        # opened at construction: visible as RUNNING while the work goes on
        assert client.get_run(ok.run_id).info.status == "RUNNING"
    with pytest.raises(ValueError):
        with Tracker(params=Params(), run_name="bad", system_metrics=False) as bad:
            raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt):
        with Tracker(params=Params(), run_name="ctrl-c", system_metrics=False) as ctrl_c:
            raise KeyboardInterrupt
    with pytest.raises(SystemExit) as exited:
        with Tracker(params=Params(), run_name="sigterm", system_metrics=False) as term:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert exited.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    got = {t.run_id: client.get_run(t.run_id) for t in (ok, bad, ctrl_c, term)}
    assert [got[t.run_id].info.status for t in (ok, bad, ctrl_c, term)] == ["FINISHED", "FAILED", "KILLED", "KILLED"]
    tags = got[ok.run_id].data.tags
    assert tags["mlflow.user"] not in ("", "unknown") and got[ok.run_id].info.user_id == tags["mlflow.user"]
    assert tags[PIPELINE_TAG] == "pipe-7"
    exp = client.get_experiment(got[ok.run_id].info.experiment_id)
    assert exp.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler in place for the test. The Tracker takes over SIGINT only from it
    (it leaves a caller's handler alone), and a shell's background job (`cmd &`, as under `nohup`)
    starts with SIGINT ignored, so without this the SIGINT case would depend on how pytest was run."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_waits_for_the_store_write_under_way(store, signum, python_ctrl_c):
    """SIGTERM or Ctrl-C arriving in the middle of a store call: the call ends (once, not cut and
    retried), then the stop is raised and the run closes KILLED."""
    uri, client = store
    calls: list[str] = []
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises((SystemExit, KeyboardInterrupt)) as stopped:
        with Tracker(params=Params(), run_name="mid-write", system_metrics=False) as t:
            real = t._client.log_batch

            def log_batch(run_id, **kw):
                calls.append("start")
                os.kill(os.getpid(), signum)
                time.sleep(0.2)  # a handler that raises would do so here, halfway through the write
                real(run_id, **kw)
                calls.append("done")

            t._client.log_batch = log_batch
            t.log_metrics({"m": 1.0}, step=1)
            time.sleep(5)  # not reached: the stop is raised as the write ends
    assert calls == ["start", "done"]
    assert stopped.type is (KeyboardInterrupt if signum == signal.SIGINT else tracking.RunTerminated)
    run = client.get_run(t.run_id)
    assert run.info.status == "KILLED" and run.data.metrics == {"m": 1.0}
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


_LOGGING_CHILD = """
import sys, time
from vi2clr.tracking import Tracker
with Tracker(run_name=sys.argv[1], system_metrics=False) as t:
    print(t.run_id, flush=True)
    step = 0
    while True:
        step += 1
        t.log_metrics({f"m{i}": float(step) for i in range(40)}, step=step)
"""


def test_runs_of_one_sqlite_store_stopped_mid_write_all_close_killed(store, tmp_path):
    """Two processes logging to one SQLite store as fast as they can, SIGTERM at chosen moments: each
    run closes KILLED, promptly. (Before store writes deferred the signal, most runs stayed RUNNING:
    the write cut halfway kept SQLite's lock, and the closing write waited on it.)"""
    import subprocess
    import sys

    uri, client = store
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}
    for delay in (0.3, 0.7, 1.1):
        procs = [subprocess.Popen([sys.executable, "-c", _LOGGING_CHILD, f"p{i}"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
        run_ids = [p.stdout.readline().strip() for p in procs]
        time.sleep(delay)
        t0 = time.monotonic()
        for p in procs:
            p.terminate()
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [128 + signal.SIGTERM] * 2, errors
        assert time.monotonic() - t0 < 15, errors  # a lock wait would take the 20 s busy timeout
        assert [client.get_run(r).info.status for r in run_ids] == ["KILLED", "KILLED"], errors


def test_experiment_kind_is_a_value_of_the_installed_ui():
    """The constant is the one MLflow's UI bundle switches on (no Python enum exists for it)."""
    import glob

    import mlflow

    bundles = glob.glob(os.path.join(os.path.dirname(mlflow.__file__), "server/js/build/static/js/*.js"))
    if not bundles:
        pytest.skip("mlflow installed without its UI (mlflow-skinny)")
    text = "".join(open(b, encoding="utf-8", errors="replace").read() for b in bundles)
    assert f'CUSTOM_MODEL_DEVELOPMENT="{EXPERIMENT_KIND}"' in text
    assert f'"{EXPERIMENT_KIND_TAG}"' in text


def test_existing_kind_is_kept(store):
    uri, client = store
    exp_id = client.create_experiment("vi2clr", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    with Tracker(params=Params(), system_metrics=False):
        pass
    assert client.get_experiment(exp_id).tags[EXPERIMENT_KIND_TAG] == "genai_development"


def test_commit_from_build_arg_without_git(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a repository
    monkeypatch.setenv("VI2CLR_GIT_COMMIT", "abc123")
    monkeypatch.delenv("VI2CLR_PIPELINE_RUN", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    tags = tracking.standard_tags(data_digest="d")
    assert tags["git_commit"] == "abc123" and tags["mlflow.source.git.commit"] == "abc123"
    assert tags[PIPELINE_TAG].startswith("state-")
    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert tracking.pipeline_run() != tags[PIPELINE_TAG]  # other params: another pipeline state


def test_defining_params():
    p = Params()
    flat = tracking.flatten(pretrain_params(p))
    assert "pretrain.optim.lr" in flat and "model.video_encoder.name" in flat and "data.kinetics400.root" in flat
    assert "compute.threads" in flat and "compute.seed_jobs" not in flat  # threads change the weights; jobs do not
    for gone in ("pretrain.out_dir", "pretrain.log_every", "pretrain.progress", "pretrain.keep_epochs",
                 "data.num_workers", "eval.size", "tracking.experiment", "data.synth.size"):
        assert gone not in flat, gone
    assert len(flat) < len(tracking.flatten(p)) / 2
    ev = tracking.flatten(eval_params(p, "retrieval"))
    assert set(ev) == {"eval.video_size", "eval.num_frames", "eval.batch_size", "eval.retrieval.ks",
                       "eval.retrieval.window_stride", "eval.seed", "compute.threads"}
    assert "eval.linear.lr" in tracking.flatten(eval_params(p, "image-linear"))


def _index(tmp_path) -> Index:
    return Index(name="ucf101-split1", root=tmp_path, classes=["a", "b"],
                 samples=[Sample(path="a/1.avi", label=0, label_name="a", split="train"),
                          Sample(path="b/2.avi", label=1, label_name="b", split="test")])


def test_dataset_input_and_links_both_ways(store, tmp_path):
    uri, client = store
    index = _index(tmp_path)
    with Tracker(params=Params(), run_name="pretrain:full", system_metrics=False) as pre:
        pre.log_index(index)
    with Tracker(params=Params(), run_name="eval:x:retrieval:ucf101", system_metrics=False) as ev:
        ev.log_index(index, context="eval")
        ev.link_pretraining(pre.run_id)
    run = client.get_run(ev.run_id)
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "ucf101-split1" and inp.dataset.digest == index.digest()[:32]
    assert str(tmp_path) in inp.dataset.source and {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "eval"
    assert run.data.tags["data_digest"] == index.digest()
    assert run.data.tags[tracking.FILES_DIGEST_TAG] == tracking.files_digest(index)
    assert tracking.FILES_DIGEST_TAG not in client.get_run(pre.run_id).data.tags  # a pretraining stats no files
    assert run.data.tags["pretrain_run_id"] == pre.run_id and run.data.tags["mlflow.parentRunId"] == pre.run_id
    assert client.get_run(pre.run_id).data.tags[f"vi2clr.eval_run.{ev.run_id}"] == "eval:x:retrieval:ucf101"


def test_the_files_digest_sees_other_bytes_under_the_same_names(tmp_path):
    """Another draw of the data keeps every name and label (the index digest) but not the files' sizes."""
    index = _index(tmp_path)
    missing = tracking.files_digest(index)
    for sample, size in zip(index.samples, (100, 200), strict=True):
        index.resolve(sample).parent.mkdir(parents=True, exist_ok=True)
        index.resolve(sample).write_bytes(b"x" * size)
    first = tracking.files_digest(index)
    assert first != missing and first == tracking.files_digest(index)
    index.resolve(index.samples[1]).write_bytes(b"y" * 201)  # the same name, other bytes
    assert tracking.files_digest(index) != first and index.digest() == _index(tmp_path).digest()
    index.resolve(index.samples[1]).write_bytes(b"y" * 200)
    assert tracking.files_digest(index) == first  # a size, not the bytes: the same size passes
    assert tracking.files_digest(index, most=1) != first  # at most `most` files are read


def test_a_data_set_inserted_meanwhile_by_another_run_is_linked_at_once(store, tmp_path, recwarn):
    """Seeds started together insert one new data set at once: all but one lose the race on its unique
    key (the error below is what SQLite raised in the pipeline). That is no outage: linked at once."""
    uri, client = store
    with Tracker(params=Params(), run_name="pretrain:full", system_metrics=False) as tr:
        real, calls = tr._client.log_inputs, []

        def lose_the_race_once(run_id, datasets=None):
            calls.append(run_id)
            if len(calls) == 1:
                raise RuntimeError("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
                                   "datasets.name, datasets.digest")
            return real(run_id, datasets=datasets)

        tr._client.log_inputs = lose_the_race_once
        tr.log_index(_index(tmp_path))
        assert tr.pending == 0 and len(calls) == 2
    assert not [w for w in recwarn if "not answering" in str(w.message)]
    assert client.get_run(tr.run_id).inputs.dataset_inputs[0].dataset.name == "ucf101-split1"


def test_system_metrics_reach_the_client_bound_store(store, monkeypatch, empty_store):
    uri, client = store
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    import mlflow

    params = Params(tracking={"uri": uri})
    other = uri.replace("mlflow.db", "other.db")
    shutil.copy(empty_store, other.removeprefix("sqlite:///"))
    mlflow.set_tracking_uri(other)  # the global URI (mlflow 3 also exports it) must not be used
    try:
        with Tracker(params=params, run_name="sys") as tr:
            time.sleep(1.5)
    finally:
        mlflow.set_tracking_uri(None)
    assert tr.uri == uri
    metrics = client.get_run(tr.run_id).data.metrics
    assert any(k.startswith("system/cpu_utilization_percentage") for k in metrics), sorted(metrics)


def test_encoders_logged_registered_and_loadable(store, empty_store):
    """Logged, registered and loadable, with the process-global URI pointing at another store
    (as in a process that ran other tracking code first): only the tracker's own store is used."""
    uri, client = store
    import mlflow

    other = uri.replace("mlflow.db", "other.db")
    shutil.copy(empty_store, other.removeprefix("sqlite:///"))
    video, image = build_encoder("tiny3d").eval(), build_encoder("tiny2d").eval()
    mlflow.set_tracking_uri(other)
    try:
        with Tracker(params=Params(tracking={"uri": uri}), run_name="pretrain", system_metrics=False) as tr:
            tr.log_encoder_models(video, image, num_frames=4, video_size=16, image_size=16,
                                  version_tags={"epoch": "1"})
        assert not tr._warned_offline, "a call failed and was queued"
    finally:
        mlflow.set_tracking_uri(None)
    assert tr.pending == 0
    with tracking._global_tracking_uri(uri):
        loaded = {name: mlflow.pytorch.load_model(f"models:/{name}/1") for name in (VIDEO_MODEL_NAME, IMAGE_MODEL_NAME)}
    torch.manual_seed(1)
    xv, xi = torch.randn(3, 3, 4, 16, 16), torch.randn(5, 3, 16, 16)  # other batch sizes than the example
    with torch.no_grad():
        torch.testing.assert_close(loaded[VIDEO_MODEL_NAME](xv), video(xv))
        torch.testing.assert_close(loaded[IMAGE_MODEL_NAME](xi), image(xi))
    mv = client.get_model_version(VIDEO_MODEL_NAME, "1")
    assert mv.run_id == tr.run_id and mv.tags["epoch"] == "1"
    run = client.get_run(tr.run_id)
    assert len(run.outputs.model_outputs) == 2
    model = client.get_logged_model(run.outputs.model_outputs[0].model_id)
    mlmodel = mlflow.models.get_model_info(f"models:/{model.model_id}")
    assert mlmodel.signature is not None and mlmodel.saved_input_example_info is not None
