"""``vi2clr`` command line: parse, validate params, call one function. Nothing else lives here."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from vi2clr.config import Params, load_params
from vi2clr.errors import UserError


def configure_logging(level: int = logging.INFO) -> None:
    """Logging set up once for every command, on stderr: rich on a terminal, plain
    ``time level name: message`` lines elsewhere (``dvc repro`` logs, SLURM)."""
    root = logging.getLogger()
    if getattr(root, "_vi2clr_configured", False):
        return
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="%H:%M:%S"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.getLogger("vi2clr").setLevel(level)
    root.addHandler(handler)
    root._vi2clr_configured = True  # type: ignore[attr-defined]


class _UserErrors(TyperGroup):
    """The one handler of the user-error contract: a :class:`~vi2clr.errors.UserError` prints
    ``error: <first line>`` (one line per problem for params) and exits with its ``exit_code``;
    anything else keeps its traceback."""

    def invoke(self, ctx: click.Context):
        configure_logging()
        try:
            return super().invoke(ctx)
        except UserError as exc:
            for line in getattr(exc, "lines", None) or [exc.first_line()]:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_UserErrors,
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
    list[str] | None,
    typer.Option("--set", "-S", help="override a param: key.path=value (value parsed as YAML); repeatable"),
]


def _params(path: Path, overrides: list[str] | None, ablation: str | None = None) -> Params:
    """Load and validate (a ``ParamsError`` exits 2 before any work starts)."""
    return load_params(path, overrides or [], ablation=ablation)


def use_threads(p: Params) -> None:
    """torch's intra-op threads = ``compute.threads`` (None keeps torch's default, one per core)."""
    if p.compute.threads is not None:
        import torch

        torch.set_num_threads(p.compute.threads)


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
    layouts: Annotated[list[str] | None, typer.Option("--layout", help="only these layouts")] = None,
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
    ablation: Annotated[str | None, typer.Option(help="apply the params row ablations.<NAME> (Tables 1, 6)")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the last checkpoint in out_dir")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="ignore existing checkpoints and start fresh")] = False,
    stage: Annotated[str | None, typer.Option(help="DVC stage name, recorded as the dvc.stage tag")] = None,
) -> None:
    """Pretrain Vi2CLR (Algorithm 1) on the Kinetics index: per epoch, cluster the joint features
    of all videos, then minimise CenterNCE + VideoNCE + ImgNCE. Writes checkpoints and exported
    encoders to pretrain.out_dir and one MLflow run. Runs unchanged under torchrun."""
    if resume and restart:
        _fail("--resume and --restart exclude each other", 2)
    p = _params(params, overrides, ablation)
    use_threads(p)
    from vi2clr.train.pretrain import run_pretrain

    run_pretrain(p, resume=resume, restart=restart, ablation=ablation, stage=stage)


# ----------------------------------------------------------------------------- eval

EncodersOpt = Annotated[Path | None, typer.Option(
    "--encoders", help="a pretraining's out_dir holding video_encoder.pt / image_encoder.pt")]
RandomOpt = Annotated[bool, typer.Option("--random-init", help="randomly initialised encoders (the baseline)")]
SuiteOpt = Annotated[str | None, typer.Option(
    "--suite", help="take encoders and paper rows from eval_suites.<NAME> (or 'random')")]
StageOpt = Annotated[str | None, typer.Option(help="DVC stage name, recorded as the dvc.stage tag")]


def _run_eval(params: Path, overrides: list[str] | None, protocols: list[str], *, suite: str | None,
              encoders: Path | None, random_init: bool, stage: str | None, seed: int | None = None) -> None:
    p = _params(params, overrides)
    use_threads(p)
    from vi2clr.commands.evaluate import make_context, run_protocols

    ctx = make_context(p, suite=suite, encoders=encoders, random_init=random_init, stage=stage, seed=seed)
    run_protocols(ctx, protocols or [])


def _protocol_command(name: str, doc: str) -> None:
    def command(params: ParamsOpt = Path("params.yaml"), overrides: SetOpt = None, encoders: EncodersOpt = None,
                random_init: RandomOpt = False, suite: SuiteOpt = None, stage: StageOpt = None) -> None:
        _run_eval(params, overrides, [name], suite=suite, encoders=encoders, random_init=random_init, stage=stage)

    command.__doc__ = doc
    eval_app.command(name)(command)


_protocol_command("image-linear", "Tables 1/2/6: linear classifier on the frozen 2D encoder, ImageNet top-1/top-5 "
                  "(eval.linear; augment=false trains on cached features, the documented fast path).")
_protocol_command("voc-svm", "Tables 2/6: VOC07 linear SVMs on frozen L2-normalised 2D features, cost by 3-fold "
                  "CV AP, test mAP with difficult images excluded (eval.svm).")
_protocol_command("voc-fewshot", "Table 3: VOC07 few-shot SVMs, k positives + 19k negatives per class, "
                  "k in eval.svm.fewshot_ks, eval.svm.fewshot_samples seeded draws; mean and std of mAP.")
_protocol_command("semisup", "Table 4: fine-tune the 2D encoder + linear layer on 1% and 10% ImageNet labels "
                  "(data.imagenet.subset_*pct lists, or generated per class deterministically); top-1/top-5.")
_protocol_command("retrieval", "Table 5: video retrieval, test queries train, R@k on UCF101 and HMDB51; features "
                  "before the head, mean over sliding windows, each set mean-centred and L2-normalised.")
_protocol_command("video-linear", "Table 7 (frozen): linear layer on the frozen 3D encoder, clip-level training, "
                  "video-level testing over eval.video.test_clips clips; eval.video.datasets.")
_protocol_command("video-finetune", "Tables 6/7 (fine-tune): the whole 3D encoder + linear layer, clip-level "
                  "training, video-level testing; eval.video.datasets.")
_protocol_command("table1", "Table 1: the image linear probe at the epochs of eval.table1_epochs "
                  "(encoders exported at pretrain.keep_epochs).")
_protocol_command("probe", "Learning check (not a paper table): logistic regression on frozen features of the "
                  "Kinetics train split, tested on val, for the synthetic motion and appearance classes.")


@eval_app.command("suite")
def eval_suite(
    name: Annotated[str, typer.Argument(help="a key of eval_suites in params, or 'random'")],
    params: ParamsOpt = Path("params.yaml"),
    overrides: SetOpt = None,
    stage: StageOpt = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="pipeline seed: a pretrained suite reads <encoders>/seed<S>; the random suite "
        "initialises with eval.seed=S; reports go to reports/eval/<NAME>/seed<S>/")] = None,
) -> None:
    """Run every protocol of eval_suites.<NAME> (what a dvc.yaml eval stage runs); one MLflow run
    each; metrics JSON in reports/eval/<NAME>/[seed<S>/]metrics.json."""
    if name == "random" and seed is not None:
        overrides = [*(overrides or []), f"eval.seed={seed}"]
    p = _params(params, overrides)
    spec = p.eval_random if name == "random" else p.eval_suites.get(name)
    if spec is None:
        _fail(f"eval_suites.{name}: no such suite (have: random, {', '.join(sorted(p.eval_suites))})", 2)
    _run_eval(params, overrides, list(spec.protocols), suite=name, encoders=None, random_init=False, stage=stage,
              seed=seed)


# ----------------------------------------------------------------------------- seeds


@app.command("seeds", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def seeds(
    ctx: typer.Context,
    params: ParamsOpt = Path("params.yaml"),
    overrides: SetOpt = None,
    of: Annotated[str, typer.Option("--of", help="the seed list: seeds.pretrain or seeds.random_init")] = "pretrain",
    jobs: Annotated[int | None, typer.Option(help="seeds at once (default compute.seed_jobs)")] = None,
) -> None:
    """Run `vi2clr ARGS` once per seed of seeds.<OF> ({seed} in ARGS is the seed), at most --jobs at a
    time (what the dvc.yaml pretrain and eval stages run): vi2clr seeds -- pretrain -S pretrain.seed={seed}.
    --params and -S here choose the seeds and jobs; give the command its own after --."""
    p = _params(params, overrides)
    if of not in ("pretrain", "random_init"):
        _fail(f"--of {of}: choose pretrain or random_init", 2)
    from vi2clr.commands.seeds import run_seeds

    code = run_seeds(list(ctx.args), list(getattr(p.seeds, of)), p.compute.seed_jobs if jobs is None else jobs)
    if code:
        raise typer.Exit(code)


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
    table: Annotated[str | None, typer.Option(help="print the compare-runs URL of this table's runs (e.g. 6)")] = None,
    port: int = 5000,
    host: str = "127.0.0.1",
) -> None:
    """Start the MLflow UI on the project's store and print the URL of the comparison page."""
    p = _params(params, overrides)
    from vi2clr.commands.ui import serve

    serve(p, table=table, host=host, port=port)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
