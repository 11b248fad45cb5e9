"""`vi2clr ui` with MLFLOW_TRACKING_URI at a tracking server: the server already serves the UI, so
the command prints its URL and starts no local `mlflow ui` (the real-server compare link is tested
in tests/server/test_tracking_server.py)."""

from __future__ import annotations

from _support import free_port


def test_ui_prints_server_url_and_starts_nothing(tmp_path, monkeypatch):
    import vi2clr.commands.ui as ui
    from vi2clr.config import Params

    uri = f"http://127.0.0.1:{free_port()}/"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    started = []
    monkeypatch.setattr(ui.os, "execv", lambda *a, **k: started.append(a))
    lines = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    ui.serve(Params(), table=None, host="127.0.0.1", port=5000)
    assert started == []
    assert lines == [f"MLflow UI of the tracking server at {uri.rstrip('/')}"]


def test_ui_table_against_a_server_that_is_down_is_a_user_error(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from vi2clr.cli import app

    (tmp_path / "params.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from vi2clr.commands.ui import StoreUnavailable
    from vi2clr.errors import UserError

    assert issubclass(StoreUnavailable, UserError)
    res = CliRunner().invoke(app, ["ui", "--table", "2"])
    # a UserError: the CLI's one handler prints its one line and exits with its code (vi2clr.errors)
    errors = [line for line in res.output.splitlines() if line.startswith("error: ")]
    assert res.exit_code == StoreUnavailable.exit_code, res.output
    assert len(errors) == 1 and "did not answer" in errors[0], res.output
    assert "Traceback" not in res.output
