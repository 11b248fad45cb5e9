"""``vi2clr`` command line: parse, validate params, call one function. Nothing else lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vi2clr.config import Params, ParamsError, load_params

app = typer.Typer(
    name="vi2clr",
    help="Vi2CLR: self-supervised video (3D) + image (2D) representation learning with clustering.\n\n"
    "Every command reads params.yaml (--params) and accepts repeatable -S key.path=value overrides.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Data: write the synthetic default, index layouts, make subsets.", no_args_is_help=True)
eval_app = typer.Typer(help="Downstream protocols of the paper (Tables 1-7), each an MLflow run.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="params file (YAML), one block per stage")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-S", help="override a param: key.path=value (value parsed as YAML); repeatable"),
]


def _params(path: Path, overrides: list[str] | None, ablation: str | None = None) -> Params:
    """Load and validate; on error print one line per problem and exit 2 before any work starts."""
    try:
        return load_params(path, overrides or [], ablation=ablation)
    except ParamsError as exc:
        for line in exc.lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# ----------------------------------------------------------------------------- data


@data_app.command("synth")
def data_synth(params: ParamsOpt = Path("params.yaml"), overrides: SetOpt = None) -> None:
    """Write the embedded synthetic data set (data.synth) in the real layouts of Kinetics-400,
    UCF101, HMDB51, ImageNet and VOC2007 under data.synth.root. Deterministic from data.synth.seed."""
    p = _params(params, overrides)
    from vi2clr.commands.data import synth

    synth(p)


@data_app.command("index")
def data_index(
    params: ParamsOpt = Path("params.yaml"),
    overrides: SetOpt = None,
    layouts: Annotated[Optional[list[str]], typer.Option("--layout", help="only these layouts")] = None,
) -> None:
    """Read each layout named in the data block (kinetics400, ucf101, hmdb51, imagenet, voc2007),
    print class and split counts, and write index files to data.index_dir."""
    p = _params(params, overrides)
    from vi2clr.commands.data import index

    index(p, layouts)


@data_app.command("subset")
def data_subset(params: ParamsOpt = Path("params.yaml"), overrides: SetOpt = None) -> None:
    """Write a deterministic Kinetics-400 subset (data.subset: num_classes x per_class, seed) as an
    index file (data.subset.out) that DVC can version."""
    p = _params(params, overrides)
    from vi2clr.commands.data import subset

    subset(p)


# ----------------------------------------------------------------------------- pretrain


@app.command("pretrain")
def pretrain(
    params: ParamsOpt = Path("params.yaml"),
    overrides: SetOpt = None,
    ablation: Annotated[Optional[str], typer.Option(help="apply the params row ablations.<NAME> (Tables 1, 6)")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the last checkpoint in out_dir")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="ignore existing checkpoints and start fresh")] = False,
    stage: Annotated[Optional[str], typer.Option(help="DVC stage name, recorded as the dvc.stage tag")] = None,
) -> None:
    """Pretrain Vi2CLR (Algorithm 1) on the Kinetics index: per epoch, cluster the joint features
    of all videos, then minimise CenterNCE + VideoNCE + ImgNCE. Writes checkpoints and exported
    encoders to pretrain.out_dir and one MLflow run. Runs unchanged under torchrun."""
    if resume and restart:
        _fail("--resume and --restart exclude each other", 2)
    p = _params(params, overrides, ablation)
    from vi2clr.train.pretrain import PretrainError, run_pretrain

    try:
        run_pretrain(p, resume=resume, restart=restart, ablation=ablation, stage=stage)
    except PretrainError as exc:
        _fail(str(exc))


# ----------------------------------------------------------------------------- tables / ui


@app.command("tables")
def tables(
    params: ParamsOpt = Path("params.yaml"),
    overrides: SetOpt = None,
    out: Annotated[Path, typer.Option(help="output folder for tables.md/.csv/.json")] = Path("reports"),
) -> None:
    """Render Tables 1-7 from the MLflow runs (by tag) beside the paper's values."""
    p = _params(params, overrides)
    from vi2clr.tables import write_tables

    write_tables(p, out)


@app.command("ui")
def ui(
    params: ParamsOpt = Path("params.yaml"),
    overrides: SetOpt = None,
    table: Annotated[Optional[str], typer.Option(help="print the compare-runs URL of this table's runs (e.g. 6)")] = None,
    port: int = 5000,
    host: str = "127.0.0.1",
) -> None:
    """Start the MLflow UI on the project's store and print the URL of the comparison page."""
    p = _params(params, overrides)
    from vi2clr.commands.ui import serve

    serve(p, table=table, host=host, port=port)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
