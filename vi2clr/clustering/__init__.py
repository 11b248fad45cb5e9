"""Clustering of joint features: FINCH, K-means, centroids and φ, cluster-aware batches, diagnostics."""

from vi2clr.clustering.diagnostics import center_nce_diagnostics, cluster_diagnostics
from vi2clr.clustering.finch import FinchResult, finch, select_partition
from vi2clr.clustering.kmeans import kmeans
from vi2clr.clustering.kmeans_torch import kmeans_torch
from vi2clr.clustering.neighbours import cosine_first_neighbours
from vi2clr.clustering.sampler import ClusterAwareBatchSampler
from vi2clr.clustering.stats import cluster_centroids, cluster_concentration

__all__ = [
    "ClusterAwareBatchSampler",
    "center_nce_diagnostics",
    "FinchResult",
    "cluster_centroids",
    "cluster_concentration",
    "cluster_diagnostics",
    "cosine_first_neighbours",
    "finch",
    "kmeans",
    "kmeans_torch",
    "select_partition",
]
