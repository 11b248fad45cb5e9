"""``vi2clr ui``: the MLflow UI on the project's store, and the compare-runs URL of a table's runs."""

from __future__ import annotations

import json
import os
import sys
import urllib.parse

from vi2clr.config import Params
from vi2clr.errors import UserError
from vi2clr.tables import CELLS_TAG
from vi2clr.tracking import is_server_uri, search_runs, tracking_uri


class StoreUnavailable(UserError):
    """The tracking store did not answer."""


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    """MLflow's compare-runs page for ``run_ids`` (a hash route of the UI)."""
    runs = urllib.parse.quote(json.dumps(run_ids, separators=(",", ":")))
    exps = urllib.parse.quote(json.dumps([experiment_id], separators=(",", ":")))
    return f"{base.rstrip('/')}/#/compare-runs?runs={runs}&experiments={exps}"


def table_runs(p: Params, table: str) -> tuple[str | None, list[str]]:
    """(experiment id, newest finished run of each cell-set) for the evaluation runs of ``table``."""
    key = table if table.startswith("table") else f"table{table}"
    chosen: dict[str, str] = {}
    exp_id = None
    for run in search_runs(tracking_uri(p), p.tracking.experiment):
        cells = run.data.tags.get(CELLS_TAG)
        if not cells or run.info.status != "FINISHED":
            continue
        exp_id = run.info.experiment_id
        for t, row, _col, _metric in json.loads(cells):
            if t == key:
                chosen.setdefault(f"{row}|{run.data.tags.get('vi2clr.protocol', '')}", run.info.run_id)
    return exp_id, sorted(set(chosen.values()))


def serve(p: Params, *, table: str | None, host: str, port: int) -> None:
    """A local store: start ``mlflow ui`` on it. A tracking server (http URI): it already serves
    the UI, so print its URL (and the compare link) and start nothing."""
    uri = tracking_uri(p)
    server = is_server_uri(uri)
    base = uri.rstrip("/") if server else f"http://{host}:{port}"
    print(f"MLflow UI {'of the tracking server' if server else f'for {uri}'} at {base}")
    if table:
        try:
            exp_id, ids = table_runs(p, table)
        except Exception as exc:  # noqa: BLE001 - mlflow raises many kinds for a store that is down
            raise StoreUnavailable(f"tracking store {uri} did not answer ({exc.__class__.__name__}); "
                                   "is the server running?") from None
        if ids:
            print(f"compare the runs of table {table}: {compare_url(base, exp_id, ids)}")
        else:
            print(f"no finished evaluation runs for table {table} yet")
    if server:
        return
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    # A local viewer needs no MLflow job workers (GenAI jobs: one process per worker, ~170 MB each);
    # a user who wants them sets the variable.
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: Ctrl-C / SIGTERM then reach the server itself, which stops its workers.
    # (As a child it was orphaned with all its workers when `vi2clr ui` was terminated.)
    os.execv(sys.executable, cmd)
