"""`vi2clr seeds`: one real `vi2clr` process per seed, side by side, on one fresh MLflow store; a
failing seed names itself and the others finish; `compute.threads` fixes torch's thread count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from _support import REPO, invoke_cli, run_cli


def _project(tmp_path: Path, seeds: list[int] | None = None) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    if seeds is not None:
        raw["seeds"]["pretrain"] = seeds
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return tmp_path


def _tables_per_seed(tmp_path: Path) -> list[str]:
    """`vi2clr tables` into out<seed>/ from a store that does not exist yet: every child opens it."""
    return ["tables", "--out", str(tmp_path / "out{seed}"), "-S", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}"]


def test_every_seed_runs_side_by_side_on_a_fresh_store(tmp_path):
    """Three children create one new SQLite store at once (their first client migrates its tables:
    without the store lock, two of three died in alembic); each child's lines carry its seed."""
    root = _project(tmp_path)
    res = run_cli(["seeds", "--jobs", "3", "--", *_tables_per_seed(root)], cwd=root)
    for seed in (0, 1, 2):
        assert (root / f"out{seed}" / "tables.md").is_file(), seed
        assert f"[seed {seed}] wrote {root / f'out{seed}' / 'tables.md'}" in res.stdout
    assert not (root / "out3").exists()


def test_a_failing_seed_names_itself_and_the_others_finish(tmp_path):
    root = _project(tmp_path, seeds=[0, 1, 2])
    res = run_cli(["seeds", "--", *_tables_per_seed(root), "-S", "compute.threads={seed}"], cwd=root, check=False)
    assert res.returncode == 2  # seed 0: compute.threads=0 is a bad param (exit 2 before any work)
    failed = [line for line in res.stderr.splitlines() if line.startswith("error: seed")]
    assert len(failed) == 1 and failed[0].startswith("error: seed 0: `vi2clr tables") and "exited with 2" in failed[0]
    assert "[seed 0] error: compute.threads" in res.stdout
    assert not (root / "out0").exists()
    assert (root / "out1" / "tables.md").is_file() and (root / "out2" / "tables.md").is_file()


def test_the_random_init_list_and_its_overrides(tmp_path):
    root = _project(tmp_path)
    run_cli(["seeds", "--of", "random_init", "-S", "seeds.random_init=[7]", "--", *_tables_per_seed(root)], cwd=root)
    assert sorted(p.name for p in root.glob("out*")) == ["out7"]


def test_bad_invocations_exit_before_any_work(tmp_path):
    root = _project(tmp_path)
    res = invoke_cli(["seeds", "--", "tables", "--out", str(root / "out")], cwd=root, check=False)
    assert res.returncode != 0 and "no {seed} in the command" in res.stderr
    res = invoke_cli(["seeds", "--of", "eval", "--", *_tables_per_seed(root)], cwd=root, check=False)
    assert res.returncode == 2 and "--of eval: choose pretrain or random_init" in res.stderr
    res = invoke_cli(["seeds", "--jobs", "0", "--", *_tables_per_seed(root)], cwd=root, check=False)
    assert res.returncode != 0 and "--jobs must be at least 1" in res.stderr
    assert not list(root.glob("out*"))


def test_compute_threads_sets_torchs_threads_whatever_the_environment():
    """OMP_NUM_THREADS=2 would give torch two threads; compute.threads=1 (the default params) wins."""
    code = ("from vi2clr.cli import use_threads; from vi2clr.config import load_params; import torch; "
            f"use_threads(load_params({str(REPO / 'params.yaml')!r})); print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "2"},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"


def test_sigterm_reaches_every_seed_and_their_runs_close_killed(tiny_project):
    """`kill` (or scancel, docker stop) of `vi2clr seeds` passes SIGTERM on to each running seed: each
    closes its MLflow run KILLED, none is left running on its own, and the runner exits 143. The
    signal is sent once both seeds have logged an epoch (an event, not a timing)."""
    import signal

    from _support import VI2CLR, mlflow_runs

    store = f"sqlite:///{tiny_project / 'm.db'}"
    args = [VI2CLR, "seeds", "-S", "seeds.pretrain=[0, 1]", "--", "pretrain", "-S", "pretrain.seed={seed}",
            "-S", "pretrain.out_dir=runs/seed{seed}", "-S", "pretrain.epochs=200", "-S", "pretrain.keep_epochs=[]",
            "-S", f"tracking.uri={store}", "-S", "tracking.log_models=false", "--restart"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(args, cwd=tiny_project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as runner:
        started: set[str] = set()
        lines = []
        for line in runner.stdout:
            lines.append(line)
            if " epoch 1/200 " in line:
                started.add(line.split("]")[0])
            if len(started) == 2:
                break
        assert len(started) == 2, "".join(lines[-30:])
        children = subprocess.run(["pgrep", "-f", f"vi2clr pretrain -S pretrain.seed=[01] .*{tiny_project}"],
                                  capture_output=True, text=True).stdout.split()
        assert len(children) == 2, children
        runner.send_signal(signal.SIGTERM)
        rest = runner.stdout.read()
        assert runner.wait(timeout=120) == 143, rest[-3000:]
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    runs = mlflow_runs(store)
    assert len(runs) == 2 and {r.info.status for r in runs} == {"KILLED"}, ([r.info.status for r in runs], rest[-6000:])
