"""docker/: the compose stack validates with the compose CLI, and the properties that matter are
checked by parsing the files (no Docker engine needed: images are not built in CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / "env.example"
VAR = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_cli() -> tuple[list[str], str] | None:
    """The compose command: the v2 plugin (`docker compose`), else the legacy `docker-compose` v1."""
    if shutil.which("docker"):
        res = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
        if res.returncode == 0:
            return ["docker", "compose"], "v2"
    if shutil.which("docker-compose"):
        return ["docker-compose"], "v1"
    return None


def run_config(tmp_path: Path, env_file: Path) -> subprocess.CompletedProcess:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI: neither the docker compose plugin nor docker-compose is installed")
    cmd, version = cli
    compose_file = COMPOSE
    if version == "v1":  # v1 predates the top-level `name:`; validate everything else
        compose_file = tmp_path / "compose.yaml"
        compose_file.write_text(re.sub(r"(?m)^name: .*\n", "", COMPOSE.read_text()))
    # A clean environment: only the env file may supply the stack's variables.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_CONFIG", "DOCKER_HOST")}
    return subprocess.run([*cmd, "-f", str(compose_file), "--project-directory", str(DOCKER),
                           "--env-file", str(env_file), "config"],
                          capture_output=True, text=True, timeout=120, env=env)


def test_compose_config_validates_with_env_example(tmp_path):
    res = run_config(tmp_path, ENV_EXAMPLE)
    assert res.returncode == 0, res.stderr
    rendered = yaml.safe_load(res.stdout)
    assert {"postgres", "minio", "minio-init", "mlflow", "trainer", "gpu-trainer"} <= set(rendered["services"])
    assert "change-me-postgres" in rendered["services"]["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]


def test_compose_config_refuses_missing_credentials(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    res = run_config(tmp_path, empty)
    assert res.returncode != 0
    assert "in docker/.env" in res.stderr


def test_services_have_healthchecks_and_wait_for_them(compose):
    services = compose["services"]
    for name in ("postgres", "minio", "mlflow"):
        assert "test" in services[name]["healthcheck"], name
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "/health" in str(services["mlflow"]["healthcheck"]["test"])
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in services["minio-init"]["command"][0]
    mlflow_deps = services["mlflow"]["depends_on"]
    assert mlflow_deps["postgres"]["condition"] == "service_healthy"
    assert mlflow_deps["minio-init"]["condition"] == "service_completed_successfully"
    for trainer in ("trainer", "gpu-trainer"):
        assert services[trainer]["depends_on"]["mlflow"]["condition"] == "service_healthy"
        assert services[trainer]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sqlalchemy, on importing mlflow's CLI
def test_mlflow_server_command(compose):
    svc = compose["services"]["mlflow"]
    cmd = " ".join(svc["command"])
    assert svc["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
    assert "--artifacts-destination=s3://" in cmd and "--serve-artifacts" in cmd
    assert "--host=0.0.0.0" in cmd and "--port=5000" in cmd
    hosts = re.search(r"--allowed-hosts=\$\{MLFLOW_ALLOWED_HOSTS:-([^}]*)\}", cmd).group(1).split(",")
    assert {"mlflow", "mlflow:5000", "localhost"} <= set(hosts)
    assert svc["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    # mlflow's own CLI reads the backend store from this variable (kept out of argv).
    from mlflow.cli import server

    assert any(o.name == "backend_store_uri" and o.envvar == "MLFLOW_BACKEND_STORE_URI" for o in server.params)
    assert {"allowed_hosts", "artifacts_destination", "serve_artifacts"} <= {o.name for o in server.params}


def test_gpu_profile_reserves_gpus(compose):
    svc = compose["services"]["gpu-trainer"]
    assert svc["profiles"] == ["gpu"]
    device = svc["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["count"] == "all" and device["capabilities"] == ["gpu"]
    assert svc["shm_size"] or svc.get("ipc") == "host"
    assert svc["entrypoint"] == ["torchrun"] and "--standalone" in svc["command"]
    assert svc["build"]["dockerfile"] == "docker/Dockerfile.cuda"


def test_no_secret_inline(compose):
    """Every credential-like value is a ${VAR} from docker/.env, never a literal."""
    secret_key = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|_USER$")
    checked = 0
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if secret_key.search(key):
                assert VAR.fullmatch(str(value)), f"{name}.{key} is not a ${{VAR}}: {value!r}"
                checked += 1
        uri = (svc.get("environment") or {}).get("MLFLOW_BACKEND_STORE_URI")
        if uri:
            assert "${POSTGRES_PASSWORD}" in uri
    assert checked >= 8
    # The real env file is never part of the repository.
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT, timeout=30)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, "docker/.env must be git-ignored"


def test_env_example_defines_every_required_variable(compose):
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                   if line and not line.startswith("#"))
    body = "\n".join(ln for ln in COMPOSE.read_text().splitlines() if not ln.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{(\w+):\?", body))
    assert required and required <= set(example), required - set(example)
    for key, value in example.items():
        if re.search(r"PASSWORD|SECRET", key):
            assert "change-me" in value, f"{key}: env.example must hold a placeholder"


def final_stage(dockerfile: Path) -> list[str]:
    lines = [ln.strip() for ln in dockerfile.read_text().splitlines()]
    start = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    return lines[start:]


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda", "Dockerfile.mlflow"])
def test_images_are_multistage_and_run_as_non_root(name):
    path = DOCKER / name
    text = path.read_text()
    assert len(re.findall(r"(?m)^FROM ", text)) >= 2, "multi-stage: builder + runtime"
    assert "--no-deps -r" in text and "pip check" in text, "installs the lock file exactly"
    users = [ln.split(None, 1)[1] for ln in final_stage(path) if ln.upper().startswith("USER ")]
    assert users, f"{name}: runtime stage has no USER line"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user == "1000"
    if name != "Dockerfile.mlflow":
        final = "\n".join(final_stage(path))
        assert 'ENTRYPOINT ["vi2clr"]' in final and 'CMD ["--help"]' in final and "WORKDIR /work" in final


def test_dockerfile_bases():
    assert re.search(r"(?m)^ARG PYTHON_IMAGE=python:3\.11-slim", (DOCKER / "Dockerfile").read_text())
    cuda = (DOCKER / "Dockerfile.cuda").read_text()
    assert re.search(r"(?m)^ARG CUDA_IMAGE=nvidia/cuda:[\w.]+-runtime-", cuda)
    assert "uv python install 3.11" in cuda


def test_dockerignore_keeps_data_and_stores_out():
    patterns = {ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")}
    for entry in ("data", "runs", "features", "reports", "mlflow.db", "mlartifacts", ".venv", ".dvc/cache",
                  ".git", "docker/.env"):
        assert entry in patterns, entry
    for needed in ("vi2clr", "requirements", "pyproject.toml", "README.md", "params.yaml", "pipelines"):
        assert needed not in patterns, f"{needed} is needed by the images"


def test_lock_files_pin_every_requirement():
    req = ROOT / "requirements"
    for name in ("base.txt", "torch.txt", "mlflow-server.txt"):
        lines = [ln for ln in (req / name).read_text().splitlines() if ln and not ln.startswith("#")]
        assert lines and all(re.fullmatch(r"[A-Za-z0-9._-]+==[\w.+!-]+", ln) for ln in lines), name
    torch = (req / "torch.txt").read_text()
    assert re.search(r"(?m)^torch==", torch) and re.search(r"(?m)^torchvision==", torch)
    server = (req / "mlflow-server.txt").read_text()
    for pkg in ("mlflow", "psycopg2-binary", "boto3"):
        assert re.search(rf"(?m)^{pkg}==", server), pkg


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule (moby/patternmatcher): the last pattern matching the path or one of its parent
    folders decides; ``!`` re-includes; ``*`` stays within one path segment, ``**`` spans any."""
    import re as _re

    def rx(pattern: str) -> _re.Pattern:
        out = ""
        for part in _re.split(r"(\*\*/?|\*|\?)", pattern):
            out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, _re.escape(part))
        return _re.compile(out + "$")

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        neg = raw.startswith("!")
        pattern = rx(raw[1:] if neg else raw)
        if any(pattern.match(p) for p in prefixes):
            excluded = not neg
    return excluded


def test_dockerignore_covers_every_pipeline_output():
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    for out in ("pipelines/paper/features/x.npz", "pipelines/paper/runs/pretrain/full/ckpt.pt",
                "pipelines/paper/data/index/kinetics.jsonl", "pipelines/paper/reports/tables.md",
                "pipelines/paper/mlflow.db", "pipelines/paper/mlartifacts/1/a", "features/a.npz", "runs/x",
                "data/synthetic/a.mp4", "mlflow.db", ".dvc/cache/files/md5/aa", "reports/eval/m.json"):
        assert _dockerignored(out, patterns), out
    for kept in ("pipelines/paper/dvc.yaml", "pipelines/paper/params.yaml", "pipelines/paper/slurm.sbatch",
                 "vi2clr/data/index.py", "params.yaml", "pyproject.toml", "requirements/base.txt"):
        assert not _dockerignored(kept, patterns), kept


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_trainer_images_run_as_any_uid_and_record_the_commit(name):
    final = "\n".join(final_stage(DOCKER / name))
    assert "ARG VI2CLR_GIT_COMMIT" in final and "VI2CLR_GIT_COMMIT=${VI2CLR_GIT_COMMIT}" in final
    # writable for any uid (sticky world-writable), HOME without a passwd entry, no mkdir at run time
    assert re.search(r"install -d -m 1777 /work /work/data /work/runs /work/reports /work/features /work/mlflow", final)
    assert re.search(r"HOME=/home/\S+", final)
    assert "MLFLOW_TRACKING_URI=sqlite:////work/mlflow/mlflow.db" in final


def test_trainers_mount_every_output_and_pass_the_commit(compose):
    from vi2clr.tracking import COMMIT_ENV

    cpu, gpu = compose["services"]["trainer"], compose["services"]["gpu-trainer"]
    targets = {v.split(":")[1] for v in cpu["volumes"]}
    assert {"/work/data", "/work/runs", "/work/reports", "/work/features"} <= targets
    gpu_targets = {v.split(":")[1] for v in gpu["volumes"]}
    assert {f"/work/pipelines/paper/{d}" for d in ("data", "runs", "reports", "features")} <= gpu_targets
    assert gpu["working_dir"] == "/work/pipelines/paper"
    for svc in (cpu, gpu):
        assert COMMIT_ENV in svc["build"]["args"]
        assert svc["user"].startswith("${VI2CLR_UID")
