"""Exact cosine first neighbours, computed blockwise (never a dense N × N matrix)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

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


def _update(best_d: torch.Tensor, best_i: torch.Tensor, d: torch.Tensor, i: torch.Tensor) -> None:
    # candidates arrive in increasing column order, so a strict "<" keeps the lowest index on ties
    better = d < best_d
    best_d.copy_(torch.where(better, d, best_d))
    best_i.copy_(torch.where(better, i, best_i))


def cosine_first_neighbours(x: torch.Tensor, chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """First (nearest, non-self) neighbour of every row under cosine distance.

    d(i, j) = clamp(1 − x_i·x_j, 0, 2), evaluated in ``x``'s dtype and then rounded to
    float32 — the values scikit-learn's ``pairwise_distances(metric="cosine")`` gives once
    cast to float32. κ(i) = argmin_{j≠i} d(i, j); on ties the lowest j wins.

    The distance matrix is visited in square tiles of ``chunk_size`` rows (upper triangle
    only; each tile updates both its rows and its columns), so memory is
    O(N·D + chunk_size²).

    Args:
        x: L2-normalised rows ``(N, D)``, float32 or float64, on any device; N ≥ 2.
        chunk_size: tile edge (default :func:`default_chunk_size`).

    Returns:
        ``(kappa, dist)``: ``(N,)`` int64 indices and ``(N,)`` float32 distances, on ``x``'s device.
    """
    n = x.shape[0]
    if x.ndim != 2 or n < 2:
        raise ValueError(f"need an (N, D) matrix with N >= 2, got shape {tuple(x.shape)}")
    b = int(chunk_size or default_chunk_size(x.dtype))
    if b < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    best_d = torch.full((n,), float("inf"), dtype=torch.float32, device=x.device)
    best_i = torch.full((n,), -1, dtype=torch.long, device=x.device)
    with exact_matmul(), torch.no_grad():
        for i0 in range(0, n, b):
            i1 = min(i0 + b, n)
            xi = x[i0:i1]
            for j0 in range(i0, n, b):
                j1 = min(j0 + b, n)
                d = torch.rsub(xi @ x[j0:j1].T, 1.0).clamp_(0.0, 2.0)
                if d.dtype != torch.float32:
                    d = d.to(torch.float32)
                if j0 == i0:
                    d.fill_diagonal_(float("inf"))
                v, a = d.min(dim=1)
                _update(best_d[i0:i1], best_i[i0:i1], v, a + j0)
                if j0 != i0:
                    v, a = d.min(dim=0)
                    _update(best_d[j0:j1], best_i[j0:j1], v, a + i0)
    return best_i, best_d
