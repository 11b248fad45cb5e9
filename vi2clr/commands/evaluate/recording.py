"""Recording: one MLflow run per protocol and data set, and the JSON/CSV files DVC tracks."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from vi2clr.commands.evaluate.context import EvalContext
from vi2clr.config import Params
from vi2clr.data.index import Index
from vi2clr.evaluate.cells import CELLS_TAG, SCALE_TAG, encode_cells
from vi2clr.evaluate.metric_names import N_TEST
from vi2clr.reports import reproducible
from vi2clr.tracking import Tracker, eval_params, standard_tags


def scale_note(p: Params, dataset: str, index: Index, meta: dict[str, Any], encoder_name: str) -> str:
    """Data and scale of a run, shown beside our numbers in the tables."""
    synthetic = "synthetic" in str(index.root)
    epochs = meta.get("epoch", 0)
    source = "random init" if meta.get("pretrain_run_id") == "random-init" else f"pretrained {epochs} ep"
    return (f"{'synthetic' if synthetic else 'real'} {dataset} ({len(index.samples)} train items), {encoder_name}, "
            f"{source}, {'CPU' if not torch.cuda.is_available() else 'GPU'}")


class DatasetRun:
    """The MLflow run of one protocol on one data set while its work runs (made by `dataset_run`);
    `finish` logs the result, keeps it for ``metrics.json`` and prints it."""

    def __init__(self, ctx: EvalContext, tracker: Tracker, key: str, label: str) -> None:
        self.ctx, self.tracker, self.key, self.label = ctx, tracker, key, label
        self._start = time.perf_counter()

    def finish(self, metrics: dict[str, float], n_test: int) -> dict[str, float]:
        """Log ``metrics`` + ``n_test`` (the test items scored: images, videos or queries, which the
        tables need for intervals) + ``time/seconds`` (since the run opened); returns them."""
        metrics = {**metrics, N_TEST: float(n_test), "time/seconds": time.perf_counter() - self._start}
        self.tracker.log_metrics(metrics)
        self.ctx.results[self.key] = metrics
        shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if "/ap/" not in k and "/cost/" not in k
                          and k != N_TEST) + f" (n_test={n_test})"
        print(f"{self.label}: {shown}")
        return metrics


@contextmanager
def dataset_run(ctx: EvalContext, protocol: str, dataset: str, cells: list[list[str]], *, meta: dict[str, Any],
                scale: str, split: str, data: Index | None = None, extra_params: dict[str, Any] | None = None,
                extra_tags: dict[str, str] | None = None) -> Iterator[DatasetRun]:
    """Open the MLflow run of one protocol on one data set BEFORE its work: the body does the work
    and calls ``run.finish(metrics, n_test)``; an exception closes the run FAILED (Ctrl-C, SIGTERM:
    KILLED). ``cells`` = [[table, row, col, metric], ...], each built by
    `vi2clr.evaluate.cells.paper_cell` (checked against the one mapping before any run opens).

    Every run carries the tags ``pretrain_seed`` (seed of the pretraining behind the encoders; the
    eval seed for random init; "unknown" when the encoder's folder does not tell) and ``eval_seed``,
    and nests under the protocol's run (`protocol_run`)."""
    p = ctx.params
    cells_tag = encode_cells(cells)  # refuses a cell the mapping does not know, before any run starts
    seed = meta.get("pretrain_seed")
    primary = cells[0] if cells else [None, None, None, None]
    tags = standard_tags(dvc_stage=ctx.stage, extra={
        "kind": "eval", "vi2clr.protocol": protocol, "dataset": dataset, "split": split,
        "pretrain_run_id": meta.get("pretrain_run_id") or "unknown", "suite": ctx.suite,
        "table": primary[0], "row": primary[1], "col": primary[2], "seed": str(p.eval.seed),
        "eval_seed": str(p.eval.seed), "pretrain_seed": "unknown" if seed is None else str(seed),
        CELLS_TAG: cells_tag, SCALE_TAG: scale, **(extra_tags or {}),
        **({"mlflow.parentRunId": ctx.protocol_run} if ctx.protocol_run else {}),
    })
    with Tracker(params=p, run_name=f"eval:{ctx.suite}:{protocol}:{dataset}", tags=tags,
                 system_metrics=False) as tracker:
        tracker.log_params({**eval_params(p, protocol), "model": p.model.model_dump(mode="json"),
                            "protocol": protocol, "dataset": dataset,
                            "encoders": str(ctx.encoders) if ctx.encoders else "random-init",
                            "pretrain_epoch": meta.get("epoch", 0), **(extra_params or {})})
        if data is not None:
            tracker.log_index(data, context="eval")
        key = f"{protocol}/{dataset}" + "".join(f"/{v}" for v in (extra_params or {}).values())
        yield DatasetRun(ctx, tracker, key, f"[{ctx.suite}] {protocol} {dataset}")


def report_dir(ctx: EvalContext) -> Path:
    """``reports/eval/<suite>/[seed<S>/]``: what ``dvc metrics`` / ``dvc plots`` read."""
    return Path("reports") / "eval" / ctx.suite / ctx.report_name


def write_csv(ctx: EvalContext, name: str, header: list[str], rows: list[list[Any]]) -> None:
    """A small CSV (plot data) in the suite's report folder."""
    path = report_dir(ctx) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))


def write_metrics_json(ctx: EvalContext, merge: bool) -> Path:
    """``metrics.json`` of the suite: this call's results, merged into the file's when ``merge``."""
    out = report_dir(ctx) / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() and merge else {}
    previous.update(reproducible(copy.deepcopy(ctx.results)))  # times stay in MLflow
    out.write_text(json.dumps(previous, indent=2, sort_keys=True))
    return out


def protocol_run(ctx: EvalContext, protocol: str) -> Tracker:
    """The MLflow run of one protocol, opened BEFORE its work (a crash closes it FAILED, Ctrl-C or
    SIGTERM KILLED): its per-dataset result runs nest under it, and it is linked both ways to the
    pretraining run that made the encoders (read from the encoders folder's ``run.json``)."""
    p = ctx.params
    tags = standard_tags(dvc_stage=ctx.stage, extra={
        "kind": "eval-protocol", "vi2clr.protocol": protocol, "suite": ctx.suite, "eval_seed": str(p.eval.seed)})
    tracker = Tracker(params=p, run_name=f"eval:{ctx.suite}:{protocol}", tags=tags)
    tracker.log_params({**eval_params(p, protocol), "protocol": protocol,
                        "encoders": str(ctx.encoders) if ctx.encoders else "random-init"})
    tracker.link_pretraining(_pretrain_run_id(ctx.encoders))
    return tracker


def _pretrain_run_id(encoders: Path | None) -> str | None:
    """The pretraining's MLflow run id from ``run.json`` in the encoders folder (or its parent, for
    an ``epoch_NNNN/`` export); None for random init or a folder without one."""
    if encoders is None:
        return None
    for folder in (encoders, encoders.parent):
        run_json = folder / "run.json"
        if run_json.is_file():
            return json.loads(run_json.read_text()).get("mlflow_run_id")
    return None
