"""Cluster summaries for logging: sizes, and agreement with known labels."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def cluster_diagnostics(assignments: np.ndarray, labels: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Summary of a partition.

    Keys: ``num_clusters``, ``size_min``, ``size_median``, ``size_mean``, ``size_max``,
    ``singletons``; and for every ``name`` in ``labels``: ``{name}_nmi``, ``{name}_ari``,
    ``{name}_purity`` (purity = (1/N) Σ_k max_c |cluster k ∩ class c|).

    Args:
        assignments: ``(N,)`` cluster ids.
        labels: optional named ground-truth label sets, each ``(N,)``.
    """
    a = np.asarray(assignments).reshape(-1)
    if a.size == 0:
        raise ValueError("cluster_diagnostics needs at least one assignment")
    _, sizes = np.unique(a, return_counts=True)
    out = {
        "num_clusters": float(len(sizes)),
        "size_min": float(sizes.min()),
        "size_median": float(np.median(sizes)),
        "size_mean": float(sizes.mean()),
        "size_max": float(sizes.max()),
        "singletons": float((sizes == 1).sum()),
    }
    for name, y in (labels or {}).items():
        y = np.asarray(y).reshape(-1)
        if y.shape != a.shape:
            raise ValueError(f"labels[{name!r}] has {y.size} entries, assignments have {a.size}")
        out[f"{name}_nmi"] = float(normalized_mutual_info_score(y, a))
        out[f"{name}_ari"] = float(adjusted_rand_score(y, a))
        out[f"{name}_purity"] = float(contingency_matrix(y, a).max(axis=0).sum() / a.size)
    return out
