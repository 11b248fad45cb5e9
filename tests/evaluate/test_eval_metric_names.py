"""Metric names are MLflow-safe; the one cell mapping covers every paper-table column and guards recording."""

import re

import pytest

from vi2clr.evaluate import cells as pc
from vi2clr.evaluate import metric_names as mn

# Columns of /work/shared/paper_tables.yaml (Table 7: per protocol, frozen and finetune).
PAPER_COLUMNS = {
    "table1": ["epoch_50", "epoch_100", "epoch_200"],
    "table2": ["imagenet_top1", "voc07_map"],
    "table3": ["k1", "k2", "k4", "k8", "k16"],
    "table4": ["pct1_top1", "pct1_top5", "pct10_top1", "pct10_top5"],
    "table5": ["ucf_r1", "ucf_r5", "ucf_r10", "ucf_r20", "hmdb_r1", "hmdb_r5", "hmdb_r10", "hmdb_r20"],
    "table6": ["imagenet_top1", "voc07_map", "ucf101_top1", "hmdb51_top1"],
    "table7": ["ucf101", "hmdb51", "kinetics400"],
}
MLFLOW_NAME = re.compile(r"^[/\w.\- :]*$")


def test_every_paper_column_has_a_cell():
    for table, columns in PAPER_COLUMNS.items():
        cells = pc.cells_for(table)
        if table == "table7":
            for protocol in ("frozen", "finetune"):
                assert [c.column for c in cells if c.select[mn.PARAM_PROTOCOL] == protocol] == columns
        else:
            assert [c.column for c in cells] == columns


def test_cells_match_the_shipped_paper_tables():
    from importlib import resources

    import pytest
    import yaml

    source = resources.files("vi2clr").joinpath("paper_tables.yaml")
    if not source.is_file():
        pytest.skip("vi2clr/paper_tables.yaml not shipped")
    raw = yaml.safe_load(source.read_text())
    for table, columns in PAPER_COLUMNS.items():
        assert raw[table]["columns"] == columns, table


def test_metric_names_are_mlflow_safe():
    names = [c.metric for cells in pc.TABLE_CELLS.values() for c in cells]
    names += [mn.retrieval_recall(50), mn.voc07_fewshot_std(16), mn.voc07_svm_class_ap("pottedplant")]
    assert all(MLFLOW_NAME.match(n) for n in names)
    assert mn.retrieval_recall(5) == "retrieval/r5" and mn.voc07_fewshot_mean(8) == "voc07_fewshot/k8_map_mean"


def test_results_convert_protocol_outputs_to_named_metrics():
    import numpy as np

    from vi2clr.evaluate.results import classification_metrics, voc07_fewshot_metrics, voc07_svm_metrics
    from vi2clr.evaluate.svm import FewShotResult

    assert classification_metrics({"top1": 0.5, "top5": 0.9, "train_loss": [1.0]}, "semisup") == {
        mn.SEMISUP_TOP1: 0.5,
        mn.SEMISUP_TOP5: 0.9,
    }
    svm = {"map": 0.8, "ap_per_class": np.array([0.7, 0.9]), "cost_per_class": [0.1, 1.0]}
    assert voc07_svm_metrics(svm, ["cat", "dog"]) == {
        "voc07_svm/map": 0.8,
        "voc07_svm/ap/cat": 0.7,
        "voc07_svm/cost/cat": 0.1,
        "voc07_svm/ap/dog": 0.9,
        "voc07_svm/cost/dog": 1.0,
    }
    few = voc07_fewshot_metrics({1: FewShotResult(0.4, 0.02, [0.38, 0.42])})
    assert few == {"voc07_fewshot/k1_map_mean": 0.4, "voc07_fewshot/k1_map_std": 0.02}


def test_recording_refuses_a_cell_outside_the_one_mapping(tmp_path, monkeypatch):
    """`dataset_run` is the only writer of the cells tag; a cell the mapping lacks stops it before any run."""
    from _support import tiny_params

    from vi2clr.commands.evaluate.context import EvalContext
    from vi2clr.commands.evaluate.recording import dataset_run
    from vi2clr.config import Params

    monkeypatch.chdir(tmp_path)
    ctx = EvalContext(Params.model_validate(tiny_params()), "t", None, {})
    known = pc.paper_cell("table2", "Vi2CLR", "voc07_map")
    assert known == ["table2", "Vi2CLR", "voc07_map", mn.VOC07_SVM_MAP]
    for bad in (["table2", "Vi2CLR", "voc07_map", mn.IMAGE_LINEAR_TOP1], ["table2", "Vi2CLR", "k1", mn.VOC07_SVM_MAP],
                ["table9", "Vi2CLR", "voc07_map", mn.VOC07_SVM_MAP]):
        with pytest.raises(KeyError):
            with dataset_run(ctx, "voc-svm", "voc2007", [bad], meta={}, scale="", split="test"):
                pass
    with pytest.raises(KeyError):
        pc.paper_cell("table7", "r", "ucf101")  # ambiguous without the protocol
    assert pc.paper_cell("table7", "r", "ucf101", protocol="frozen")[3] == mn.VIDEO_LINEAR_TOP1
    assert not (tmp_path / "mlflow.db").exists()
