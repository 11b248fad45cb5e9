"""Step (a)-(c) of Algorithm 1: joint features of every training video → clusters → centroids, φ."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vi2clr.clustering import (
    cluster_centroids,
    cluster_concentration,
    finch,
    kmeans,
    select_partition,
)
from vi2clr.config import ClusteringParams
from vi2clr.train.distributed import gather_rows


@dataclass
class ClusterState:
    """Result of one clustering pass. ``assignments`` (N,) long; ``centroids`` (K, D) unit rows;
    ``phi`` (K,) concentrations with mean τ. ``centroids is None`` marks instance discrimination
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
    def from_state_dict(cls, state: dict) -> "ClusterState":
        return cls(state["assignments"], state["centroids"], state["phi"], state["method"])

    @classmethod
    def instances(cls, num_samples: int) -> "ClusterState":
        return cls(torch.arange(num_samples), None, None, "instance")


@torch.inference_mode()
def extract_joint_features(model: nn.Module, loader, device: torch.device, num_rows: int) -> torch.Tensor:
    """z_J (num_rows, D) of the deterministic centre clip + its middle frame of every video, in eval
    mode, gathered across ranks (DistributedSampler padding removed). Unreadable videos get a zero row."""
    was_training = model.training
    model.eval()
    feats, idx = [], []
    for batch in loader:
        if len(batch.get("index", [])) == 0:
            continue
        _, _, z_joint = model(batch["video"].to(device, non_blocking=True),
                              batch["image"].to(device, non_blocking=True))
        feats.append(z_joint.float())
        idx.append(batch["index"].to(device))
    model.train(was_training)
    dim = model.proj_dim if hasattr(model, "proj_dim") else feats[0].shape[1]
    local = torch.cat(feats) if feats else torch.zeros((0, dim), device=device)
    local_idx = torch.cat(idx) if idx else torch.zeros((0,), dtype=torch.long, device=device)
    return gather_rows(local, local_idx, num_rows).cpu()


def cluster_features(z: torch.Tensor, cfg: ClusteringParams, *, tau: float, seed: int) -> ClusterState:
    """Cluster joint features z (N, D): FINCH (partition ``cfg.partition``) or K-means (K given, or
    the cluster count of the FINCH partition), then centroids c_k and concentrations φ_k."""
    x = torch.nn.functional.normalize(z.float(), dim=1)
    if cfg.method == "finch" or cfg.kmeans_k == "finch":
        result = finch(x)
        labels = np.asarray(select_partition(result, cfg.partition))
    if cfg.method == "kmeans":
        k = int(labels.max()) + 1 if cfg.kmeans_k == "finch" else int(cfg.kmeans_k)
        k = max(1, min(k, x.shape[0]))
        labels, _ = kmeans(x.numpy(), k, seed=seed, spherical=cfg.spherical)
        labels = np.asarray(labels)
    # Relabel to 0..K-1 in order of first appearance so K = max + 1 holds for any method.
    _, labels = np.unique(labels, return_inverse=True)
    assignments = torch.from_numpy(labels.astype(np.int64))
    k = int(assignments.max()) + 1
    centroids = cluster_centroids(x, assignments, k)
    phi = cluster_concentration(x, assignments, k, tau=tau)
    return ClusterState(assignments, centroids, phi, cfg.method)
