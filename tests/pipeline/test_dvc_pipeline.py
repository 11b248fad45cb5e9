"""The main job: `dvc repro` in a temporary copy of the repo at the smallest settings, the tables
and MLflow runs it leaves, stage isolation of ablation rows, `dvc exp run`, and the paper pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from _support import DVC, sh

def _runs(root: Path):
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("vi2clr")
    return client.search_runs([exp.experiment_id])


def test_repro_fills_the_tables_and_tracks_every_stage(repro):
    md = (repro / "reports" / "tables.md").read_text()
    rows = {
        "Vi2CLR (FINCH)": "Table 1", "Vi2CLR (K-means)": "Table 1", "Vi2CLR-CenterNCE only": "Table 6",
        "Vi2CLR-ImgNCE only": "Table 6", "Vi2CLR-VideoNCE only": "Table 6", "Vi2CLR full": "Table 6",
    }
    for row in rows:
        line = next(l for l in md.splitlines() if l.startswith(f"| {row} "))
        assert "— |" not in line.split("|")[2], line  # our value present in the first column
    data = json.loads((repro / "reports" / "tables.json").read_text())
    tables = {c["table"] for c in data["cells"]}
    assert tables == {f"table{i}" for i in range(1, 8)}

    runs = _runs(repro)
    stages = {r.data.tags.get("dvc.stage") for r in runs}
    assert {"pretrain", "ablation@kmeans", "ablation@center_only", "eval@full", "eval@kmeans", "eval_random"} <= stages
    pretrain_ids = {r.info.run_id for r in runs if r.data.tags.get("kind") == "pretrain"}
    assert len(pretrain_ids) == 5
    for r in runs:
        assert r.info.status == "FINISHED"
        assert r.data.tags.get("git_commit")
        if r.data.tags.get("kind") == "eval" and r.data.tags["suite"] != "random":
            assert r.data.tags["pretrain_run_id"] in pretrain_ids
    metrics = sh([DVC, "metrics", "show", "--json"], repro)
    assert "reports/eval/full/metrics.json" in metrics and "reports/pretrain/full/metrics.json" in metrics
    sh([DVC, "plots", "show", "--json"], repro)


def test_changing_one_ablation_row_reruns_only_that_row(repro):
    assert json.loads(sh([DVC, "status", "--json", "dvc.yaml"], repro)) == {}
    params = yaml.safe_load((repro / "params.yaml").read_text())
    params["ablations"]["center_only"]["pretrain"]["seed"] = 1
    (repro / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = set(json.loads(sh([DVC, "status", "--json", "dvc.yaml"], repro)))
    assert "ablation@center_only" in changed
    assert not changed & {"synth", "index", "pretrain", "ablation@kmeans", "ablation@image_only",
                          "ablation@video_only", "eval@full", "eval@kmeans", "eval_random"}


def test_dvc_exp_run_shows_up_in_the_tables_under_its_name(repro):
    sh(["git", "add", "-A"], repro)
    sh(["git", "commit", "-qm", "state"], repro)
    sh([DVC, "exp", "run", "-n", "seed-two", "-S", "ablations.center_only.pretrain.seed=2"], repro, timeout=1200)
    runs = [r for r in _runs(repro) if r.data.tags.get("dvc.exp_name") == "seed-two"]
    assert {r.data.tags.get("dvc.stage") for r in runs} >= {"ablation@center_only", "eval@center_only"}
    md = (repro / "reports" / "tables.md").read_text()
    assert "Vi2CLR-CenterNCE only [seed-two]" in md


def test_paper_pipeline_is_valid(repro):
    out = sh([DVC, "stage", "list", "-R", "pipelines/paper"], repro)
    for stage in ("pretrain", "ablation@kmeans", "eval@full", "eval_random", "tables"):
        assert f"pipelines/paper/dvc.yaml:{stage}" in out
    assert "torchrun" in (repro / "pipelines/paper/dvc.yaml").read_text()
    sh([DVC, "status", "pipelines/paper/dvc.yaml"], repro)
