"""`vi2clr eval` end to end on tiny synthetic layouts: every protocol runs after a pretraining,
appears in MLflow linked to it, and the same commands with --random-init give the baseline. One suite
and one user error run as a user types them (real console script); the rest in process (same CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from _support import invoke_cli, mlflow_runs, run_cli, tiny_params

PROTOCOL_METRICS = {
    "image-linear": "image_linear/top1", "voc-svm": "voc07_svm/map", "voc-fewshot": "voc07_fewshot/k1_map_mean",
    "semisup": "semisup/top1", "retrieval": "retrieval/r1", "video-linear": "video_linear/top1",
    "video-finetune": "video_finetune/top1",
}


def _runs(project: Path, kind: str):
    return mlflow_runs(project, f"tags.kind = '{kind}'")


@pytest.fixture(scope="module")
def evaluated(tiny_pretrained) -> Path:
    run_cli(["eval", "suite", "full"], cwd=tiny_pretrained)
    invoke_cli(["eval", "suite", "random"], cwd=tiny_pretrained)
    return tiny_pretrained


def test_every_protocol_is_an_mlflow_run_linked_to_its_pretraining(evaluated):
    pretrain_id = _runs(evaluated, "pretrain")[0].info.run_id
    runs = _runs(evaluated, "eval")
    by_suite: dict[str, dict[str, list]] = {}
    for r in runs:
        by_suite.setdefault(r.data.tags["suite"], {}).setdefault(r.data.tags["vi2clr.protocol"], []).append(r)
    for protocol, metric in PROTOCOL_METRICS.items():
        for suite, linked in (("full", pretrain_id), ("random", "random-init")):
            found = by_suite[suite][protocol]
            assert found, (suite, protocol)
            for r in found:
                assert r.info.status == "FINISHED"
                assert r.data.tags["pretrain_run_id"] == linked
                assert metric in r.data.metrics and 0.0 <= r.data.metrics[metric] <= 1.0
                assert {"table", "row", "col", "dataset", "split", "seed", "vi2clr.cells"} <= set(r.data.tags)
                assert r.data.tags["eval_seed"] == "0" and r.data.tags["pretrain_seed"] == "0"
                assert r.data.metrics["n_test"] >= 1
    # One run per dataset / label fraction, and the Table 1 columns from the epoch exports.
    assert {r.data.tags["dataset"] for r in by_suite["full"]["retrieval"]} == {"ucf101", "hmdb51"}
    assert {r.data.tags["label_pct"] for r in by_suite["full"]["semisup"]} == {"1", "10"}
    table1 = [r for r in by_suite["full"]["image-linear"] if r.data.tags.get("table") == "table1"]
    assert {r.data.tags["col"] for r in table1} == {"epoch_50", "epoch_100"}
    assert {r.data.params["pretrain_epoch"] for r in table1} == {"1", "2"}
    cells = json.loads(by_suite["full"]["voc-svm"][0].data.tags["vi2clr.cells"])
    assert ["table2", "Vi2CLR", "voc07_map", "voc07_svm/map"] in cells


def test_metrics_json_and_plot_data_for_dvc(evaluated):
    metrics = json.loads((evaluated / "reports" / "eval" / "full" / "metrics.json").read_text())
    assert "voc-svm/voc2007" in metrics and "retrieval/ucf101" in metrics
    assert (evaluated / "reports" / "eval" / "full" / "retrieval.csv").read_text().startswith("dataset,k,recall")
    assert (evaluated / "reports" / "eval" / "full" / "fewshot.csv").read_text().startswith("k,map_mean,map_std")


def test_second_protocol_on_the_same_features_reads_the_cache(evaluated):
    cache = evaluated / "features"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    assert before
    invoke_cli(["eval", "voc-fewshot", "--encoders", "runs/pretrain/full"], cwd=evaluated)
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    assert after == before  # nothing re-extracted, nothing rewritten


def test_tables_render_ours_beside_the_paper(evaluated):
    invoke_cli(["tables", "--out", "reports"], cwd=evaluated)
    md = (evaluated / "reports" / "tables.md").read_text()
    for i in range(1, 8):
        assert f"## Table {i}:" in md
    vi2clr_row = next(line for line in md.splitlines() if line.startswith("| Vi2CLR | ") and "74.6" in line)
    assert vi2clr_row.count(" \\| ") == 2  # Table 2: two cells, each "ours \| paper"
    assert "Random init (ours)" in md
    assert "synthetic" in md and "not comparable" in md
    data = json.loads((evaluated / "reports" / "tables.json").read_text())
    cell = next(c for c in data["cells"] if c["table"] == "table2" and c["row"] == "Vi2CLR" and c["col"] == "voc07_map")
    assert cell["paper"] == 89.4 and 0 <= cell["ours_mean"] <= 100


def test_user_errors_are_one_clear_line(tiny_pretrained, tmp_path):
    project = tiny_pretrained
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    shutil.copy(project / "runs/pretrain/full/video_encoder.pt", wrong / "image_encoder.pt")
    res = run_cli(["eval", "voc-svm", "--encoders", str(wrong)], cwd=project, check=False)
    assert res.returncode == 1
    assert "holds a video encoder" in res.stderr and "image encoder" in res.stderr
    assert "Traceback" not in res.stderr

    res = invoke_cli(["eval", "image-linear", "--encoders", str(tmp_path / "nope")], cwd=project, check=False)
    assert res.returncode == 1 and "does not exist" in res.stderr

    res = invoke_cli(["eval", "voc-fewshot", "--random-init", "-S", "eval.svm.fewshot_ks=[16]"], cwd=project,
                     check=False)
    assert res.returncode == 1 and "few-shot class" in res.stderr and "Traceback" not in res.stderr


def test_missing_split_file_is_named(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    (data / "synthetic/ucf101/ucfTrainTestlist/testlist01.txt").unlink()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    res = invoke_cli(["eval", "retrieval", "--random-init"], cwd=tmp_path, check=False)
    assert res.returncode == 1 and "testlist01.txt" in res.stderr and "Traceback" not in res.stderr
