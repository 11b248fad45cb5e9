"""A tracking server that is down must not stop training, nor lose what it logs: the tracker
warns once per outage, queues, retries with backoff and catches up when the server answers.
Real `mlflow server` processes on one port: down at the start, up, stopped mid-run, restarted."""

from __future__ import annotations

import time
import warnings

import pytest

from vi2clr.config import Params
from vi2clr.tracking import Tracker


@pytest.mark.slow  # two server starts: ~2 min on 2 shared cores; the small version is the next test
def test_tracker_queues_through_outages_and_catches_up(monkeypatch, tmp_path, start_server, unused_port):
    from mlflow.tracking import MlflowClient

    port = unused_port  # nothing listens yet
    url = f"http://127.0.0.1:{port}"
    backend = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    (tmp_path / "enc.pt").write_bytes(b"x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Tracker(params=Params(), run_name="outage", tags={"table": "2"}, system_metrics=False,
                     backoff_s=0.2, max_backoff_s=1.0, flush_timeout_s=60) as tracker:
            assert not tracker.opened  # the run's creation itself waits in the queue
            tracker.log_params({"pretrain": {"epochs": 3}})
            tracker.log_metrics({"epoch/loss_total": 3.0}, step=1)
            tracker.log_artifact(tmp_path / "enc.pt", "encoders")
            assert tracker.pending == 3
            first = start_server(backend, tmp_path / "server", port=port)
            time.sleep(1.1)  # past the longest backoff delay
            tracker.log_metrics({"epoch/loss_total": 2.0}, step=2)
            assert tracker.opened and tracker.pending == 0
            first.stop()  # down mid-run
            tracker.log_metrics({"epoch/loss_total": 1.5}, step=3)
            tracker.set_tags({"pretrain_run_id": "abc"})
            assert tracker.pending == 2
            start_server(backend, tmp_path / "server", port=port)
            time.sleep(1.1)
            tracker.log_metrics({"epoch/loss_total": 1.0}, step=4)
            assert tracker.pending == 0
    ours = [str(w.message) for w in caught if "not answering" in str(w.message)]
    assert len(ours) == 2, ours  # one per outage
    assert url in ours[0] and "training continues" in ours[0]
    client = MlflowClient(url)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["pretrain.epochs"] == "3" and run.data.tags["pretrain_run_id"] == "abc"
    history = client.get_metric_history(tracker.run_id, "epoch/loss_total")
    assert [(m.step, m.value) for m in history] == [(1, 3.0), (2, 2.0), (3, 1.5), (4, 1.0)]
    assert [f.path for f in client.list_artifacts(tracker.run_id, "encoders")] == ["encoders/enc.pt"]


def test_store_that_never_answers_gives_up_after_the_timeout(monkeypatch, unused_port):
    url = f"http://127.0.0.1:{unused_port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.monotonic()
        with Tracker(params=Params(), system_metrics=False, backoff_s=0.1, max_backoff_s=0.2,
                     flush_timeout_s=1.0) as tracker:
            tracker.log_metrics({"epoch/loss_total": 1.0}, step=1)
        took = time.monotonic() - t0
    msgs = [str(w.message) for w in caught]
    assert any("not answering" in m for m in msgs)
    assert any("calls not sent" in m and "never created" in m for m in msgs), msgs
    assert took < 30 and tracker.run_id is None
