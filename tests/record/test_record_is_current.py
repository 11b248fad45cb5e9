"""The record is the truth: the committed dvc.lock (and so reports/) was produced by the committed
code. Fails when a git-tracked dependency recorded in dvc.lock no longer matches the tree — i.e.
someone changed code or params after the last `dvc repro` and did not rerun it."""

from __future__ import annotations

import json
import subprocess

from _support import DVC, REPO


def _tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_no_tracked_dependency_changed_since_the_recorded_run():
    proc = subprocess.run([DVC, "status", "--json", "dvc.yaml"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout or "{}")
    tracked = _tracked()
    stale: dict[str, list[str]] = {}
    for stage, changes in status.items():
        for change in changes:
            if not isinstance(change, dict):
                continue
            for path, state in change.get("changed deps", {}).items():
                is_tracked = path in tracked or any(t.startswith(path.rstrip("/") + "/") for t in tracked)
                if state == "modified" and is_tracked:
                    stale.setdefault(stage, []).append(path)
            for key in ("changed params",):  # params.yaml is tracked: a changed param is a stale record
                for path, params in (change.get(key) or {}).items():
                    stale.setdefault(stage, []).extend(f"{path}:{name}" for name in params)
            if change.get("changed command"):
                stale.setdefault(stage, []).append("cmd")
    assert not stale, f"dvc.lock was recorded with other code or params: {stale}; rerun `dvc repro` and commit " \
                      "dvc.lock and reports/"


def test_every_stage_has_a_record():
    """dvc.lock lists every stage of dvc.yaml (no stage was added without running it)."""
    lock = (REPO / "dvc.lock").read_text()
    out = subprocess.run([DVC, "stage", "list", "--name-only"], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=300).stdout.split()
    missing = [s for s in out if f"\n  {s}:" not in lock]
    assert not missing, f"stages without a record in dvc.lock: {missing}"


def test_no_record_of_a_stage_that_no_longer_exists():
    """dvc.lock holds no entry of a stage dvc.yaml dropped or renamed: `dvc repro` keeps such entries,
    and their old hashes read as a record of code that no longer exists."""
    import yaml

    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    out = subprocess.run([DVC, "stage", "list", "--name-only", "dvc.yaml"], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=300).stdout.split()
    gone = sorted(set(lock["stages"]) - set(out))
    assert not gone, f"dvc.lock records stages dvc.yaml no longer has: {gone}; delete their entries"
