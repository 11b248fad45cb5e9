"""Step (a)-(c) of Algorithm 1: joint features of every training video → clusters → centroids, φ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from vi2clr.clustering import (
    cluster_centroids,
    cluster_concentration,
    finch,
    kmeans,
    kmeans_torch,
    select_partition,
)
from vi2clr.config import ClusteringParams
from vi2clr.train.distributed import gather_rows


@dataclass
class ClusterState:
    """Result of one clustering pass. ``assignments`` (N,) long, −1 for items left out of
    clustering (undecodable); ``centroids`` (K, D) unit rows;
    ``phi`` (K,) concentrations (mean τ for ``pcl``). ``centroids is None`` marks instance discrimination
    (warm-up): every sample is its own cluster and CenterNCE is off."""

    assignments: torch.Tensor
    centroids: torch.Tensor | None
    phi: torch.Tensor | None
    method: str

    @property
    def num_clusters(self) -> int:
        return int(self.assignments.max()) + 1 if self.assignments.numel() else 0

    def state_dict(self) -> dict:
        return {"assignments": self.assignments, "centroids": self.centroids, "phi": self.phi,
                "method": self.method}

    @classmethod
    def from_state_dict(cls, state: dict) -> ClusterState:
        return cls(state["assignments"], state["centroids"], state["phi"], state["method"])

    @classmethod
    def instances(cls, num_samples: int) -> ClusterState:
        return cls(torch.arange(num_samples), None, None, "instance")


Stream = Literal["joint", "video", "image"]
_STREAM_INDEX = {"video": 0, "image": 1, "joint": 2}


def _stream_features(model: nn.Module, batch: dict, device: torch.device, stream: Stream) -> torch.Tensor:
    """``(B, proj_dim)`` unit rows of one stream; a single stream runs only its own encoder and head."""
    if stream == "video" and hasattr(model, "video_head"):
        return model.video_head(model.video_encoder(batch["video"].to(device, non_blocking=True)))
    if stream == "image" and hasattr(model, "image_head"):
        return model.image_head(model.image_encoder(batch["image"].to(device, non_blocking=True)))
    out = model(batch["video"].to(device, non_blocking=True), batch["image"].to(device, non_blocking=True))
    return out[_STREAM_INDEX[stream]]


@torch.inference_mode()
def extract_features(
    model: nn.Module, loader, device: torch.device, num_rows: int, stream: Stream = "joint"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of one stream for every video, and which videos could be read.

    z (num_rows, proj_dim) float32 on the CPU: the L2-normalised head output of ``stream`` —
    ``"joint"`` z_J = g_J(concat(z_V, z_I)), ``"video"`` z_V = g_V(f_V(clip)), ``"image"``
    z_I = g_I(f_I(frame)) — of the deterministic centre clip and its middle frame, in eval
    mode, gathered across ranks (DistributedSampler padding removed). valid (num_rows,) bool:
    False for videos no rank could decode; their rows are zero and must stay out of
    clustering (:func:`cluster_features` ``valid=``).
    """
    if stream not in _STREAM_INDEX:
        raise ValueError(f"stream must be 'joint', 'video' or 'image', got {stream!r}")
    was_training = model.training
    model.eval()
    feats, idx = [], []
    for batch in loader:
        if len(batch.get("index", [])) == 0:
            continue
        z = _stream_features(model, batch, device, stream).float()
        # a column of ones travels with the rows: after the gather it marks the rows someone wrote
        feats.append(torch.cat([z, torch.ones_like(z[:, :1])], dim=1))
        idx.append(batch["index"].to(device))
    model.train(was_training)
    dim = (model.proj_dim if hasattr(model, "proj_dim") else feats[0].shape[1] - 1) + 1
    local = torch.cat(feats) if feats else torch.zeros((0, dim), device=device)
    local_idx = torch.cat(idx) if idx else torch.zeros((0,), dtype=torch.long, device=device)
    rows = gather_rows(local, local_idx, num_rows).cpu()
    return rows[:, :-1].contiguous(), rows[:, -1] > 0


def cluster_features(
    z: torch.Tensor,
    cfg: ClusteringParams,
    *,
    tau: float,
    seed: int,
    valid: torch.Tensor | None = None,
    device: str | torch.device | None = None,
) -> ClusterState:
    """Cluster the valid rows of z (N, D): FINCH (partition ``cfg.partition``) or K-means (K given,
    or the cluster count of the FINCH partition), then centroids c_k and concentrations φ_k
    (``cfg.concentration``).

    Args:
        z: features ``(N, D)``.
        valid: ``(N,)`` bool, rows that were decoded; default: the rows of non-zero norm (an
            unreadable video's row is zero). Invalid rows get assignment −1: no cluster, no
            part in centroids or φ, never drawn by the sampler.
        device: where FINCH and (torch) K-means run — the training device; None = the host
            reference path (scipy components). Partitions agree (see :func:`finch`).
    """
    x = torch.nn.functional.normalize(z.float(), dim=1)
    if valid is None:
        valid = z.float().norm(dim=1) > 0
    valid = valid.to(torch.bool).cpu()
    if valid.shape != (z.shape[0],):
        raise ValueError(f"valid must be ({z.shape[0]},), got {tuple(valid.shape)}")
    rows = torch.nonzero(valid).squeeze(1)
    if rows.numel() < 2:
        raise ValueError(f"clustering needs at least 2 decodable videos, got {rows.numel()}")
    xv = x[rows]
    if cfg.method == "finch" or cfg.kmeans_k == "finch":
        result = finch(xv, device=device)
        labels = np.asarray(select_partition(result, cfg.partition))
    if cfg.method == "kmeans":
        k = int(labels.max()) + 1 if cfg.kmeans_k == "finch" else int(cfg.kmeans_k)
        k = max(1, min(k, xv.shape[0]))
        if cfg.kmeans_impl == "torch":
            labels, _ = kmeans_torch(xv, k, seed=seed, spherical=cfg.spherical, n_init=cfg.kmeans_n_init,
                                     max_iter=cfg.kmeans_max_iter, device=device)
        else:
            labels, _ = kmeans(xv.numpy(), k, seed=seed, spherical=cfg.spherical, n_init=cfg.kmeans_n_init,
                               max_iter=cfg.kmeans_max_iter)
        labels = np.asarray(labels)
    # Relabel to 0..K-1 (sorted ids) so K = max + 1 holds for any method.
    _, labels = np.unique(labels, return_inverse=True)
    sub = torch.from_numpy(labels.astype(np.int64).reshape(-1))
    k = int(sub.max()) + 1
    centroids = cluster_centroids(xv, sub, k)
    phi = cluster_concentration(xv, sub, k, tau=tau, mode=cfg.concentration, bound=cfg.concentration_bound)
    assignments = torch.full((z.shape[0],), -1, dtype=torch.long)
    assignments[rows] = sub
    return ClusterState(assignments, centroids, phi, cfg.method)
