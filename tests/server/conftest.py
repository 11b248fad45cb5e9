"""Real tracking servers for the tests in this folder: ``mlflow server`` processes backed by SQLite
and by a throw-away PostgreSQL cluster, each with proxied artifact storage (``--serve-artifacts``).

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` system user
(created by Debian's ``postgresql`` package). Tests skip with the reason when binaries are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import free_port

# mlflow's telemetry thread edits os.environ while requests iterates it (a KeyError race seen here);
# disabling it before mlflow is first imported also keeps test runs off the network.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server not healthy after {timeout:.0f}s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and its workers (it leads its own process group, see start_new_session)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Server:
    """A running ``mlflow server``: artifacts proxied to ``artifacts`` (a local folder)."""

    def __init__(self, backend: str, backend_uri: str, workdir: Path, port: int | None = None):
        self.backend, self.workdir = backend, workdir
        self.artifacts = workdir / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "mlflow-server.log"
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        cmd = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", backend_uri,
               "--artifacts-destination", self.artifacts.as_uri(), "--serve-artifacts",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--allowed-hosts", f"127.0.0.1,127.0.0.1:{port},localhost,localhost:{port}"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, **QUIET_ENV}, start_new_session=True)

    def wait_healthy(self) -> None:
        try:
            _wait_healthy(self.url, self.proc, self.log)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        _stop(self.proc)

    def __repr__(self) -> str:
        return f"Server({self.backend}, {self.url})"


# ----------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path | None:
    """Directory holding initdb/pg_ctl: newest /usr/lib/postgresql/*/bin (Debian), else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("initdb")
    return Path(exe).parent if exe else None


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    if user is None:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *cmd]
    return ["su", user, "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]


class PostgresCluster:
    """A private PostgreSQL cluster on a free loopback port, socket in its own directory."""

    def __init__(self, bindir: Path, root: Path, user: str | None):
        self.bindir, self.root, self.user = bindir, root, user
        self.data, self.sockets, self.log = root / "data", root / "sockets", root / "postgres.log"
        self.port = free_port()
        self.role = "vi2clr"

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        cmd = _as_user(self.user, [str(self.bindir / args[0]), *args[1:]])
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if res.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({res.returncode}): {res.stderr or res.stdout}\n{_tail(self.log)}")
        return res

    def start(self) -> None:
        self.sockets.mkdir()
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            for path in (self.root, self.sockets):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self.run("initdb", "-D", str(self.data), "-U", self.role, "--auth=trust", "--encoding=UTF8",
                 "--no-sync", "--no-instructions")
        opts = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")

    def createdb(self, name: str) -> str:
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.role, name)
        return f"postgresql+psycopg2://{self.role}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


def postgres_unavailable() -> str | None:
    """Why a PostgreSQL cluster cannot be started here, or None."""
    if postgres_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 missing: pip install psycopg2-binary"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no 'postgres' system user to run PostgreSQL as"
    return None


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def mlflow_servers(tmp_path_factory) -> Iterator[dict[str, Server | str]]:
    """Both servers, launched concurrently (each takes tens of seconds to start on 2 cores).

    Maps backend -> Server, or -> the reason it is unavailable (its tests skip), or -> the error
    that stopped it (its tests fail).
    """
    servers: dict[str, Server | str] = {}
    cluster: PostgresCluster | None = None
    pg_root: Path | None = None
    try:
        sqlite_dir = tmp_path_factory.mktemp("mlflow-sqlite")
        servers["sqlite"] = Server("sqlite", f"sqlite:///{sqlite_dir / 'mlflow.db'}", sqlite_dir)
        reason = postgres_unavailable()
        if reason is None:
            # Not under pytest's tmp dir: its root-owned 0700 parent would lock the postgres user out.
            pg_root = Path(tempfile.mkdtemp(prefix="vi2clr-pg-"))
            # PostgreSQL refuses to run as root: run it as the postgres system user then.
            cluster = PostgresCluster(postgres_bindir(), pg_root, "postgres" if os.geteuid() == 0 else None)
            try:
                cluster.start()
                pg_dir = tmp_path_factory.mktemp("mlflow-postgres")
                servers["postgresql"] = Server("postgresql", cluster.createdb("mlflow"), pg_dir)
            except Exception as exc:  # noqa: BLE001 - fails the PostgreSQL tests only
                servers["postgresql"] = exc
        else:
            servers["postgresql"] = reason
        for name, server in list(servers.items()):
            if isinstance(server, Server):
                try:
                    server.wait_healthy()
                except Exception as exc:  # noqa: BLE001
                    servers[name] = exc
        yield servers
    finally:
        for server in servers.values():
            if isinstance(server, Server):
                server.stop()
        if cluster is not None:
            cluster.stop()
        if pg_root is not None:
            shutil.rmtree(pg_root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking_server(request, mlflow_servers) -> Server:
    """Each test using this runs once per backend store, against a real ``mlflow server``."""
    server = mlflow_servers[request.param]
    if isinstance(server, str):
        pytest.skip(server)
    if isinstance(server, Exception):
        pytest.fail(f"{request.param}-backed mlflow server did not start: {server}")
    return server


@pytest.fixture
def start_server() -> Iterator:
    """``start_server(backend_uri, workdir, port=None) -> Server`` (healthy); all stopped at teardown.
    For tests that stop and restart a server on one port."""
    started: list[Server] = []

    def start(backend_uri: str, workdir: Path, port: int | None = None) -> Server:
        server = Server("sqlite", backend_uri, workdir, port=port)
        started.append(server)
        server.wait_healthy()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def unused_port() -> int:
    return free_port()
