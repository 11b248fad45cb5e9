"""``vi2clr eval``: each downstream protocol of the paper as one MLflow run linked to its pretraining.

This package is the I/O edge: `context` (params, encoders), `inputs` (indexes, cached frozen
features, loaders), `protocols` (one function per protocol, calling the pure math of
:mod:`vi2clr.evaluate`), `recording` (MLflow run + JSON/CSV for DVC). Frozen features are cached on
disk keyed by (encoder digest, index digest, transform), so the VOC07 SVM and the few-shot protocol
share one extraction.
"""

from __future__ import annotations

from collections.abc import Callable

from vi2clr.commands.evaluate import protocols as _p
from vi2clr.commands.evaluate.context import EvalContext, make_context
from vi2clr.commands.evaluate.recording import protocol_run, write_metrics_json
from vi2clr.evaluate.errors import EvalError

__all__ = ["EvalContext", "EvalError", "PROTOCOLS", "make_context", "run_protocols"]

PROTOCOLS: dict[str, Callable[[EvalContext], dict[str, float]]] = {
    "image-linear": _p.image_linear,
    "voc-svm": _p.voc_svm,
    "voc-fewshot": _p.voc_fewshot,
    "semisup": _p.semisup,
    "retrieval": _p.retrieval,
    "video-linear": _p.video_linear,
    "video-finetune": _p.video_finetune,
    "table1": _p.table1,
    "probe": _p.probe,
}


def run_protocols(ctx: EvalContext, protocols: list[str]) -> dict[str, dict[str, float]]:
    """Run protocols in order; write ``reports/eval/<suite>/metrics.json`` for ``dvc metrics``
    (one protocol alone merges into the file, a list replaces it)."""
    if ctx.encoders is not None and not ctx.encoders.is_dir():
        raise EvalError(f"encoders folder {ctx.encoders} does not exist (run `vi2clr pretrain` first)")
    for name in protocols:
        with protocol_run(ctx, name) as run:
            ctx.protocol_run = run.run_id
            PROTOCOLS[name](ctx)
        ctx.protocol_run = None
    write_metrics_json(ctx, merge=len(protocols) == 1)
    return ctx.results

