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
from scipy.sparse.csgraph import connected_components as scipy_components
from sklearn.utils.extmath import row_norms

from vi2clr.clustering.components import connected_components
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


def _normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their L2 norm, bit-identical to scikit-learn's ``normalize``.

    The (N,) norms come from scikit-learn's ``row_norms`` on the host (its float32 summation
    order cannot be reproduced by a torch reduction, and a last-bit difference in a norm can
    flip a first-neighbour near-tie: it did once at N = 100k); the O(N·D) division runs on x's
    device. Norms below 10·eps become 1, as in ``normalize``."""
    norms = row_norms(x.cpu().numpy())
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    return x / torch.from_numpy(norms).to(x.device)[:, None]


def _cluster_means(data: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """``(K, D)`` float64 means: float32 sums in sample order (``index_add_``), divided by the
    counts in float64. (On CUDA ``index_add_`` adds in no fixed order: last-bit differences.)"""
    sums = torch.zeros(k, data.shape[1], dtype=data.dtype, device=data.device).index_add_(0, labels, data)
    counts = torch.bincount(labels, minlength=k).to(torch.float64)
    return sums.to(torch.float64) / counts[:, None]


def _components(n: int, rows: torch.Tensor, cols: torch.Tensor, on_host: bool) -> tuple[torch.Tensor, int]:
    """Weak components of the link graph; labels numbered by smallest member (scipy's order).

    ``on_host``: scipy ``connected_components`` (the reference); else the torch routine
    :func:`~vi2clr.clustering.components.connected_components` on the links' device."""
    if not on_host:
        return connected_components(n, rows, cols)
    r, c = rows.cpu().numpy(), cols.cpu().numpy()
    graph = sp.csr_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    k, labels = scipy_components(graph, directed=True, connection="weak", return_labels=True)
    return torch.from_numpy(labels.astype(np.int64)).to(rows.device), int(k)


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


def _pair_distances(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, chunk: int = 1 << 16) -> torch.Tensor:
    """d(a_e, b_e) = clamp(1 − x_a·x_b, 0, 2) rounded to float32, ``(E,)`` on x's device."""
    out = []
    for s in range(0, len(a), chunk):
        ia, ib = a[s : s + chunk].to(x.device), b[s : s + chunk].to(x.device)
        dot = (x[ia] * x[ib]).sum(dim=1)
        out.append(torch.rsub(dot, 1.0).clamp_(0.0, 2.0).to(torch.float32))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float32, device=x.device)


def _weighted_links(
    x: torch.Tensor, kappa: torch.Tensor, dist: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Links of the first-neighbour adjacency with their weighted distance w·d (on x's device)."""
    n = len(kappa)
    ar = torch.arange(n, device=kappa.device)
    mutual = kappa[kappa] == ar
    sa, sb = (torch.from_numpy(v).to(kappa.device) for v in _sibling_pairs(kappa.cpu().numpy()))
    rows = torch.cat([ar, sa])
    cols = torch.cat([kappa, sb])
    w = torch.where(mutual, 2.0, 1.0).to(torch.float32)
    wd = torch.cat([dist * w, _pair_distances(x, sa, sb)])
    return rows, cols, wd


def _level(
    points: torch.Tensor, kappa: torch.Tensor | None, chunk_size: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalise ``points`` and find their first neighbours unless given (all on points' device)."""
    xn = _normalize(points)
    if kappa is not None:
        dist = _pair_distances(xn, torch.arange(len(kappa), device=xn.device), kappa)
        return xn, kappa, dist
    k, d = cosine_first_neighbours(xn, chunk_size)
    return xn, k, d


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
        device: None (default) runs the reference path: torch ops on the CPU for the search
            and the means, scipy for the components. A device (``"cpu"``, ``"cuda"``, …) runs
            every step as torch ops on it, components included
            (:mod:`~vi2clr.clustering.components`); on ``"cpu"`` the partitions are
            bit-identical to the reference; on CUDA they can differ only at first-neighbour
            near-ties at the float32 rounding level (different summation orders).
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
    data_np = _as_float32(x)
    n = data_np.shape[0]
    on_host = device is None
    dev = torch.device("cpu") if device is None else torch.device(device)
    if first_neighbours is not None:
        first_neighbours = np.asarray(first_neighbours, dtype=np.int64).reshape(-1)
        if first_neighbours.shape != (n,) or first_neighbours.min() < 0 or first_neighbours.max() >= n:
            raise ValueError(f"first_neighbours must be (N,) = ({n},) indices in [0, {n})")
        if (first_neighbours == np.arange(n)).any():
            raise ValueError("first_neighbours must not point a sample at itself")
    data = torch.from_numpy(data_np).to(dev)
    given = None if first_neighbours is None else torch.from_numpy(first_neighbours).to(dev)

    with torch.no_grad():
        xn, kappa0, dist0 = _level(data, given, chunk_size)
        arange = torch.arange(n, device=dev)
        labels, k = _components(n, arange, kappa0, on_host)
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
            xm, kappa, dist = _level(means, None, chunk_size)
            if threshold is None:
                u, k = _components(prev, torch.arange(prev, device=dev), kappa, on_host)
            else:
                rows, cols, wd = _weighted_links(xm, kappa, dist)
                keep = wd <= threshold
                u, k = _components(prev, rows[keep], cols[keep], on_host)
            merged = prev - k
            if k == 1 or merged < (2 if stop_rule == "finch-clust" else 1):
                break
            columns.append(u[columns[-1]])
            num_clusters.append(k)
            if verbose:
                print(f"FINCH level {len(num_clusters) - 1}: {k} clusters")
            if stop_rule == "original" and merged == 1:
                break

        partitions = torch.stack(columns, dim=1).cpu().numpy().astype(np.int64)
        req = None
        if req_clust is not None:
            req = _requested_partition(data, columns, num_clusters, int(req_clust), chunk_size, on_host)
    return FinchResult(partitions, num_clusters, req, kappa0.cpu().numpy().astype(np.int64))


def _requested_partition(
    data: torch.Tensor,
    columns: list[torch.Tensor],
    num_clusters: list[int],
    req: int,
    chunk_size: int | None,
    on_host: bool,
) -> np.ndarray:
    if req in num_clusters:
        return columns[num_clusters.index(req)].cpu().numpy().astype(np.int64)
    if req > num_clusters[0]:
        warnings.warn(
            f"requested {req} clusters but the finest FINCH partition has {num_clusters[0]}; returning it",
            stacklevel=3,
        )
        return columns[0].cpu().numpy().astype(np.int64)
    level = max(i for i, v in enumerate(num_clusters) if v >= req)
    labels, k = columns[level].clone(), num_clusters[level]
    while k > req:
        means = _cluster_means(data, labels, k)
        _, kappa, dist = _level(means, None, chunk_size)
        # the shortest link, seen from both ends when mutual
        shortest = torch.from_numpy(np.argsort(dist.cpu().numpy())[:2]).to(data.device)
        u, k = _components(k, shortest, kappa[shortest], on_host)
        labels = u[labels]
    return labels.cpu().numpy().astype(np.int64)
