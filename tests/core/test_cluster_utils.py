"""K-means, centroids and φ, the cluster-aware sampler, diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vi2clr.clustering import (
    ClusterAwareBatchSampler,
    cluster_centroids,
    cluster_concentration,
    cluster_diagnostics,
    kmeans,
)

# ---------------------------------------------------------------- K-means


def test_kmeans_reproducible_by_seed():
    x = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    a, ca = kmeans(x, 7, seed=1)
    b, cb = kmeans(torch.from_numpy(x), 7, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ca, cb)
    assert a.dtype == np.int64 and ca.shape == (7, 8)
    np.testing.assert_allclose(np.linalg.norm(ca, axis=1), 1.0, rtol=1e-5)
    c, _ = kmeans(x, 7, seed=2)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="k must be in"):
        kmeans(x, 301)


# ---------------------------------------------------------------- centroids and φ


def test_centroids_are_normalised_means():
    z = F.normalize(torch.randn(20, 5, dtype=torch.float64), dim=1)
    s = torch.arange(20) % 4
    c = cluster_centroids(z, s, 4)
    for k in range(4):
        torch.testing.assert_close(c[k], F.normalize(z[s == k].mean(0), dim=0))


def loop_concentration(z, s, k, tau):
    phi = []
    for c in range(k):
        members = z[s == c]
        n = len(members)
        phi.append(None if n < 2 else float((members - members.mean(0)).norm(dim=1).mean()) / math.log(n + 10))
    largest = max(p for p in phi if p is not None)
    phi = np.array([largest if p is None else p for p in phi])
    phi = np.clip(phi, np.percentile(phi, 10), np.percentile(phi, 90))
    return tau * phi / phi.mean()


def test_concentration_matches_loop_and_has_mean_tau():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(60, 6, generator=g, dtype=torch.float64), dim=1)
    s = torch.randint(0, 12, (60,), generator=g)
    s[0] = 12  # a singleton cluster
    phi = cluster_concentration(z, s, 13, tau=0.08)
    np.testing.assert_allclose(phi.numpy(), loop_concentration(z, s, 13, 0.08), rtol=1e-10)
    assert phi.shape == (13,) and math.isclose(float(phi.mean()), 0.08, rel_tol=1e-12)
    assert float(phi[12]) == float(phi.max())  # the singleton takes the largest φ


def test_concentration_all_singletons_is_tau():
    z = torch.randn(5, 3)
    torch.testing.assert_close(cluster_concentration(z, torch.arange(5), 5), torch.full((5,), 0.08))


# ---------------------------------------------------------------- sampler


def make_assignments(seed=0, n=203, k=17):
    return np.random.default_rng(seed).integers(0, k, n)


def epoch_batches(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_sampler_batches_are_groups_of_one_cluster():
    a = make_assignments()
    sampler = ClusterAwareBatchSampler(a, batch_size=12, group_size=4, seed=3)
    batches = epoch_batches(sampler, 0)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        assert len(batch) == 12 == len(set(batch))  # never the same item (a bit-identical view) twice
        for g in range(3):
            group = batch[4 * g : 4 * g + 4]
            ids, counts = np.unique(a[group], return_counts=True)
            if len(ids) > 1:  # only when the group's cluster has no member left outside the batch
                major = ids[counts.argmax()]
                assert set(np.flatnonzero(a == major)) <= set(batch)
    # each sample at most once, apart from the padding of the last group of each cluster
    seen = np.concatenate(batches)
    assert len(seen) - len(np.unique(seen)) <= 3 * 17


def test_sampler_visits_every_sample_without_drop_last():
    a = make_assignments(seed=1)
    sampler = ClusterAwareBatchSampler(a, batch_size=8, group_size=4, drop_last=False)
    assert set(np.concatenate(epoch_batches(sampler, 0)).tolist()) == set(range(len(a)))


def test_sampler_two_ranks_disjoint_same_length():
    a = make_assignments(seed=2, n=400, k=25)
    ranks = [ClusterAwareBatchSampler(a, 16, 4, num_replicas=2, rank=r, seed=7) for r in range(2)]
    b0, b1 = epoch_batches(ranks[0], 5), epoch_batches(ranks[1], 5)
    assert len(b0) == len(b1) == len(ranks[0]) == len(ranks[1])
    # disjoint: whole groups never shared (padding duplicates stay inside their own group)
    groups = lambda batches: {tuple(sorted(b[i : i + 4])) for b in batches for i in range(0, 16, 4)}
    assert not groups(b0) & groups(b1)
    # both ranks together cover each cluster's samples once (up to padding)
    assert len(np.unique(np.concatenate(b0 + b1))) > 0.85 * len(a)


def test_sampler_deterministic_per_epoch_and_differs_across_epochs():
    a = make_assignments(seed=3)
    s1 = ClusterAwareBatchSampler(a, 12, 3, seed=11)
    s2 = ClusterAwareBatchSampler(a, 12, 3, seed=11)
    assert epoch_batches(s1, 2) == epoch_batches(s2, 2)
    assert epoch_batches(s1, 2) != epoch_batches(s1, 3)
    s2.load_state_dict(s1.state_dict())
    assert s2.state_dict() == {"epoch": 3, "seed": 11}
    assert list(s1) == list(s2)


def test_sampler_len_matches_iteration_and_rejects_bad_sizes():
    a = make_assignments(seed=4)
    for drop_last in (True, False):
        for reps in (1, 3):
            s = ClusterAwareBatchSampler(a, 10, 5, num_replicas=reps, rank=reps - 1, drop_last=drop_last)
            assert len(list(s)) == len(s)
    with pytest.raises(ValueError, match="multiple of group_size"):
        ClusterAwareBatchSampler(a, 10, 4)
    with pytest.raises(ValueError, match="not enough for one batch"):
        ClusterAwareBatchSampler(np.zeros(12, dtype=int), 8, 4, num_replicas=2)


# ---------------------------------------------------------------- diagnostics


def test_cluster_diagnostics():
    a = np.array([0, 0, 0, 1, 1, 2])
    y = np.array([5, 5, 6, 6, 6, 7])
    d = cluster_diagnostics(a, {"class": y})
    assert d["num_clusters"] == 3 and d["size_min"] == 1 and d["size_max"] == 3
    assert d["size_median"] == 2 and d["size_mean"] == 2 and d["singletons"] == 1
    assert d["class_purity"] == pytest.approx(5 / 6)
    perfect = cluster_diagnostics(y, {"class": y})
    assert perfect["class_nmi"] == pytest.approx(1.0) and perfect["class_ari"] == pytest.approx(1.0)


def test_sampler_never_repeats_an_item_in_a_batch_even_with_small_clusters():
    # many singletons and clusters smaller than M: the old padding repeated them
    a = np.concatenate([np.arange(30), np.repeat(np.arange(30, 40), 3), np.repeat([40, 41], 9)])
    for drop_last in (True, False):
        for reps, rank in ((1, 0), (2, 1)):
            s = ClusterAwareBatchSampler(a, 8, 4, num_replicas=reps, rank=rank, seed=5, drop_last=drop_last)
            for epoch in range(4):
                batches = epoch_batches(s, epoch)
                assert len(batches) == len(s)
                for batch in batches:
                    assert len(batch) == 8 == len(set(batch))
    # groups of the big clusters (9 members ≥ M) are still one cluster each
    s = ClusterAwareBatchSampler(a, 8, 4, seed=5)
    big = {i for i in range(len(a)) if a[i] >= 40}
    for batch in epoch_batches(s, 0):
        for g in (batch[:4], batch[4:]):
            if set(g) <= big:
                assert len({int(a[i]) for i in g}) == 1


def test_sampler_never_draws_excluded_items():
    a = make_assignments(seed=6, n=120, k=9)
    bad = np.array([3, 17, 50, 51, 99])
    a[bad] = -1  # undecodable: left out of clustering
    for drop_last in (True, False):
        s = ClusterAwareBatchSampler(a, 8, 4, seed=1, drop_last=drop_last)
        drawn = np.concatenate(epoch_batches(s, 0) + epoch_batches(s, 1))
        assert not np.isin(drawn, bad).any()
    s = ClusterAwareBatchSampler(a, 8, 4, drop_last=False)
    assert set(np.concatenate(epoch_batches(s, 0)).tolist()) == set(range(120)) - set(bad.tolist())
    with pytest.raises(ValueError, match="exceeds the 2 clustered items"):
        ClusterAwareBatchSampler(np.array([0, 0, -1, -1]), 4, 2)
