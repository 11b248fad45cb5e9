"""Deterministic pipeline: on one machine, the same params and data give the same weights and the
same reports, whatever the process. Two real `vi2clr pretrain` processes (different hash seeds) and
two evaluation suites must write identical `reports/` files (run ids and wall-clock times live in
MLflow only, `vi2clr.reports.reproducible`)."""

from __future__ import annotations

import json

import torch
from _support import run_cli


def _state(path):
    return torch.load(path, weights_only=True)["model"]


def test_two_pretraining_processes_write_identical_weights_and_reports(tiny_project):
    for name, hash_seed in (("a", "1"), ("b", "4242")):
        run_cli(["pretrain", "-S", f"pretrain.out_dir=runs/pretrain/{name}", "-S", "pretrain.keep_epochs=[]"],
                cwd=tiny_project, env={"PYTHONHASHSEED": hash_seed})
    a, b = _state(tiny_project / "runs/pretrain/a/last.pt"), _state(tiny_project / "runs/pretrain/b/last.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs between two identical runs"
    for report in ("metrics.json", "history.csv"):
        ra = (tiny_project / "reports/pretrain/a" / report).read_text()
        rb = (tiny_project / "reports/pretrain/b" / report).read_text()
        assert ra == rb, f"reports/pretrain/*/{report} differs between two identical runs"
    metrics = json.loads((tiny_project / "reports/pretrain/a/metrics.json").read_text())
    assert not any(k.startswith(("time/", "throughput/")) or k == "mlflow_run_id" for k in metrics)
    header = (tiny_project / "reports/pretrain/a/history.csv").read_text().splitlines()[0]
    assert "clips_per_s" not in header and "time" not in header  # wall-clock figures stay in MLflow


def test_two_evaluation_processes_write_identical_reports(tiny_project):
    outs = []
    for hash_seed in ("1", "4242"):
        run_cli(["eval", "suite", "random", "-S", "eval_random.protocols=[image-linear, voc-svm, retrieval]",
                 "-S", "eval.feature_cache=features" + hash_seed], cwd=tiny_project, env={"PYTHONHASHSEED": hash_seed})
        outs.append((tiny_project / "reports/eval/random/metrics.json").read_text())
    assert outs[0] == outs[1]
    assert "time/seconds" not in outs[0]
