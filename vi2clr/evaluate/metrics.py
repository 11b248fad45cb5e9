"""Pure metrics: VOC average precision, top-k accuracy, retrieval recall@k.

All functions take numpy arrays or torch tensors and return Python floats (fractions in
[0, 1]); none keeps state or does I/O. torch is imported inside the functions that use it:
the VOC07 SVMs run `voc_average_precision` in joblib worker processes, and a module-level
``import torch`` made each worker start ~3 s slower (it is the only thing they would import it for).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def _np(x: ArrayLike, dtype: type | None = None) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch.Tensor (without importing torch)
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def voc_average_precision(scores: ArrayLike, targets: ArrayLike) -> float:
    """VOC07 classification AP of one class, as the VOC devkit (>= 2010) and the Goyal et al.
    benchmark suite compute it.

    scores: (N,) real; targets: (N,) in {1: present, -1: absent, 0: difficult}.

    Difficult samples (0) are dropped for this class. The rest are ranked by descending score
    with a *stable* sort, so tied scores keep their input order (the devkit's MATLAB `sort` is
    stable too; numpy's default `argsort(...)[::-1]`, used by the benchmark suite, reverses
    ties instead). At rank i: precision p_i = TP_i / i, recall r_i = TP_i / P. The precision
    envelope p̂_i = max_{j >= i} p_j is non-increasing and

        AP = Σ_i (r_i − r_{i−1}) · p̂_i,   r_0 = 0,

    i.e. the exact area under the envelope over all recall points (not the 11-point VOC07
    variant). Hand-written because `sklearn.metrics.average_precision_score` uses the raw,
    non-interpolated precision and groups tied scores into one threshold, which gives other
    numbers than the devkit on the same ranking.

    A perfect ranking gives 1.0. Raises ValueError when no positive remains (AP undefined).
    """
    s = _np(scores, np.float64)
    t = _np(targets)
    if s.ndim != 1 or t.shape != s.shape:
        raise ValueError(f"scores and targets must both be (N,), got {s.shape} and {t.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    bad = ~np.isin(t, (-1, 0, 1))
    if bad.any():
        raise ValueError(f"targets must be in {{1, -1, 0}}, found {np.unique(t[bad])[:5].tolist()}")
    keep = t != 0
    s, positive = s[keep], t[keep] == 1
    num_pos = int(positive.sum())
    if num_pos == 0:
        raise ValueError(f"no positive target among {s.size} non-difficult samples: AP is undefined")
    hits = positive[np.argsort(-s, kind="stable")]
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, hits.size + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    # recall grows by 1/P exactly at the positives, so Σ Δr·p̂ = mean of p̂ over the positives.
    return float(envelope[hits].sum() / num_pos)


def mean_ap(
    scores: ArrayLike, targets: ArrayLike, skip_empty: bool = True
) -> tuple[float, np.ndarray]:
    """Mean of the per-class `voc_average_precision`.

    scores, targets: (N, C). Returns (mAP, per_class (C,)). A class without any positive gets
    NaN and is left out of the mean when `skip_empty`, else raises ValueError naming it.
    """
    s, t = _np(scores, np.float64), _np(targets)
    if s.ndim != 2 or t.shape != s.shape:
        raise ValueError(f"scores and targets must both be (N, C), got {s.shape} and {t.shape}")
    per_class = np.full(s.shape[1], np.nan)
    for c in range(s.shape[1]):
        if not (t[:, c] == 1).any():
            if skip_empty:
                continue
            raise ValueError(f"class {c} has no positive target: AP is undefined")
        per_class[c] = voc_average_precision(s[:, c], t[:, c])
    if np.isnan(per_class).all():
        raise ValueError("no class has a positive target: mAP is undefined")
    return float(np.nanmean(per_class)), per_class


def topk_accuracy(
    logits: ArrayLike, labels: ArrayLike, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Fraction of samples whose label is among the k highest scores.

    logits: (N, C) scores (logits or probabilities); labels: (N,) ints in [0, C).
    Returns {k: accuracy}; k larger than C is computed as k = C (accuracy 1.0).
    """
    import torch

    x = torch.as_tensor(_np(logits, np.float64))
    y = torch.as_tensor(_np(labels, np.int64))
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"logits must be (N, C) and labels (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError("topk_accuracy of an empty set")
    num_classes = x.shape[1]
    if ((y < 0) | (y >= num_classes)).any():
        raise ValueError(f"labels must be in [0, {num_classes}), got range [{int(y.min())}, {int(y.max())}]")
    kmax = min(max(ks), num_classes)
    top = x.topk(kmax, dim=1).indices  # (N, kmax), best first
    hit_by_rank = (top == y[:, None]).cumsum(dim=1).clamp(max=1)  # hit within the first r+1
    return {k: float(hit_by_rank[:, min(k, num_classes) - 1].float().mean()) for k in ks}


def recall_at_k(
    query_feats: ArrayLike,
    query_labels: ArrayLike,
    gallery_feats: ArrayLike,
    gallery_labels: ArrayLike,
    ks: Sequence[int] = (1, 5, 10, 20, 50),
    block_size: int = 1024,
) -> dict[int, float]:
    """Retrieval recall@k: the fraction of queries with at least one same-class item among
    their k nearest gallery items.

    query_feats: (Q, D), gallery_feats: (G, D), both already L2-normalised so that the dot
    product is the cosine similarity; labels: (Q,) and (G,) ints. Queries are processed in
    blocks of `block_size` (memory O(block_size · G)). k larger than G is computed as k = G.
    Among exactly tied similarities the order is torch.topk's.
    """
    import torch

    q = torch.as_tensor(_np(query_feats, np.float32))
    g = torch.as_tensor(_np(gallery_feats, np.float32))
    ql = torch.as_tensor(_np(query_labels, np.int64))
    gl = torch.as_tensor(_np(gallery_labels, np.int64))
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"features must be (Q, D) and (G, D), got {tuple(q.shape)} and {tuple(g.shape)}")
    if ql.shape != (q.shape[0],) or gl.shape != (g.shape[0],):
        raise ValueError("one label per query and per gallery item is required")
    if q.shape[0] == 0 or g.shape[0] == 0:
        raise ValueError(f"empty query ({q.shape[0]}) or gallery ({g.shape[0]}) set")
    for name, x in (("query_feats", q), ("gallery_feats", g)):
        norms = x.norm(dim=1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
            raise ValueError(f"{name} are not L2-normalised (norms in [{norms.min():.3g}, {norms.max():.3g}])")
    kmax = min(max(ks), g.shape[0])
    hits = torch.zeros(kmax, dtype=torch.int64)  # hits[r] = queries with a hit within rank r+1
    for start in range(0, q.shape[0], block_size):
        sims = q[start : start + block_size] @ g.T  # (b, G)
        nearest = sims.topk(kmax, dim=1).indices  # (b, kmax)
        same = gl[nearest] == ql[start : start + block_size, None]
        hits += same.cumsum(dim=1).clamp(max=1).sum(dim=0)
    return {k: float(hits[min(k, kmax) - 1]) / q.shape[0] for k in ks}
