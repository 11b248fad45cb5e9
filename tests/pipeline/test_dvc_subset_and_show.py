"""DVC as its users expect: the Kinetics subset is its own versioned stage output (outside data/index,
so `dvc repro index` leaves it alone); the paper pipeline declares its code; `dvc metrics show` and
`dvc plots show` never trip over the paper pipeline's files; `dvc exp show`'s README flags exist."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _support import DVC, GIT_ENV, REPO, copy_repo, sh, tiny_params

# one worker runs the session's `dvc repro` and every test that reads it (pytest-xdist --dist loadgroup)
pytestmark = pytest.mark.xdist_group("repro")

SUBSET = "data/subsets/kinetics_subset.json"


def _dvc(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, "MLFLOW_DISABLE_TELEMETRY": "true",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([DVC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _git_repo(root: Path, params: dict | None = None) -> Path:
    copy_repo(root)
    if params is not None:
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(["git", "init", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-qm", "fresh"], root)
    return root


def _paths(index_file: Path) -> list[str]:
    return [r["path"] for r in map(json.loads, index_file.read_text().splitlines()) if "path" in r]


def test_subset_is_a_versioned_output_that_index_leaves_alone(tmp_path):
    root = _git_repo(tmp_path, tiny_params())
    sh([DVC, "repro", "subset"], root)
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert [o["path"] for o in lock["subset"]["outs"]] == [SUBSET] and lock["subset"]["outs"][0]["md5"]
    assert not any(d["path"].startswith("data/index") for d in lock["subset"]["deps"])
    whole = (root / SUBSET).read_text()

    sh([DVC, "repro", "index"], root)  # used to delete the subset, which lived in data/index/
    assert (root / SUBSET).read_text() == whole
    assert "subset" not in sh([DVC, "status", "subset"], root).replace("up to date", "")
    # null num_classes / per_class: the whole train split, the same videos as the index stage's file
    assert sorted(_paths(root / SUBSET)) == sorted(_paths(root / "data/index/kinetics400_train.json"))

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["subset"].update(num_classes=2, per_class=3)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "subset" in sh([DVC, "status"], root)
    sh([DVC, "repro", "subset"], root)
    rows = (root / SUBSET).read_text().splitlines()
    assert len(json.loads(rows[0])["classes"]) == 2 and len(rows) - 1 == 6
    assert "index" not in sh([DVC, "status", "index"], root).replace("up to date", "")
    # the previous (whole-split) version is still in the DVC cache: the subset is versioned
    md5 = lock["subset"]["outs"][0]["md5"]
    assert (root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).read_text() == whole


def test_paper_pipeline_declares_its_code():
    stages = yaml.safe_load((REPO / "pipelines/paper/dvc.yaml").read_text())["stages"]
    train = {"../../vi2clr/config.py", "../../vi2clr/paper.py", "../../vi2clr/data", "../../vi2clr/models", "../../vi2clr/losses.py",
             "../../vi2clr/clustering", "../../vi2clr/train"}
    evaluate = {"../../vi2clr/config.py", "../../vi2clr/paper.py", "../../vi2clr/data", "../../vi2clr/models", "../../vi2clr/evaluate",
                "../../vi2clr/commands/evaluate"}
    wanted = {
        "index": {"../../vi2clr/data/catalog.py", "../../vi2clr/data/layouts.py", "../../vi2clr/data/index.py"},
        "pretrain": train, "ablation": train, "eval": evaluate, "eval_random": evaluate,
        "tables": {"../../vi2clr/tables.py", "../../vi2clr/statistics.py"},
    }
    for name, code in wanted.items():
        stage = stages[name].get("do", stages[name])
        assert code <= set(stage["deps"]), f"{name} misses {code - set(stage['deps'])}"
        for dep in stage["deps"]:
            if dep.startswith("../../"):
                assert (REPO / "pipelines/paper" / dep).exists(), dep


def test_metrics_and_plots_show_never_read_the_paper_pipeline(tmp_path):
    """Fresh checkout, nothing run: DVC misses only the main pipeline's files, none of pipelines/paper."""
    root = _git_repo(tmp_path)
    metrics, plots = _dvc(["metrics", "show", "--json"], root), _dvc(["plots", "show", "--json"], root)
    assert metrics.returncode == 0 and plots.returncode == 0, metrics.stderr + plots.stderr
    assert "reports/metrics.json" in metrics.stdout  # it does look at the main pipeline (the committed record)
    for proc in (metrics, plots):
        assert "pipelines/paper" not in proc.stdout + proc.stderr


def test_metrics_and_plots_show_are_clean_after_repro(repro):
    for cmd in (["metrics", "show"], ["plots", "show", "--json"]):
        proc = _dvc(cmd, repro)
        assert proc.returncode == 0, proc.stderr
        assert "WARNING" not in proc.stderr and "failed to load" not in proc.stderr.lower(), proc.stderr
        assert '"errors"' not in proc.stdout, proc.stdout[:2000]


def test_exp_show_flags_of_the_readme_exist():
    readme = (REPO / "README.md").read_text()
    assert "dvc exp show --only-changed" in readme
    help_text = sh([DVC, "exp", "show", "--help"], REPO)
    for flag in ("--only-changed", "--drop", "--keep", "--param-deps", "--md"):
        assert flag in help_text, flag


def test_readme_exp_show_keeps_the_key_columns(repro):
    line = next(t for t in (REPO / "README.md").read_text().splitlines() if t.startswith("dvc exp show --drop '.*' --keep"))
    proc = _dvc([*shlex.split(line)[1:], "--csv", "--no-pager"], repro)
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0].split(",")
    assert len(header) <= 20, header
    for key in ("table2.Vi2CLR.voc07_map.ours_mean", "table2.Vi2CLR.imagenet_top1.ci_low",
                "table6.Vi2CLR full.ucf101_top1.ours_mean", "params.yaml:pretrain.optim.lr"):
        assert any(key in col for col in header), key
