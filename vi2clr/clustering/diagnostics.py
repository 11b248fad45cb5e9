"""Cluster summaries for logging: sizes, and agreement with known labels."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def cluster_diagnostics(assignments: np.ndarray, labels: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Summary of a partition.

    Keys: ``num_clusters``, ``size_min``, ``size_median``, ``size_mean``, ``size_max``,
    ``singletons``, ``excluded`` (items with a negative id, left out of clustering and of every
    other key); and for every ``name`` in ``labels``: ``{name}_nmi``, ``{name}_ari``,
    ``{name}_purity`` (purity = (1/N) Σ_k max_c |cluster k ∩ class c|).

    Args:
        assignments: ``(N,)`` cluster ids.
        labels: optional named ground-truth label sets, each ``(N,)``.
    """
    a = np.asarray(assignments).reshape(-1)
    kept = a >= 0  # negative = left out of clustering (undecodable item)
    excluded = int((~kept).sum())
    a = a[kept]
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
        "excluded": float(excluded),
    }
    for name, y in (labels or {}).items():
        y = np.asarray(y).reshape(-1)
        if y.shape == kept.shape:
            y = y[kept]
        if y.shape != a.shape:
            raise ValueError(f"labels[{name!r}] has {y.size} entries, assignments have {a.size}")
        out[f"{name}_nmi"] = float(normalized_mutual_info_score(y, a))
        out[f"{name}_ari"] = float(adjusted_rand_score(y, a))
        out[f"{name}_purity"] = float(contingency_matrix(y, a).max(axis=0).sum() / a.size)
    return out


@torch.no_grad()
def center_nce_diagnostics(
    z: torch.Tensor,
    assignments: torch.Tensor,
    centroids: torch.Tensor,
    phi: torch.Tensor,
    block: int = 8192,
) -> dict[str, float]:
    """How CenterNCE sees an epoch's clusters: is similarity or 1/φ driving it?

    With logits ℓ_ik = z_i·c_k/φ_k over all K centroids:

    - ``center_top1`` = (1/N) Σ_i [argmax_k ℓ_ik = s(i)] — the own-centroid top-1 rate (ties:
      the lowest k wins);
    - ``center_loss_over_logk`` = L_C / log K with L_C = −(1/N) Σ_i log softmax_k(ℓ_i)_{s(i)};
      1 is the loss of uniform logits, so values above 1 mean the logits point away from the
      own centroid (NaN when K = 1);
    - ``phi_min``, ``phi_median``, ``phi_max`` of φ (median: the lower middle value).

    Args:
        z: unit features ``(N, D)``; assignments: ``(N,)`` long in [0, K) (negative = left
            out, skipped); centroids: ``(K, D)``; phi: ``(K,)``.
        block: rows per logit tile (memory O(block · K)).
    """
    if z.ndim != 2 or centroids.ndim != 2 or z.shape[1] != centroids.shape[1]:
        raise ValueError(f"expected z (N, D) and centroids (K, D), got {tuple(z.shape)} and {tuple(centroids.shape)}")
    k = centroids.shape[0]
    if phi.shape != (k,) or assignments.shape != (z.shape[0],):
        raise ValueError("phi must be (K,) and assignments (N,)")
    s = assignments.to(device=z.device, dtype=torch.long)
    keep = s >= 0
    z, s = z[keep].float(), s[keep]
    if s.numel() == 0:
        raise ValueError("center_nce_diagnostics needs at least one assigned sample")
    if int(s.max()) >= k:
        raise ValueError(f"assignments must lie in [0, {k})")
    c = centroids.to(z.device).float()
    inv_phi = 1.0 / phi.to(z.device).float()
    hits, loss = 0, 0.0
    for i0 in range(0, z.shape[0], block):
        logits = (z[i0 : i0 + block] @ c.T) * inv_phi[None, :]
        si = s[i0 : i0 + block]
        hits += int((logits.argmax(dim=1) == si).sum())
        loss += float(torch.nn.functional.cross_entropy(logits, si, reduction="sum"))
    n = z.shape[0]
    p = phi.float()
    return {
        "center_top1": hits / n,
        "center_loss_over_logk": (loss / n) / math.log(k) if k > 1 else float("nan"),
        "phi_min": float(p.min()),
        "phi_median": float(p.median()),
        "phi_max": float(p.max()),
    }
