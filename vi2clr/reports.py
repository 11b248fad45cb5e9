"""What goes into ``reports/`` (the DVC metrics the committed record holds): only numbers that the
same code, params and data reproduce on the same machine. Wall-clock times, throughput and run ids
differ from run to run, so they live in MLflow only; keeping them out of ``reports/`` is what lets
two clean ``dvc repro`` runs write identical reports."""

from __future__ import annotations

from typing import Any

RUN_DEPENDENT_PREFIXES = ("time/", "throughput/")
RUN_DEPENDENT_KEYS = ("mlflow_run_id",)


def reproducible(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` without wall-clock, throughput and run-id entries (nested dicts cleaned too)."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in RUN_DEPENDENT_KEYS or key.startswith(RUN_DEPENDENT_PREFIXES):
            continue
        out[key] = reproducible(value) if isinstance(value, dict) else value
    return out
