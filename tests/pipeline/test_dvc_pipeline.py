"""The main job: `dvc repro` in a temporary copy of the repo at the smallest settings, the tables
and MLflow runs it leaves, stage isolation of ablation rows, `dvc exp run`, and the paper pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from _support import DVC, sh
from mlflow.tracking import MlflowClient

# one worker runs the session's `dvc repro` and every test that reads it (pytest-xdist --dist loadgroup)
pytestmark = pytest.mark.xdist_group("repro")


def _runs(root: Path):
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("vi2clr")
    return client.search_runs([exp.experiment_id])


def test_repro_fills_the_tables_and_tracks_every_stage(repro):
    md = (repro / "reports" / "tables.md").read_text()

    def ours(row: str, col: int) -> str:
        """Our value in column ``col`` (0-based) of ``row``: cells are ``ours \\| paper``."""
        line = next(text for text in md.splitlines() if text.startswith(f"| {row} "))
        cells = re.split(r"(?<!\\)\|", line)[2:-1]
        return cells[col].split("\\|")[0].strip()

    rows = {  # row -> the column where our value must be
        "Vi2CLR (FINCH)": 0, "Vi2CLR (K-means)": 0, "Vi2CLR-CenterNCE only": 0,
        "Vi2CLR-ImgNCE only": 0, "Vi2CLR-VideoNCE only": 2, "Vi2CLR full": 0,
    }
    for row, col in rows.items():
        assert ours(row, col) not in ("—", ""), row  # our value present
        assert "(n=" in ours(row, col), row  # every ours cell states its n
    assert ours("Vi2CLR-ImgNCE only", 2).startswith("—"), "the untrained (video) stream renders as in the paper"
    assert ours("Vi2CLR-VideoNCE only", 0).startswith("—"), "the untrained (image) stream renders as in the paper"
    assert "chance" in md.lower()
    data = json.loads((repro / "reports" / "tables.json").read_text())
    tables = {c["table"] for c in data["cells"]}
    assert tables == {f"table{i}" for i in range(1, 8)}

    runs = _runs(repro)
    stages = {r.data.tags.get("dvc.stage") for r in runs}
    assert {"pretrain@full", "pretrain@kmeans", "pretrain@center_only", "eval@full", "eval@kmeans",
            "eval_random"} <= stages
    pretrain_ids = {r.info.run_id for r in runs if r.data.tags.get("kind") == "pretrain"}
    assert len(pretrain_ids) == 5
    for r in runs:
        assert r.info.status == "FINISHED"
        assert r.data.tags.get("git_commit")
        if r.data.tags.get("kind") == "eval" and r.data.tags["suite"] != "random":
            assert r.data.tags["pretrain_run_id"] in pretrain_ids
            assert r.data.tags["pretrain_seed"] == "0"
    shown = json.loads(sh([DVC, "metrics", "show", "--json"], repro))
    (rev,) = shown.values()
    cells = rev["data"]["reports/metrics.json"]["data"]
    full = cells["table2"]["Vi2CLR"]["voc07_map"]
    # n = 1 here: no interval (null, which DVC leaves out); the record's cells carry ci_low / ci_high
    assert {"ours_mean", "n"} <= set(full) <= {"ours_mean", "ci_low", "ci_high", "n"} and full["n"] == 1
    for path in ("reports/eval/full/seed0/metrics.json", "reports/pretrain/full/seed0/metrics.json"):
        assert (repro / path).is_file(), path


def test_every_plot_draws_its_series(repro):
    """Each top-level plot of dvc.yaml has data for every series it names (one per file and column,
    so UCF101 and HMDB51 are separate recall series), against its own x, under its own title."""
    spec = yaml.safe_load((repro / "dvc.yaml").read_text())["plots"]
    shown = json.loads(sh([DVC, "plots", "show", "--json"], repro))
    assert not shown.get("errors"), shown.get("errors")
    data = shown["data"]
    for entry in spec:
        (plot_id, props), = entry.items()
        assert plot_id in data, (plot_id, list(data))
        content = data[plot_id][0]["content"]
        assert props["title"] in json.dumps(content["title"]), plot_id
        values = content["data"]["values"]
        assert values, f"{plot_id}: no data"
        assert all(props["x"] in v for v in values), f"{plot_id}: rows without x={props['x']}"
        files = props["y"]
        for path, columns in files.items():
            columns = [columns] if isinstance(columns, str) else columns
            # dvc names a series by its file minus the prefix all the plot's files share
            # (``retrieval_ucf101.csv`` for ``reports/eval/full/seed0/retrieval_ucf101.csv``)
            rows = [v for v in values if f"/{path}".endswith(f"/{v.get('filename', path)}")]
            assert rows, f"{plot_id}: no series from {path}"
            for column in columns:
                assert any(v.get(column) not in (None, "") for v in rows), f"{plot_id}: {path} has no {column}"
        if len(files) > 1:
            assert len({v["filename"] for v in values}) == len(files), f"{plot_id}: series merged"


def test_changing_one_ablation_row_reruns_only_that_row(repro):
    assert json.loads(sh([DVC, "status", "--json", "dvc.yaml"], repro)) == {}
    params = yaml.safe_load((repro / "params.yaml").read_text())
    params["ablations"]["center_only"]["pretrain"]["optim"] = {"lr": 0.002}
    (repro / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = set(json.loads(sh([DVC, "status", "--json", "dvc.yaml"], repro)))
    assert "pretrain@center_only" in changed
    assert not changed & {"synth", "index", "pretrain@full", "pretrain@kmeans", "pretrain@image_only",
                          "pretrain@video_only", "eval@full", "eval@kmeans", "eval_random"}


def test_dvc_exp_run_shows_up_in_the_tables_under_its_name(repro):
    sh(["git", "add", "-A"], repro)
    sh(["git", "commit", "-qm", "state"], repro)
    sh([DVC, "exp", "run", "-n", "lr-two", "-S", "++ablations.center_only.pretrain.optim.lr=0.002"], repro,
       timeout=1200)
    runs = [r for r in _runs(repro) if r.data.tags.get("dvc.exp_name") == "lr-two"]
    assert {r.data.tags.get("dvc.stage") for r in runs} >= {"pretrain@center_only", "eval@center_only"}
    md = (repro / "reports" / "tables.md").read_text()
    assert "Vi2CLR-CenterNCE only [lr-two]" in md
    # DVC reran no random init for it (the evaluation's inputs are unchanged): the experiment's row
    # is held to the main pipeline's random init, which the tables find measured alike
    tables = json.loads((repro / "reports" / "tables.json").read_text())
    borrowed = [f["claim"] for f in tables["findings"]["table6"]
                if f["claim"].startswith("Vi2CLR-CenterNCE only [lr-two] > Random init (ours) (")]
    assert borrowed and not tables["untested"], tables["untested"]


def test_paper_pipeline_is_valid(repro):
    out = sh([DVC, "stage", "list", "-R", "pipelines/paper"], repro)
    for stage in ("pretrain", "ablation@kmeans", "eval@full", "eval_random", "tables"):
        assert f"pipelines/paper/dvc.yaml:{stage}" in out
    assert "torchrun" in (repro / "pipelines/paper/dvc.yaml").read_text()
    sh([DVC, "status", "pipelines/paper/dvc.yaml"], repro)
