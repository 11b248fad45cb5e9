"""Per-cluster statistics used by CenterNCE: centroids and concentrations φ."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from vi2clr.paper import TAU


def _check(z: torch.Tensor, assignments: torch.Tensor, num_clusters: int) -> torch.Tensor:
    if z.ndim != 2 or assignments.shape != (z.shape[0],):
        raise ValueError(f"expected z (N, D) and assignments (N,), got {tuple(z.shape)} and {tuple(assignments.shape)}")
    s = assignments.to(device=z.device, dtype=torch.long)
    if s.numel() and (int(s.min()) < 0 or int(s.max()) >= num_clusters):
        raise ValueError(f"assignments must lie in [0, {num_clusters}), got range [{int(s.min())}, {int(s.max())}]")
    return s


def _sums_counts(z: torch.Tensor, s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    sums = torch.zeros(k, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, s, z)
    counts = torch.bincount(s, minlength=k)
    return sums, counts


def cluster_centroids(z: torch.Tensor, assignments: torch.Tensor, num_clusters: int) -> torch.Tensor:
    """c_k = normalise(mean_{i: s(i)=k} z_i): ``(N, D)``, ``(N,)`` → ``(K, D)`` unit rows.

    An empty cluster gets a zero row.
    """
    s = _check(z, assignments, num_clusters)
    sums, _ = _sums_counts(z, s, num_clusters)
    return F.normalize(sums, dim=1)


Concentration = Literal["pcl", "shared", "pcl_bounded"]


def cluster_concentration(
    z: torch.Tensor,
    assignments: torch.Tensor,
    num_clusters: int,
    tau: float = TAU,
    mode: Concentration = "pcl",
    bound: float = 2.0,
) -> torch.Tensor:
    """Per-cluster temperature φ, ``(N, D)``, ``(N,)`` → ``(K,)``.

    ``mode="pcl"`` (Eq. 3 with PCL's φ):

    1. φ_k = mean_{i∈k} ‖z_i − c̄_k‖₂ / log(n_k + 10), c̄_k the unnormalised mean;
    2. clusters with fewer than two members take the largest φ of the others
       (τ if no cluster has two members);
    3. clip φ to its 10th–90th percentile;
    4. rescale so that mean(φ) = τ (all φ = τ if they are all equal to zero).

    ``mode="shared"``: φ_k = τ for every k (CenterNCE becomes a plain softmax over centroids at
    the instance temperature).

    ``mode="pcl_bounded"``: steps 1–4, then φ_k ← clip(φ_k, τ/r, r·τ) with r = ``bound`` ≥ 1.
    Why: CenterNCE's logit for centroid k is z·c_k/φ_k, so two centroids at the same similarity s
    differ by s·(1/φ_a − 1/φ_b) nats from φ alone. PCL's percentile clip bounds φ relative to
    the other clusters only, so this spread is unbounded in units of τ and grows as features
    tighten (measured: φ from 0.03 to 0.18, ≈ 28 nats, against ≈ 0.25 nats of similarity
    difference between neighbouring centroids). Bounding φ in units of τ caps the φ-induced
    spread at s·(r − 1/r)/τ (r = 2: 1.5·s/τ; r = 1.25: 0.45·s/τ) whatever the epoch, while
    keeping PCL's ordering (tighter clusters still get sharper temperatures). r = 1 is
    ``shared``. The mean of the bounded φ is no longer exactly τ.
    """
    if mode not in ("pcl", "shared", "pcl_bounded"):
        raise ValueError(f"concentration mode must be 'pcl', 'shared' or 'pcl_bounded', got {mode!r}")
    if bound < 1:
        raise ValueError(f"concentration bound must be >= 1, got {bound}")
    s = _check(z, assignments, num_clusters)
    if mode == "shared":
        return torch.full((num_clusters,), float(tau), dtype=z.dtype, device=z.device)
    phi = _pcl_concentration(z, s, num_clusters, tau)
    if mode == "pcl_bounded":
        phi = phi.clamp(tau / bound, tau * bound)
    return phi


def _pcl_concentration(z: torch.Tensor, s: torch.Tensor, num_clusters: int, tau: float) -> torch.Tensor:
    sums, counts = _sums_counts(z, s, num_clusters)
    n_k = counts.to(z.dtype)
    means = sums / n_k.clamp(min=1)[:, None]
    dist = (z - means[s]).norm(dim=1)
    mean_dist = torch.zeros(num_clusters, dtype=z.dtype, device=z.device).index_add_(0, s, dist) / n_k.clamp(min=1)
    phi = mean_dist / torch.log(n_k + 10)
    small = counts < 2
    if bool(small.all()):
        return torch.full_like(phi, tau)
    phi = torch.where(small, phi[~small].max(), phi)
    lo, hi = torch.quantile(phi, torch.tensor([0.1, 0.9], dtype=phi.dtype, device=phi.device))
    phi = phi.clamp(lo, hi)
    mean = phi.mean()
    if float(mean) <= 0:
        return torch.full_like(phi, tau)
    return tau * phi / mean
