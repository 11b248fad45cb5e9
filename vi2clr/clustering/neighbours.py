"""Exact cosine first neighbours, computed blockwise (never a dense N × N matrix)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

_DEVICE_TILE = 8192  # tile edge on accelerators: an 8192² float32 tile is 256 MiB
_TILE_BYTES = 2**20  # a 512 × 512 float32 tile: stays in L2 cache, still large enough for a fast matmul


def default_chunk_size(dtype: torch.dtype = torch.float32) -> int:
    """Tile edge used when none is given: tiles of about 1 MiB (512 rows in float32)."""
    return max(64, int((_TILE_BYTES // torch.finfo(dtype).bits * 8) ** 0.5))


@contextlib.contextmanager
def exact_matmul() -> Iterator[None]:
    """Temporarily force full-precision float32 matmuls (no TF32 / bf16 shortcuts), then restore."""
    prev_precision = torch.get_float32_matmul_precision()
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
        yield
    finally:
        torch.set_float32_matmul_precision(prev_precision)
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32


def _distance(s: torch.Tensor) -> torch.Tensor:
    """clamp(1 − s, 0, 2) in s's dtype, rounded to float32 (a monotone map of s)."""
    return torch.rsub(s, 1.0).clamp_(0.0, 2.0).to(torch.float32)


def _improve(best_d: torch.Tensor, best_i: torch.Tensor, sims: torch.Tensor, offset: int) -> None:
    """Offer the candidates ``sims`` (rows = points of ``best_*``, columns = candidate indices
    ``offset + c``) to the running minima. Candidates arrive in increasing index order, so only a
    strictly smaller distance replaces the current one (the lowest index wins ties).

    The distance map is monotone, so min_c d = d(max_c s): the tile is reduced with a cheap
    ``amax`` and the (rare) rows that improve are searched for their first minimiser.
    """
    tile_min = _distance(sims.amax(dim=1))
    rows = torch.nonzero(tile_min < best_d).squeeze(1)
    if rows.numel():
        best_d[rows] = tile_min[rows]
        best_i[rows] = _distance(sims[rows]).argmin(dim=1) + offset


@contextlib.contextmanager
def _single_threaded_ops() -> Iterator[None]:
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        yield
    finally:
        torch.set_num_threads(prev)


def _scan_blocks(x: torch.Tensor, b: int, blocks: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Running minima over the tiles of the given row blocks (ascending), as ``(dist, index)``."""
    n = x.shape[0]
    best_d = torch.full((n,), float("inf"), dtype=torch.float32, device=x.device)
    best_i = torch.full((n,), n, dtype=torch.long, device=x.device)
    with torch.no_grad():
        for i0 in blocks:
            i1 = min(i0 + b, n)
            xi = x[i0:i1]
            # diagonal tile: exclude self explicitly
            d = _distance(xi @ xi.T)
            d.fill_diagonal_(float("inf"))
            v, a = d.min(dim=1)
            better = v < best_d[i0:i1]
            best_d[i0:i1] = torch.where(better, v, best_d[i0:i1])
            best_i[i0:i1] = torch.where(better, a + i0, best_i[i0:i1])
            for j0 in range(i1, n, b):
                j1 = min(j0 + b, n)
                sims = xi @ x[j0:j1].T  # (rows i0:i1, columns j0:j1)
                _improve(best_d[i0:i1], best_i[i0:i1], sims, j0)
                _improve(best_d[j0:j1], best_i[j0:j1], sims.T, i0)
    return best_d, best_i


def cosine_first_neighbours(
    x: torch.Tensor, chunk_size: int | None = None, num_workers: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """First (nearest, non-self) neighbour of every row under cosine distance.

    d(i, j) = clamp(1 − x_i·x_j, 0, 2), evaluated in ``x``'s dtype and then rounded to
    float32 — the values scikit-learn's ``pairwise_distances(metric="cosine")`` gives once
    cast to float32. κ(i) = argmin_{j≠i} d(i, j); on ties the lowest j wins.

    The distance matrix is visited in square tiles of ``chunk_size`` rows (upper triangle
    only; each tile updates both its rows and its columns), so memory is
    O(N·D + chunk_size² + workers·N).

    On CPU the row blocks are shared among ``num_workers`` Python threads, each running
    single-threaded torch ops (torch's intra-op thread count is set to 1 for the duration of
    the call and restored afterwards). This uses the cores as well as intra-op threading on an
    idle machine and, unlike it, does not collapse when other processes compete for the cores.

    Args:
        x: L2-normalised rows ``(N, D)``, float32 or float64, on any device; N ≥ 2.
        chunk_size: tile edge (default :func:`default_chunk_size` on CPU, 8192 elsewhere).
        num_workers: CPU worker threads (default ``torch.get_num_threads()``; 1 on GPU).

    Returns:
        ``(kappa, dist)``: ``(N,)`` int64 indices and ``(N,)`` float32 distances, on ``x``'s device.
    """
    n = x.shape[0]
    if x.ndim != 2 or n < 2:
        raise ValueError(f"need an (N, D) matrix with N >= 2, got shape {tuple(x.shape)}")
    # accelerators: big tiles (few kernel launches and host syncs); CPU: cache-sized tiles
    b = int(chunk_size or (_DEVICE_TILE if x.device.type != "cpu" else default_chunk_size(x.dtype)))
    if b < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    blocks = list(range(0, n, b))
    workers = 1 if x.device.type != "cpu" else max(1, min(int(num_workers or torch.get_num_threads()), len(blocks)))
    with exact_matmul():
        if workers == 1:
            best_d, best_i = _scan_blocks(x, b, blocks)
            return best_i, best_d
        # balance the triangle: block k costs (len(blocks) − k) tiles; deal them out greedily
        shares: list[list[int]] = [[] for _ in range(workers)]
        load = [0] * workers
        for k, i0 in enumerate(blocks):
            w = min(range(workers), key=load.__getitem__)
            shares[w].append(i0)
            load[w] += len(blocks) - k
        with _single_threaded_ops(), ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda share: _scan_blocks(x, b, share), shares))
    # merge: smallest distance, then lowest index
    best_d, best_i = parts[0]
    for d, i in parts[1:]:
        better = (d < best_d) | ((d == best_d) & (i < best_i))
        best_d = torch.where(better, d, best_d)
        best_i = torch.where(better, i, best_i)
    return best_i, best_d
