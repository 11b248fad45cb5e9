"""`vi2clr data index|subset`: `index` as a user types it (real console script), `subset` in process
(the same CLI, no interpreter start-up), and bad videos during a real pretraining."""

from __future__ import annotations

import json

import yaml
from _support import invoke_cli, mlflow_runs, run_cli, tiny_params


def test_index_prints_class_and_split_counts_and_writes_index_files(tiny_project):
    res = run_cli(["data", "index"], cwd=tiny_project, env={"COLUMNS": "200"})
    for layout in ("kinetics400", "ucf101", "hmdb51", "imagenet", "voc2007"):
        assert layout in res.stdout
    assert (tiny_project / "data/index/kinetics400_train.json").exists()
    assert (tiny_project / "data/index/voc2007_test.json").exists()


def test_subset_writes_a_deterministic_index_that_pretraining_reads(tiny_project):
    args = ["data", "subset", "-S", "data.subset.num_classes=2", "-S", "data.subset.per_class=3",
            "-S", "data.subset.out=subset.json"]
    invoke_cli(args, cwd=tiny_project)
    first = (tiny_project / "subset.json").read_text()
    invoke_cli(args, cwd=tiny_project)
    assert (tiny_project / "subset.json").read_text() == first
    rows = [json.loads(line) for line in first.splitlines()]
    assert sum(1 for r in rows if "path" in r) == 6
    invoke_cli(["pretrain", "-S", "data.kinetics400.index=subset.json", "-S", "pretrain.epochs=1",
             "-S", "pretrain.batch_size=4", "-S", "pretrain.keep_epochs=[]"], cwd=tiny_project)

    invoke_cli(["data", "subset", "-S", "data.subset.out=all.json"], cwd=tiny_project)  # null/null: the whole split
    whole = [json.loads(line) for line in (tiny_project / "all.json").read_text().splitlines()]
    assert len(whole[0]["classes"]) == 4 and sum(1 for r in whole if "path" in r) > 6

    res = invoke_cli(["data", "subset", "-S", "data.subset.num_classes=99"], cwd=tiny_project, check=False)
    assert res.returncode == 1 and "data.subset.num_classes" in res.stderr


def test_corrupt_and_empty_videos_are_skipped_and_counted(tmp_path):
    raw = tiny_params({"data.synth.corrupt": 1, "data.synth.zero_length": 1, "pretrain.epochs": 1,
                       "pretrain.clustering.warmup_epochs": 0, "pretrain.keep_epochs": []})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    invoke_cli(["data", "synth"], cwd=tmp_path)
    res = run_cli(["pretrain"], cwd=tmp_path)  # a real process: the skip warnings reach its stderr
    assert "skipping" in res.stderr.lower() or "skip" in res.stderr.lower()
    run = mlflow_runs(tmp_path)[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["data/skipped_videos"] >= 2
