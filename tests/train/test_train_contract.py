"""The user-error contract of `vi2clr pretrain`, the resume guard that survives edits, and the
console a training run leaves behind (one plain line per epoch on a non-TTY)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from _support import REPO, run_cli
from typer.testing import CliRunner

from vi2clr.cli import app
from vi2clr.config import ParamsError, load_params

runner = CliRunner()


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_missing_data_root_is_one_line_exit_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["pretrain", "-p", str(REPO / "params.yaml"),
                                 "-S", "data.kinetics400.root=/nonexistent"])
    assert result.exit_code == 1, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "/nonexistent" in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("override, word", [("model.video_encoder.name=s4d", "unknown encoder 's4d'"),
                                            ("model.video_encoder.name=resnet50", "not a video one")])
def test_unknown_or_wrong_kind_encoder_exits_2_before_any_work(tmp_path, monkeypatch, override, word):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["pretrain", "-p", str(REPO / "params.yaml"), "-S", override])
    assert result.exit_code == 2, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1 and lines[0].startswith("error: model") and word in lines[0]
    assert not (tmp_path / "runs").exists()  # nothing started


def test_encoder_names_are_validated_without_torch():
    code = ("import sys; from vi2clr.config import load_params, ParamsError\n"
            "try:\n    load_params(None, ['model.image_encoder.name=vit'])\nexcept ParamsError as e:\n"
            "    assert e.exit_code == 2 and 'vit' in e.lines[0]\nelse:\n    raise SystemExit('no error')\n"
            "assert 'torch' not in sys.modules, 'params validation imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_name_list_matches_the_registry():
    from vi2clr.models import encoder_kind, list_encoders
    from vi2clr.models.names import ENCODERS

    assert sorted(ENCODERS) == list_encoders()
    assert all(encoder_kind(n) == k for n, k in ENCODERS.items())


def test_code_defaults_are_the_papers():
    p = load_params(None)
    assert (p.model.video_encoder.name, p.model.image_encoder.name) == ("s3d", "resnet50")
    t = p.pretrain
    assert (t.epochs, t.size, t.num_frames, t.batch_size, t.optim.name, t.optim.lr, t.optim.milestones) == \
        (300, 128, 32, 64, "adam", 0.01, [100, 200])
    assert t.loss.tau == 0.08 and t.clustering.method == "finch" and t.clustering.warmup_epochs == 0


def test_training_digest_ignores_what_does_not_change_training():
    base = load_params(REPO / "params.yaml")
    same = ["eval.size=96", "pretrain.epochs=20", "pretrain.out_dir=elsewhere", "pretrain.log_every=1",
            "pretrain.progress=false", "pretrain.tags={a: b}", "pretrain.keep_epochs=[1]", "pretrain.keep_every=3",
            "data.num_workers=0", "tracking.experiment=x", "compute.seed_jobs=4"]
    for o in same:
        assert load_params(REPO / "params.yaml", [o]).training_digest() == base.training_digest(), o
    for o in ["pretrain.optim.lr=0.5", "model.proj_dim=64", "pretrain.seed=1", "data.kinetics400.split=val",
              "pretrain.loss.center.enabled=false", "compute.threads=2"]:
        assert load_params(REPO / "params.yaml", [o]).training_digest() != base.training_digest(), o
    with pytest.raises(ParamsError):
        load_params(REPO / "params.yaml", ["model.image_encoder.name=s3d"])


def test_epoch_lines_and_resume_across_edits(tiny_project, monkeypatch):
    """A pretraining's stderr (not a TTY) has one plain line per epoch and no blank lines; resuming
    the finished run after an ``eval.*`` edit is a no-op that keeps metrics.json; raising
    ``pretrain.epochs`` on resume trains only the new epoch."""
    proc = run_cli(["pretrain", "-S", "pretrain.progress=true"], cwd=tiny_project)
    epoch_lines = [line for line in proc.stderr.splitlines() if " epoch " in f" {line}" and "clips/s" in line]
    assert len(epoch_lines) == 2, proc.stderr
    assert "epoch 1/2" in epoch_lines[0] and "epoch 2/2" in epoch_lines[1]
    assert "clusters=" in epoch_lines[1] and "center=" in epoch_lines[1] and "video=" in epoch_lines[1]
    assert "\n\n" not in proc.stderr

    from vi2clr.train.pretrain import run_pretrain

    out = tiny_project / "runs" / "pretrain" / "full"
    metrics = tiny_project / "reports" / "pretrain" / "full" / "metrics.json"
    before = json.loads(metrics.read_text())
    assert "epoch/loss_total" in before
    monkeypatch.chdir(tiny_project)
    run_pretrain(load_params("params.yaml", ["eval.size=48", "pretrain.log_every=3"]), resume=True)
    assert json.loads(metrics.read_text()) == before
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2

    run_pretrain(load_params("params.yaml", ["pretrain.epochs=3"]), resume=True)
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 3 and state["sampler"] == {"seed": 0, "epoch": 3}
    history = (tiny_project / "reports" / "pretrain" / "full" / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2", "3"]
    assert json.loads(metrics.read_text())["epoch/loss_total"] != before["epoch/loss_total"]
