"""Protocol fixes of issue 10 (a, d, e, f) and the statistics tags: each test fails on the old code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from vi2clr.config import Params, ParamsError, load_params
from vi2clr.data.datasets import ImageFolderIndex, make_loader
from vi2clr.data.index import Index, Sample
from vi2clr.data.transforms import image_train_transform
from vi2clr.evaluate.finetune import finetune_classifier
from vi2clr.evaluate.linear import train_linear_probe
from vi2clr.evaluate.sgd import SGDSettings

REPO = Path(__file__).resolve().parents[2]


class RecordingEncoder(nn.Module):
    """Mean colour per channel (B, 3) of its inputs; keeps every batch it saw."""

    out_dim = 3

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            self.seen.append(x.detach().clone())
        return x.mean(dim=(2, 3)) * self.scale


def _image_index(tmp_path: Path, n: int = 4) -> Index:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        samples.append(Sample(f"{i}.png", i % 2, "ab"[i % 2], "train"))
    return Index("t", tmp_path, ["a", "b"], samples)


def _train_loader(tmp_path: Path):
    """An augmented evaluation loader in fixed order, so epochs can be compared item by item."""
    return make_loader(ImageFolderIndex(_image_index(tmp_path), image_train_transform(32)), 4, shuffle=False)


# ----------------------------------------------------------------------------- (a) set_epoch


def test_an_augmented_loader_repeats_its_crops_unless_the_epoch_advances(tmp_path):
    loader = _train_loader(tmp_path)
    first, again = next(iter(loader))["image"], next(iter(loader))["image"]
    assert torch.equal(first, again)  # why the loops must call set_epoch
    loader.dataset.set_epoch(1)
    assert not torch.equal(first, next(iter(loader))["image"])


@pytest.mark.parametrize("loop", ["linear_probe", "finetune"])
def test_two_epochs_of_an_evaluation_loop_see_different_crops(tmp_path, loop):
    loader = _train_loader(tmp_path)
    enc = RecordingEncoder()
    sgd = SGDSettings(lr=0.01, epochs=2)
    if loop == "linear_probe":  # the encoder runs under no_grad in eval mode: record through a hook
        seen: list[torch.Tensor] = []
        enc.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
        train_linear_probe(enc, loader, loader, 2, sgd=sgd)
    else:
        finetune_classifier(enc, 3, 2, loader, loader, sgd=sgd)
        seen = enc.seen
    epoch0, epoch1 = seen[0], seen[1]  # one batch per epoch (4 images, batch 4)
    assert epoch0.shape == epoch1.shape == (4, 3, 32, 32)
    assert not torch.equal(epoch0, epoch1)


# ----------------------------------------------------------------------------- (d) temporal stride


def test_eval_clips_use_the_pretraining_stride_by_default_and_it_is_validated():
    for path in (REPO / "params.yaml", REPO / "pipelines" / "paper" / "params.yaml"):
        raw = yaml.safe_load(path.read_text())
        assert raw["eval"]["stride"] == raw["pretrain"]["stride"], path
    assert Params.model_fields["eval"].default.stride == 2
    with pytest.raises(ParamsError, match="stride"):
        load_params(REPO / "params.yaml", ["eval.stride=0"])


def test_eval_video_loaders_and_feature_keys_carry_the_stride(tmp_path, monkeypatch):
    from vi2clr.commands.evaluate import inputs
    from vi2clr.commands.evaluate.context import EvalContext

    p = load_params(REPO / "params.yaml", ["eval.stride=3"])
    index = Index("v", tmp_path, ["a"], [Sample("x.mp4", 0, "a", "train")])
    assert inputs.video_test_loader(p, index).dataset.stride == 3
    assert inputs.video_train_loader(p, index, 1).dataset.stride == 3
    keys = []
    monkeypatch.setattr(inputs, "cached_features", lambda cache, key, compute: keys.append(key))
    ctx = EvalContext(p, "t", None, {})
    inputs.video_features(ctx, nn.Identity(), "digest", index, "windows")
    assert "stride=3" in keys[0]["transform"]


# ----------------------------------------------------------------------------- (e) semi-supervised head lr


def test_semisup_head_learns_at_lr_times_the_swav_multiplier():
    from vi2clr.commands.evaluate.protocols import semisup_recipe

    fp = load_params(REPO / "params.yaml").eval.semisup
    (sgd1, mult1), (sgd10, mult10) = semisup_recipe(fp, 1), semisup_recipe(fp, 10)
    assert (mult1, mult10) == (250.0, 20.0) and sgd1.gamma == sgd10.gamma == 0.2

    x = torch.randn(8, 3, 4, 4)
    loader = [(x, torch.tensor([0, 1] * 4))]
    lrs: list[dict] = []
    sgd = SGDSettings(lr=0.01, epochs=3, milestones=(1,), gamma=sgd1.gamma)
    finetune_classifier(RecordingEncoder(), 3, 2, loader, loader, sgd=sgd, head_lr_mult=mult1,
                        progress=lambda epoch, m: lrs.append(m))
    assert lrs[0]["lr"] == pytest.approx(0.01) and lrs[0]["lr/group1"] == pytest.approx(0.01 * 250)
    assert lrs[1]["lr/group1"] == pytest.approx(0.01 * 250 * 0.2)  # decayed × gamma at the milestone


# ----------------------------------------------------------------------------- (f) VOC07 SVM costs


def test_paper_scale_svm_costs_are_the_benchmark_list():
    from vi2clr.evaluate.svm import BENCHMARK_COSTS

    costs = load_params(REPO / "pipelines" / "paper" / "params.yaml").eval.svm.costs
    expected = [10.0**k for k in range(-7, 3)] + [0.5**k for k in range(4, 20)]  # parse_cost_list
    assert costs == pytest.approx(expected) and list(BENCHMARK_COSTS) == pytest.approx(expected)
    assert len(costs) == 26


# ----------------------------------------------------------------------------- seeds and n_test on every run


def test_pretrain_seed_is_read_from_the_pretraining_folder(tmp_path):
    from vi2clr.commands.evaluate.context import pretrain_seed

    (tmp_path / "epoch_0005").mkdir()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"pretrain": {"seed": 7}}))
    assert pretrain_seed(tmp_path / "image_encoder.pt", {}) == 7
    assert pretrain_seed(tmp_path / "epoch_0005" / "image_encoder.pt", {}) == 7
    assert pretrain_seed(tmp_path / "x.pt", {"seed": 3}) == 3
    assert pretrain_seed(tmp_path / "epoch_0005" / "a" / "x.pt", {}) is None


def test_every_eval_run_carries_both_seeds_and_n_test(tmp_path, monkeypatch):
    from _support import mlflow_runs

    from vi2clr.commands.evaluate.context import EvalContext
    from vi2clr.commands.evaluate.recording import dataset_run
    from vi2clr.evaluate.cells import paper_cell

    monkeypatch.chdir(tmp_path)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    p = load_params(REPO / "params.yaml", [f"tracking.uri={store}", "eval.seed=4"])
    ctx = EvalContext(p, "t", tmp_path, {})
    with dataset_run(ctx, "voc-svm", "voc2007", [paper_cell("table2", "r", "voc07_map")],
                     meta={"pretrain_run_id": "x", "pretrain_seed": 2}, scale="", split="test") as run:
        run.finish({"voc07_svm/map": 0.5}, 40)
    run = mlflow_runs(store, experiment=p.tracking.experiment)[0]
    assert run.data.tags["pretrain_seed"] == "2" and run.data.tags["eval_seed"] == "4"
    assert run.data.metrics["n_test"] == 40 and run.info.status == "FINISHED"


def test_dataset_runs_open_before_their_work_and_fail_with_it(tmp_path, monkeypatch):
    """The per-data-set run exists (RUNNING) while its work runs, and a crash in the work closes
    it FAILED with no result metrics."""
    from _support import mlflow_runs

    from vi2clr.commands.evaluate.context import EvalContext
    from vi2clr.commands.evaluate.recording import dataset_run
    from vi2clr.evaluate.cells import paper_cell

    monkeypatch.chdir(tmp_path)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    p = load_params(REPO / "params.yaml", [f"tracking.uri={store}"])
    ctx = EvalContext(p, "t", tmp_path, {})
    cells = [paper_cell("table2", "r", "voc07_map")]
    with pytest.raises(RuntimeError, match="in the work"):
        with dataset_run(ctx, "voc-svm", "voc2007", cells, meta={}, scale="", split="test"):
            (during,) = mlflow_runs(store, experiment=p.tracking.experiment)
            assert during.info.status == "RUNNING" and during.data.tags["dataset"] == "voc2007"
            raise RuntimeError("crash in the work")
    (after,) = mlflow_runs(store, experiment=p.tracking.experiment)
    assert after.info.run_id == during.info.run_id and after.info.status == "FAILED"
    assert "n_test" not in after.data.metrics and not ctx.results
