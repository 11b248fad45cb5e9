"""K-means baseline (Table 1: FINCH vs K-means with K taken from FINCH)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.preprocessing import normalize


def kmeans(
    x: np.ndarray | torch.Tensor,
    k: int,
    *,
    seed: int = 0,
    spherical: bool = True,
    n_init: int = 3,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded K-means (scikit-learn ``KMeans``, Lloyd, k-means++ init).

    With ``spherical=True`` the rows are L2-normalised first and the returned centres are
    re-normalised to unit norm (spherical K-means by Euclidean K-means on the sphere).

    Args:
        x: features ``(N, D)``.
        k: number of clusters, 1 ≤ k ≤ N.
        seed: ``random_state``; the same seed gives the same result.
        spherical: normalise rows (and centres) as described above.
        n_init, max_iter: passed to ``KMeans``.

    Returns:
        ``(labels (N,) int64, centres (k, D) float32)``.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"kmeans needs an (N, D) matrix, got shape {x.shape}")
    if not 1 <= int(k) <= x.shape[0]:
        raise ValueError(f"k must be in [1, N={x.shape[0]}], got {k}")
    if spherical:
        x = normalize(x)
    km = KMeans(n_clusters=int(k), n_init=n_init, max_iter=max_iter, random_state=seed).fit(x)
    centres = km.cluster_centers_.astype(np.float32)
    if spherical:
        centres = normalize(centres).astype(np.float32)
    return km.labels_.astype(np.int64), centres
