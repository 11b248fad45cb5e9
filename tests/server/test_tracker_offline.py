"""A tracking server that is down must not stop training: the tracker warns once and goes quiet."""

from __future__ import annotations

import socket
import warnings

from vi2clr.config import Params
from vi2clr.tracking import Tracker


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_unreachable_server_disables_tracker_with_one_warning(monkeypatch, tmp_path):
    uri = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "enc.pt").write_bytes(b"x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Tracker(params=Params(), run_name="offline", tags={"table": "2"}) as tracker:
            tracker.log_params(Params())
            tracker.set_tags({"pretrain_run_id": "abc"})
            tracker.log_metrics({"epoch/loss_total": 1.0}, step=1)
            tracker.log_artifact(tmp_path / "enc.pt", "encoders")
            tracker.log_dict({"a": 1}, "x.json")
    ours = [w for w in caught if "MLflow tracking off" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert uri in str(ours[0].message) and "training continues" in str(ours[0].message)
    assert tracker.uri == uri
    assert tracker.enabled is False and tracker.run_id is None
