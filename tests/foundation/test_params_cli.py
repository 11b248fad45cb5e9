"""Params validation and overrides, through the library and through the CLI (Typer's CliRunner)."""

import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vi2clr.cli import app
from vi2clr.config import ParamsError, apply_overrides, flatten, load_params

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_repo_params_file_is_valid():
    p = load_params(ROOT / "params.yaml")
    assert p.pretrain.loss.tau == pytest.approx(0.08)
    assert p.model.proj_dim == 128


def test_paper_params_file_is_valid():
    p = load_params(ROOT / "pipelines" / "paper" / "params.yaml")
    assert p.model.video_encoder.name == "s3d" and p.model.image_encoder.name == "resnet50"
    assert (p.pretrain.epochs, p.pretrain.batch_size, p.pretrain.size, p.pretrain.num_frames) == (300, 64, 128, 32)
    assert p.pretrain.optim.name == "adam" and p.pretrain.optim.lr == 0.01
    assert p.pretrain.optim.milestones == [100, 200]


def test_learning_scale_overrides_are_valid_params():
    """studies/learning_scale.sh's -S overrides name existing keys, validate, and keep Table 1's epochs."""
    words = shlex.split((ROOT / "studies" / "learning_scale.sh").read_text().replace("\\\n", " "), comments=True)
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "-S"]
    assert len(overrides) == 7
    known = flatten(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert all(o.partition("=")[0] in known for o in overrides)
    p = load_params(ROOT / "params.yaml", overrides)
    assert (p.data.synth.kinetics_train_per_class, p.data.synth.imagenet_train_per_class, p.pretrain.epochs) == (160, 160, 30)
    table1 = sorted(p.eval.table1_epochs.values())
    assert table1 == p.pretrain.keep_epochs and p.pretrain.clustering.warmup_epochs < table1[0] < table1[-1] < p.pretrain.epochs


def test_overrides_are_yaml_typed(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("pretrain:\n  epochs: 3\n")
    p = load_params(f, ["pretrain.optim.lr=1e-3", "pretrain.optim.milestones=[1, 2]", "pretrain.amp=bf16",
                        "pretrain.loss.center.enabled=false"])
    assert p.pretrain.epochs == 3
    assert p.pretrain.optim.lr == pytest.approx(1e-3)
    assert p.pretrain.optim.milestones == [1, 2]
    assert p.pretrain.amp == "bf16"
    assert p.pretrain.loss.center.enabled is False


def test_errors_name_the_key_path(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("pretrain:\n  optim:\n    lr: -1\n  epochz: 3\n")
    with pytest.raises(ParamsError) as err:
        load_params(f)
    lines = err.value.lines
    assert "pretrain.optim.lr: Input should be greater than 0" in lines
    assert "pretrain.epochz: unknown key" in lines


def test_ablation_row_then_overrides(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump({"pretrain": {"epochs": 3, "clustering": {"partition": 0}},
                                 "ablations": {"kmeans": {"pretrain": {"clustering": {"method": "kmeans"},
                                                                       "seed": 4}}}}))
    p = load_params(f, ["pretrain.seed=5"], ablation="kmeans")
    assert p.pretrain.clustering.method == "kmeans" and p.pretrain.seed == 5
    assert p.pretrain.clustering.partition == 0 and p.pretrain.epochs == 3  # merged, not replaced
    with pytest.raises(ParamsError, match="ablations.nope: no such row"):
        load_params(f, [], ablation="nope")


def test_apply_overrides_refuses_to_descend_into_a_value():
    with pytest.raises(ParamsError, match="pretrain.epochs: is a value"):
        apply_overrides({"pretrain": {"epochs": 3}}, ["pretrain.epochs.x=1"])


def test_flatten():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2], "d": None}


def test_digest_changes_with_params():
    a = load_params(None)
    b = load_params(None, ["pretrain.optim.lr=0.5"])
    assert a.digest() != b.digest() and a.digest() == load_params(None).digest()


@pytest.mark.parametrize("cmd", [["data", "synth"], ["data", "index"], ["data", "subset"], ["pretrain"],
                                 ["tables"]])
def test_cli_bad_override_exits_2_with_one_line_per_error(cmd, tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("{}\n")
    res = runner.invoke(app, [*cmd, "--params", str(f), "-S", "pretrain.optim.lr=0", "-S", "data.synth.size=x"])
    assert res.exit_code == 2, res.output
    err = res.stderr
    assert "error: pretrain.optim.lr: Input should be greater than 0" in err
    assert "error: data.synth.size: Input should be a valid integer" in err
    assert "Traceback" not in err


def test_cli_bad_encoder_frames_exits_2_naming_the_key(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("model: {video_encoder: {name: tiny3d}, image_encoder: {name: resnet50}}\n")
    for override, says in (("model.video_encoder.kwargs.frames=flow", "kwargs.frames 'flow': choose one of rgb, residual"),
                           ("model.image_encoder.kwargs.frames=residual", "only a video encoder takes residual frames")):
        res = runner.invoke(app, ["pretrain", "--params", str(f), "-S", override])
        assert res.exit_code == 2, res.output
        assert says in res.stderr and "Traceback" not in res.stderr


def test_cli_bad_encoder_option_exits_2_naming_the_key(tmp_path):
    """An encoder option the constructor does not take, or an impossible size, is a user's mistake:
    exit 2 with one line before any work, not the constructor's traceback."""
    f = tmp_path / "params.yaml"
    f.write_text("model: {video_encoder: {name: tiny3d}, image_encoder: {name: tiny2d}}\n")
    for override, says in (("model.image_encoder.kwargs.depht=2", "kwargs.depht: tiny2d has no such option (options: width, depth, frames)"),
                           ("model.image_encoder.kwargs.depth=0", "kwargs.depth 0: must be an integer >= 1"),
                           ("model.video_encoder.kwargs.width=2.5", "kwargs.width 2.5: must be an integer >= 1"),
                           ("model.video_encoder.kwargs.depth=2", "kwargs.depth: tiny3d has no such option (options: width, frames)")):
        res = runner.invoke(app, ["pretrain", "--params", str(f), "-S", override])
        assert res.exit_code == 2, res.output
        assert says in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = runner.invoke(app, ["pretrain", "--params", str(f), "-S", "model.image_encoder.name=resnet18",
                              "-S", "model.image_encoder.kwargs.width=8"])
    assert res.exit_code == 2 and "resnet18 has no such option (options: frames)" in res.stderr


def test_cli_malformed_override_and_missing_file(tmp_path):
    res = runner.invoke(app, ["pretrain", "--params", str(tmp_path / "params.yaml"), "-S", "nokey"])
    assert res.exit_code == 2
    assert "cannot read params file" in res.stderr
    f = tmp_path / "p.yaml"
    f.write_text("a: [\n")
    res = runner.invoke(app, ["pretrain", "--params", str(f)])
    assert res.exit_code == 2 and "invalid YAML" in res.stderr


def test_every_command_has_help():
    for cmd in [[], ["data"], ["data", "synth"], ["data", "index"], ["data", "subset"], ["pretrain"], ["eval"],
                ["tables"], ["ui"], ["seeds"]]:
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0, (cmd, res.output)
        assert "Usage" in res.output


def test_ablation_rows_and_eval_suites_match_the_dvc_outputs():
    """dvc.yaml's pretrain@<row> writes seed <S> to runs/pretrain/<row>/seed<S>; the suite of the same
    name reads <encoders>/seed<S>, so every pretrained row has exactly one suite and vice versa."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = load_params(ROOT / "params.yaml")
    assert set(raw["ablations"]) == set(p.eval_suites)
    for name in raw["ablations"]:
        assert p.eval_suites[name].encoders == f"runs/pretrain/{name}"
        assert "out_dir" not in (raw["ablations"][name].get("pretrain") or {}), "the pipeline sets out_dir per seed"
    dvc = (ROOT / "dvc.yaml").read_text()
    assert "-S pretrain.seed={seed}" in dvc and "-S pretrain.out_dir=runs/pretrain/${key}/seed{seed}" in dvc
    assert "eval suite ${key} --seed {seed}" in dvc and "- runs/pretrain/${key}\n" in dvc
    assert len(p.seeds.pretrain) >= 3 and len(p.seeds.random_init) >= 3


def test_a_typo_in_an_ablation_row_fails_up_front(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump({"ablations": {"bad": {"pretrain": {"lossx": 1}}}}))
    with pytest.raises(ParamsError, match="ablations.bad: pretrain.lossx: unknown key"):
        load_params(f)
