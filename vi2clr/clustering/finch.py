"""FINCH (Sarfraz et al., CVPR 2019): parameter-free clustering by first-neighbour relations.

Algorithm (level ℓ works on the cluster means of level ℓ−1; level 0 on the samples):

1. κ(i) = the first (nearest, non-self) cosine neighbour of each point
   (:func:`~vi2clr.clustering.neighbours.cosine_first_neighbours`, exact, blockwise).
2. Link i and j when κ(i) = j, κ(j) = i or κ(i) = κ(j) — the symmetric adjacency of the
   first-neighbour graph; clusters are its connected components (``scipy.sparse.csgraph``).
3. Replace every cluster by the mean of its samples and repeat; every level is one partition.

Numerics follow finch-clust 0.2.3 (``FINCH(x, distance="cosine", ann_threshold > N)``) step
by step, so partitions are identical on data without (near-)ties of first neighbours:
level-0 distances are clamp(1 − cos, 0, 2) in float32 on the rows L2-normalised in float32;
cluster means are float32 sums divided in float64; later levels compute distances in float64
and round them to float32; the lowest index wins ties; component labels come from the same
scipy routine on the same graph, so even the label values agree.

Options beyond finch-clust:

- ``stop_rule="finch-clust"`` (default): a new level is discarded, and the recursion stops,
  when it has one cluster or merged at most one cluster (previous − current ≤ 1).
  ``stop_rule="original"``: the rule of the authors' original python release — discard and
  stop when it has one cluster or merged nothing (previous − current < 1); a level that merged
  exactly one cluster is kept and ends the recursion.
- ``distance_pruning=True``: the "ensure early exit" step of the original release. Each link
  (i, j) carries the weight w = number of first-neighbour relations behind it (2 for mutual
  neighbours, else 1) and the distance d(i, j); the threshold is the largest w·d over the
  level-0 links; at every later level links with w·d above it are removed before taking
  components. (finch-clust 0.2.3 has the same option, ``ensure_early_exit``, but it zeroes the
  links in place and scipy keeps explicit zeros as edges, so there it changes nothing; this
  implementation really removes them.)

Both options keep the finch-clust numerics above (the original release keeps later-level
distances in float64 instead of rounding them to float32; this only matters at near-ties).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.preprocessing import normalize

from vi2clr.clustering.neighbours import cosine_first_neighbours

StopRule = Literal["finch-clust", "original"]


@dataclass(frozen=True)
class FinchResult:
    """Output of :func:`finch`.

    Attributes:
        partitions: ``(N, L)`` int64, column ℓ = cluster label of each sample at level ℓ
            (labels 0 … num_clusters[ℓ]−1), finest first.
        num_clusters: clusters per level, length L, decreasing.
        req_partition: ``(N,)`` int64 labels with the requested number of clusters, or None.
        first_neighbours: ``(N,)`` int64 level-0 first neighbour of each sample.
    """

    partitions: np.ndarray
    num_clusters: list[int]
    req_partition: np.ndarray | None
    first_neighbours: np.ndarray


def select_partition(result: FinchResult, partition: int = 1) -> np.ndarray:
    """Labels ``(N,)`` of one level; default 1 = the second partition, as in the paper.

    If fewer levels exist, the last one is returned with a warning.
    """
    if partition < 0:
        raise ValueError(f"partition must be >= 0, got {partition}")
    levels = result.partitions.shape[1]
    if partition >= levels:
        warnings.warn(
            f"FINCH produced {levels} partition(s); partition {partition} requested, using partition {levels - 1} "
            f"({result.num_clusters[-1]} clusters)",
            stacklevel=2,
        )
        partition = levels - 1
    return result.partitions[:, partition].copy()


def _as_float32(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"FINCH needs a (N, D) matrix with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("FINCH input contains NaN or infinite values")
    return x


def _cluster_means(data: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``(K, D)`` float64 means: float32 sums in sample order, divided by the counts in float64."""
    n = data.shape[0]
    member = sp.csr_matrix((np.ones(n, dtype=np.float32), (labels, np.arange(n))), shape=(k, n))
    counts = np.bincount(labels, minlength=k)
    return (member @ data) / counts[:, None]


def _components(n: int, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, int]:
    graph = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    k, labels = connected_components(graph, directed=True, connection="weak", return_labels=True)
    return labels.astype(np.int64), int(k)


def _sibling_pairs(kappa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j with κ(i) = κ(j)."""
    order = np.argsort(kappa, kind="stable")
    hubs, starts, counts = np.unique(kappa[order], return_index=True, return_counts=True)
    rows, cols, triu = [], [], {}
    for s, c in zip(starts[counts > 1], counts[counts > 1]):
        if c not in triu:
            triu[c] = np.triu_indices(c, 1)
        a, b = triu[c]
        rows.append(order[s + a])
        cols.append(order[s + b])
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(rows), np.concatenate(cols)


def _pair_distances(x: torch.Tensor, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    out = []
    for s in range(0, len(a), chunk):
        ia = torch.from_numpy(a[s : s + chunk]).to(x.device)
        ib = torch.from_numpy(b[s : s + chunk]).to(x.device)
        dot = (x[ia] * x[ib]).sum(dim=1)
        out.append(torch.rsub(dot, 1.0).clamp_(0.0, 2.0).to(torch.float32).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _weighted_links(
    x: torch.Tensor, kappa: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links of the first-neighbour adjacency with their weighted distance w·d."""
    n = len(kappa)
    mutual = kappa[kappa] == np.arange(n)
    sa, sb = _sibling_pairs(kappa)
    rows = np.concatenate([np.arange(n), sa])
    cols = np.concatenate([kappa, sb])
    wd = np.concatenate([dist * np.where(mutual, 2.0, 1.0).astype(np.float32), _pair_distances(x, sa, sb)])
    return rows, cols, wd


def _level(
    points: np.ndarray, kappa: np.ndarray | None, chunk_size: int | None, device: torch.device
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Normalise ``points`` (as scikit-learn does) and find first neighbours unless given."""
    xn = torch.from_numpy(normalize(points, copy=True)).to(device)
    if kappa is not None:
        dist = _pair_distances(xn, np.arange(len(kappa)), kappa)
        return xn, kappa, dist
    k, d = cosine_first_neighbours(xn, chunk_size)
    return xn, k.cpu().numpy(), d.cpu().numpy()


def finch(
    x: np.ndarray | torch.Tensor,
    *,
    req_clust: int | None = None,
    first_neighbours: np.ndarray | None = None,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    stop_rule: StopRule = "finch-clust",
    distance_pruning: bool = False,
    verbose: bool = False,
) -> FinchResult:
    """Cluster the rows of ``x`` with FINCH (cosine), returning every level.

    Args:
        x: features ``(N, D)``, N ≥ 2 (cast to float32; need not be normalised).
        req_clust: also return a partition with exactly this many clusters, obtained from the
            coarsest level that has at least that many by merging, one at a time, the pair of
            clusters joined by the shortest first-neighbour link (as finch-clust). Each merge
            recomputes the first neighbours of the cluster means.
        first_neighbours: precomputed level-0 first neighbours ``(N,)`` (skips the search).
        chunk_size: tile edge of the blockwise neighbour search (memory O(N·D + chunk²)).
        device: torch device for the neighbour search (e.g. ``"cuda"``); default CPU.
        stop_rule: ``"finch-clust"`` or ``"original"`` (module docstring).
        distance_pruning: remove links longer than the level-0 threshold (module docstring).
        verbose: print the clusters per level.

    Returns:
        :class:`FinchResult`.
    """
    if stop_rule not in ("finch-clust", "original"):
        raise ValueError(f"stop_rule must be 'finch-clust' or 'original', got {stop_rule!r}")
    if req_clust is not None and (int(req_clust) != req_clust or req_clust < 1):
        raise ValueError(f"req_clust must be a positive integer, got {req_clust!r}")
    data = _as_float32(x)
    n = data.shape[0]
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if first_neighbours is not None:
        first_neighbours = np.asarray(first_neighbours, dtype=np.int64).reshape(-1)
        if first_neighbours.shape != (n,) or first_neighbours.min() < 0 or first_neighbours.max() >= n:
            raise ValueError(f"first_neighbours must be (N,) = ({n},) indices in [0, {n})")
        if (first_neighbours == np.arange(n)).any():
            raise ValueError("first_neighbours must not point a sample at itself")

    xn, kappa0, dist0 = _level(data, first_neighbours, chunk_size, dev)
    labels, k = _components(n, np.arange(n), kappa0)
    threshold = None
    if distance_pruning:
        _, _, wd = _weighted_links(xn, kappa0, dist0)
        threshold = float(wd.max())
    del xn
    columns, num_clusters = [labels], [k]
    if verbose:
        print(f"FINCH level 0: {k} clusters")

    while num_clusters[-1] > 1:
        prev = num_clusters[-1]
        means = _cluster_means(data, columns[-1], prev)
        xm, kappa, dist = _level(means, None, chunk_size, dev)
        if threshold is None:
            u, k = _components(prev, np.arange(prev), kappa)
        else:
            rows, cols, wd = _weighted_links(xm, kappa, dist)
            keep = wd <= threshold
            u, k = _components(prev, rows[keep], cols[keep])
        merged = prev - k
        if k == 1 or merged < (2 if stop_rule == "finch-clust" else 1):
            break
        columns.append(u[columns[-1]])
        num_clusters.append(k)
        if verbose:
            print(f"FINCH level {len(num_clusters) - 1}: {k} clusters")
        if stop_rule == "original" and merged == 1:
            break

    partitions = np.stack(columns, axis=1).astype(np.int64)
    req = None
    if req_clust is not None:
        req = _requested_partition(data, partitions, num_clusters, int(req_clust), chunk_size, dev)
    return FinchResult(partitions, num_clusters, req, kappa0.astype(np.int64))


def _requested_partition(
    data: np.ndarray,
    partitions: np.ndarray,
    num_clusters: list[int],
    req: int,
    chunk_size: int | None,
    device: torch.device,
) -> np.ndarray:
    if req in num_clusters:
        return partitions[:, num_clusters.index(req)].copy()
    if req > num_clusters[0]:
        warnings.warn(
            f"requested {req} clusters but the finest FINCH partition has {num_clusters[0]}; returning it",
            stacklevel=3,
        )
        return partitions[:, 0].copy()
    level = max(i for i, v in enumerate(num_clusters) if v >= req)
    labels, k = partitions[:, level].copy(), num_clusters[level]
    while k > req:
        means = _cluster_means(data, labels, k)
        _, kappa, dist = _level(means, None, chunk_size, device)
        shortest = np.argsort(dist)[:2]  # the shortest link, seen from both ends when mutual
        u, k = _components(k, shortest, kappa[shortest])
        labels = u[labels]
    return labels
