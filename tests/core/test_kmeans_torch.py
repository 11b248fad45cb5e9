"""K-means as torch ops: recovers separated clusters, seeded, handles empty clusters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from vi2clr.clustering import kmeans
from vi2clr.clustering.kmeans_torch import kmeans_torch


def mixture(n=3000, k=20, d=16, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((k, d))
    y = rng.integers(0, k, n)
    return (c[y] + noise * rng.standard_normal((n, d))).astype(np.float32), y


@pytest.mark.parametrize("spherical", [True, False])
def test_recovers_separated_clusters_as_well_as_sklearn(spherical):
    x, y = mixture()
    ours, centres = kmeans_torch(x, 20, seed=0, n_init=8, spherical=spherical)
    ref, ref_centres = kmeans(x, 20, seed=0, n_init=8, spherical=spherical)
    xs = x / np.linalg.norm(x, axis=1, keepdims=True) if spherical else x

    def inertia(labels, c):
        return float(((xs - c[labels]) ** 2).sum())

    # same objective within 5 % of scikit-learn's (both are local optima of Lloyd from k-means++)
    assert inertia(ours, centres) <= 1.05 * inertia(ref, ref_centres)
    assert adjusted_rand_score(y, ours) > 0.9
    assert ours.dtype == np.int64 and centres.shape == (20, 16) and centres.dtype == np.float32
    if spherical:
        np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, rtol=1e-5)


def test_labels_are_nearest_centres_and_seeded():
    x, _ = mixture(n=800, k=8, noise=1.0, seed=1)
    a, c = kmeans_torch(x, 8, seed=3, spherical=False)
    d = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    assert (d[np.arange(len(x)), a] <= d.min(1) + 1e-4).all()  # a fixed point of Lloyd
    b, _ = kmeans_torch(torch.from_numpy(x), 8, seed=3, spherical=False)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, kmeans_torch(x, 8, seed=4, spherical=False)[0])


def test_no_empty_cluster_with_duplicates_and_k_equal_n():
    x = np.repeat(np.eye(4, dtype=np.float32), [50, 1, 1, 1], axis=0)  # 53 rows, 4 distinct
    labels, _ = kmeans_torch(x, 4, seed=0, init="random")
    assert len(np.unique(labels)) == 4
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    labels, _ = kmeans_torch(x, 10, seed=0)
    assert sorted(labels) == list(range(10))
    with pytest.raises(ValueError, match="k must be in"):
        kmeans_torch(x, 11)


def test_small_blocks_give_the_same_result():
    x, _ = mixture(n=500, k=6, seed=2)
    np.testing.assert_array_equal(kmeans_torch(x, 6, seed=0)[0], kmeans_torch(x, 6, seed=0, block=37)[0])
