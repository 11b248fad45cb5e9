"""`vi2clr tables` from a real MLflow SQLite store: intervals, n, chance levels, findings, blanks."""

import json
import re
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from vi2clr.config import Params
from vi2clr.tables import CELLS_TAG, load_paper_tables, write_tables

PRETRAIN_SEEDS = (0, 1, 2)


def _log(client, exp_id, *, cells, metrics, tags=None, params=None):
    run = client.create_run(exp_id, tags={CELLS_TAG: json.dumps(cells), "vi2clr.scale": "synthetic test",
                                          "kind": "eval", **(tags or {})})
    for k, v in (params or {}).items():
        client.log_param(run.info.run_id, k, str(v))
    for k, v in metrics.items():
        client.log_metric(run.info.run_id, k, v)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("vi2clr")
    imagenet = {"num_classes": 8}
    for s in PRETRAIN_SEEDS:
        pretrain = client.create_run(exp_id, tags={"kind": "pretrain"}).info.run_id
        client.log_param(pretrain, "pretrain.epochs", "8")
        client.set_terminated(pretrain)
        seeds = {"pretrain_seed": str(s), "eval_seed": "0", "pretrain_run_id": pretrain}
        # Table 1: FINCH clearly above K-means at epoch_50; overlapping at epoch_100
        for row, v50, v100 in (("Vi2CLR (FINCH)", 0.70 + 0.01 * s, 0.60 + 0.05 * (s - 1)),
                               ("Vi2CLR (K-means)", 0.50 + 0.01 * s, 0.61 - 0.05 * (s - 1))):
            for col, v, ep in (("epoch_50", v50, 5), ("epoch_100", v100, 6)):
                _log(client, exp_id, cells=[["table1", row, col, "image_linear/top1"]],
                     metrics={"image_linear/top1": v, "n_test": 400}, tags=seeds,
                     params={"pretrain_epoch": ep, "dataset": "imagenet", **imagenet})
        # Table 6: full and ImgNCE-only on images and videos (ImgNCE-only's video cells must be "—")
        for row, img in (("Vi2CLR full", 0.60), ("Vi2CLR-ImgNCE only", 0.61)):
            _log(client, exp_id, cells=[["table6", row, "imagenet_top1", "image_linear/top1"]],
                 metrics={"image_linear/top1": img + 0.03 * (s - 1), "n_test": 400}, tags=seeds,
                 params={"dataset": "imagenet", **imagenet})
            _log(client, exp_id, cells=[["table6", row, "ucf101_top1", "video_finetune/top1"]],
                 metrics={"video_finetune/top1": 0.4, "n_test": 48}, tags=seeds,
                 params={"dataset": "ucf101", "num_classes": 4})
    # Table 2: one run each (n = 1): Wilson over items for accuracy, † for mAP; random init below
    for row, acc, m in (("Vi2CLR", 0.70, 0.55), ("Random init (ours)", 0.40, 0.40)):
        _log(client, exp_id, cells=[["table2", row, "imagenet_top1", "image_linear/top1"]],
             metrics={"image_linear/top1": acc, "n_test": 400}, tags={"seed": "0"},
             params={"dataset": "imagenet", **imagenet})
        _log(client, exp_id, cells=[["table2", row, "voc07_map", "voc07_svm/map"]],
             metrics={"voc07_svm/map": m, "n_test": 100}, params={"dataset": "voc2007",
                                                                  "test_class_counts": json.dumps([10, 30])})
    # Table 5: R@20 over 2 classes of 6 training videos each is saturated
    _log(client, exp_id, cells=[["table5", "Vi2CLR", "ucf_r20", "retrieval/r20"], ["table5", "Vi2CLR", "ucf_r1",
                                                                                   "retrieval/r1"]],
         metrics={"retrieval/r20": 1.0, "retrieval/r1": 0.6, "n_test": 20}, params={
             "dataset": "ucf101", "train_class_counts": json.dumps([6, 6]), "test_class_counts": json.dumps([10, 10])})
    p = Params()
    p.tracking.uri = uri
    out = root / "reports"
    result = write_tables(p, out)
    return (out / "tables.md").read_text(), result


def _table(md: str, n: int) -> str:
    return md.split(f"## Table {n}:")[1].split("## Table")[0]


def _row(section: str, name: str) -> list[str]:
    line = next(row for row in section.splitlines() if row.startswith(f"| {name} |"))
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[2:-1]]


def test_every_ours_cell_has_an_interval_and_n(rendered):
    md, result = rendered
    assert result["cells"]
    for cell in result["cells"]:
        assert cell["n"] >= 1
        if cell["metric"] != "voc07_svm/map":
            assert cell["ci_low"] is not None and cell["ci_low"] <= cell["ours_mean"] <= cell["ci_high"]
    # three pretraining seeds are three runs, not one overwriting the others
    finch = _row(_table(md, 1), "Vi2CLR (FINCH)")[0]
    assert re.fullmatch(r"71\.0 ± 2\.5 \(n=3\) \\\| 65\.5", finch), finch
    assert {c["n"] for c in result["cells"] if c["table"] in ("table1", "table6")} == {3}


def test_single_runs_get_wilson_for_accuracy_and_a_dagger_for_map(rendered):
    md, _ = rendered
    acc, voc = _row(_table(md, 2), "Vi2CLR")
    assert re.fullmatch(r"70\.0 \[65\.\d, 74\.\d\] \(n=1, 400 items\) \\\| 74\.6", acc), acc
    assert voc.startswith("55.0 (n=1)†")


def test_chance_levels_and_saturation(rendered):
    md, _ = rendered
    t2 = _table(md, 2)
    assert _row(t2, "chance level (ours)") == ["12.5", "20.0"]
    t5 = _table(md, 5)
    chance = _row(t5, "chance level (ours)")
    assert chance[0] == "50.0" and chance[3] == "100.0"
    header = next(row for row in t5.splitlines() if row.startswith("| row"))
    assert "ucf_r20 (sat.)" in header and "ucf_r1 (sat.)" not in header
    assert _row(_table(md, 7), "chance level (ours)")[2] == "—"  # kinetics400: no run of ours, nothing to guess


def test_findings_line_calls_clear_differences_and_leaves_overlap_unresolved(rendered):
    md, result = rendered
    verdicts = {f["claim"]: f["verdict"] for f in result["findings"]["table1"]}
    assert verdicts == {"Vi2CLR (FINCH) > Vi2CLR (K-means) (epoch_50)": "holds",
                        "Vi2CLR (FINCH) > Vi2CLR (K-means) (epoch_100)": "not resolved"}
    line = next(row for row in _table(md, 1).splitlines() if row.startswith("*Paper's orderings"))
    assert "holds (1): Vi2CLR (FINCH) > Vi2CLR (K-means) (epoch_50)" in line
    assert "not resolved (1): Vi2CLR (FINCH) > Vi2CLR (K-means) (epoch_100)" in line
    assert "family-wise (Holm over this table's 2)" in line and "uncorrected 95 % would say" in line
    t1 = {f["claim"]: f for f in result["findings"]["table1"]}
    clear = t1["Vi2CLR (FINCH) > Vi2CLR (K-means) (epoch_50)"]
    assert clear["p_adjusted"] >= clear["p_value"] and clear["nominal_verdict"] == "holds"
    # Table 2: pretrained vs random init, single runs on 400 items, 70 % vs 40 %: Newcombe says holds
    t2 = {f["claim"]: f["verdict"] for f in result["findings"]["table2"]}
    assert t2["Vi2CLR > Random init (ours) (imagenet_top1)"] == "holds"
    assert t2["Vi2CLR > Random init (ours) (voc07_map)"] == "not resolved"  # no interval for one mAP
    # Table 6: the paper's full > ImgNCE-only on ImageNet; ours overlap
    t6 = {f["claim"]: f["verdict"] for f in result["findings"]["table6"]}
    assert t6 == {"Vi2CLR full > Vi2CLR-ImgNCE only (imagenet_top1)": "not resolved"}


def test_single_stream_rows_render_a_dash_for_the_untrained_stream(rendered):
    md, result = rendered
    img_only = _row(_table(md, 6), "Vi2CLR-ImgNCE only")
    assert img_only[2] == "— \\| —" and img_only[3] == "— \\| —"
    assert "(n=3)" in img_only[0]
    assert "(n=3)" in _row(_table(md, 6), "Vi2CLR full")[2]
    assert not [c for c in result["cells"] if c["row"] == "Vi2CLR-ImgNCE only" and c["col"] == "ucf101_top1"]


def test_table1_columns_name_our_epochs_beside_the_papers(rendered):
    md, _ = rendered
    header = next(row for row in _table(md, 1).splitlines() if row.startswith("| row"))
    assert "| epoch_50: ep 5 of 8 (paper: 50 of 300) | epoch_100: ep 6 of 8 (paper: 100 of 300) |" in header


def test_table4_rows_quoting_misplaced_columns_are_uncertain():
    t4 = load_paper_tables()["table4"]
    for row in ("PCL (200 ep)", "Pseudolabels (semi-supervised)", "Jigsaw (90 ep)", "SimCLR (200 ep)",
                "MoCo (200 ep)", "S4L Rotation (semi-supervised)"):
        assert row in t4.uncertain
    assert "UDA (label-propagation)" not in t4.uncertain and "Supervised" not in t4.uncertain


def test_reports_name_a_store_in_the_project_by_its_relative_path(tmp_path, monkeypatch):
    from vi2clr.tables import shown_store

    monkeypatch.chdir(tmp_path)
    assert shown_store(f"sqlite:///{tmp_path / 'mlflow.db'}") == "sqlite:///mlflow.db"
    assert shown_store("sqlite:////elsewhere/mlflow.db") == "sqlite:////elsewhere/mlflow.db"
    assert shown_store("http://tracking:5000") == "http://tracking:5000"


def test_tables_stage_imports_no_torch():
    """`vi2clr tables` reads metrics, cells and layouts: no torch (it was ~8 s of its stage)."""
    code = ("import sys, vi2clr.tables, vi2clr.data.layouts, vi2clr.evaluate.cells\n"
            "assert 'torch' not in sys.modules, [m for m in sys.modules if m.startswith('vi2clr')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_experiment_rows_are_held_to_their_base_rows_orderings_within_their_experiment():
    """A `dvc exp run`'s rows ("ROW [exp]") inherit the paper's orderings of their base rows, compared
    only inside the experiment; random init: the experiment's own row, else the main pipeline's."""
    from vi2clr.tables import Cell, paper_orderings

    papers = load_paper_tables()
    t1 = papers["table1"]
    col = t1.columns[0]
    rows = ["Vi2CLR (FINCH)", "Vi2CLR (K-means)", "Vi2CLR (FINCH) [big]", "Vi2CLR (K-means) [big]",
            "Vi2CLR (K-means) [other]"]
    claims = set(paper_orderings(t1, {("table1", r, col): Cell() for r in rows}))
    assert claims == {("Vi2CLR (FINCH)", "Vi2CLR (K-means)", col),
                      ("Vi2CLR (FINCH) [big]", "Vi2CLR (K-means) [big]", col)}

    t2 = papers["table2"]
    col = t2.columns[0]
    rows = ["Vi2CLR", "Random init (ours)", "Vi2CLR [scale]", "Random init (ours) [scale]", "Vi2CLR [epochs]"]
    claims = {(a, b) for a, b, _c in paper_orderings(t2, {("table2", r, col): Cell() for r in rows})}
    assert claims == {("Vi2CLR", "Random init (ours)"), ("Vi2CLR [epochs]", "Random init (ours)"),
                      ("Vi2CLR [scale]", "Random init (ours) [scale]")}


def test_an_experiment_in_the_store_is_its_own_holm_family():
    """Adding a `dvc exp run`'s rows to the store never changes the main pipeline's verdicts: each
    experiment's orderings are Holm-adjusted on their own, and the findings line has one per family."""
    from vi2clr.tables import Cell, RunValue, findings, findings_line

    t2 = load_paper_tables()["table2"]
    col = t2.columns[0]

    def cell(values):
        return Cell("image_linear/top1", [RunValue(v, f"r{i}") for i, v in enumerate(values)])

    main = {("table2", "Vi2CLR", col): cell([30.0, 31.0, 29.0]),
            ("table2", "Random init (ours)", col): cell([20.0, 21.0, 19.5])}
    alone = findings(t2, main)
    experiment = {("table2", "Vi2CLR [x]", col): cell([22.0, 30.0, 18.0]),
                  ("table2", "Random init (ours) [x]", col): cell([20.0, 21.0, 19.5])}
    both = findings(t2, {**main, **experiment})
    assert [f.comparison for f in both if f.family == ""] == [f.comparison for f in alone]
    assert {f.claim: f.family for f in both if f.family} == {f"Vi2CLR [x] > Random init (ours) [x] ({col})": " [x]"}
    line = findings_line(both)
    assert line.count("*Paper's orderings") == 2 and "Holm over experiment [x]'s 1" in line


def test_an_experiment_borrows_the_main_random_init_only_if_it_was_measured_alike(tmp_path):
    """An experiment without random-init runs of its own is compared with the main pipeline's only
    when both were measured alike (same data tags, eval/model params, threads). A `dvc exp run` with
    stage targets that changed the data without rerunning `eval_random` gets no such ordering: the
    tables name it as not tested. Seed-dependent data (the semi-supervised protocol's labelled subset
    is drawn with the evaluation seed) is compared seed by seed."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("vi2clr")
    cell = [["table2", "Vi2CLR", "imagenet_top1", "image_linear/top1"]]
    alike = {"eval.linear.lr": "0.1", "model.image_encoder.name": "tiny2d", "compute.threads": "1",
             "dataset": "imagenet", "num_classes": 8}

    def log(row, value, *, pretrain_seed, eval_seed, digest, exp=None, params=alike):
        tags = {"pretrain_seed": str(pretrain_seed), "eval_seed": str(eval_seed), "data_digest": digest,
                "data_files_digest": digest + "-files", **({"dvc.exp_name": exp} if exp else {})}
        _log(client, exp_id, cells=[[*cell[0][:1], row, *cell[0][2:]]], tags=tags, params=params,
             metrics={"image_linear/top1": value, "n_test": 400})

    for s in range(3):  # the main pipeline: random init draws its data with each evaluation seed
        log("Random init (ours)", 0.20 + 0.01 * s, pretrain_seed=s, eval_seed=s, digest=f"subset-seed{s}")
        log("Vi2CLR", 0.60 + 0.01 * s, pretrain_seed=s, eval_seed=0, digest="subset-seed0")
        log("Vi2CLR", 0.62 + 0.01 * s, pretrain_seed=s, eval_seed=0, digest="subset-seed0", exp="lr-two")
        log("Vi2CLR", 0.63 + 0.01 * s, pretrain_seed=s, eval_seed=0, digest="other-family", exp="family")
        log("Vi2CLR", 0.64 + 0.01 * s, pretrain_seed=s, eval_seed=0, digest="subset-seed0", exp="wide",
            params={**alike, "model.image_encoder.name": "resnet18"})
    p = Params()
    p.tracking.uri = uri
    result = write_tables(p, tmp_path / "reports")
    claims = {f["claim"] for f in result["findings"]["table2"]}
    col = "imagenet_top1"
    assert claims == {f"Vi2CLR > Random init (ours) ({col})", f"Vi2CLR [lr-two] > Random init (ours) ({col})"}
    assert result["untested"] == {"table2": [f"Vi2CLR [family] > Random init (ours) ({col})",
                                             f"Vi2CLR [wide] > Random init (ours) ({col})"]}
    md = (tmp_path / "reports" / "tables.md").read_text()
    line = next(row for row in _table(md, 2).splitlines() if row.startswith("*Not tested (experiment [family], 1)"))
    assert "name `eval_random` among the experiment's targets" in line
    assert "*Not tested (experiment [wide], 1)" in md
