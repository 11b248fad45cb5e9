"""FINCH: identical partitions to finch-clust run exactly; blockwise neighbours; options."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import adjusted_rand_score

from vi2clr.clustering import FinchResult, cosine_first_neighbours, finch, select_partition

warnings.filterwarnings("ignore", message="pynndescent is not installed")
finch_clust = pytest.importorskip("finch")


def blobs(n: int, d: int = 128, seed: int = 0) -> np.ndarray:
    """~n/50 Gaussian blobs in d dimensions (no first-neighbour ties in practice)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(2, n // 50), d))
    x = centres[rng.integers(0, len(centres), n)] + 0.8 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def reference(x: np.ndarray, **kw):
    return finch_clust.FINCH(
        x, distance="cosine", ensure_early_exit=False, ann_threshold=len(x) + 1, verbose=False, **kw
    )


def assert_same_partitions(ours: FinchResult, ref_c: np.ndarray, ref_counts: list[int]) -> None:
    assert ours.num_clusters == list(ref_counts)
    assert ours.partitions.shape == ref_c.shape and ours.partitions.dtype == np.int64
    for level in range(ref_c.shape[1]):
        assert adjusted_rand_score(ref_c[:, level], ours.partitions[:, level]) == 1.0
    np.testing.assert_array_equal(ours.partitions, ref_c)  # even the label values agree


@pytest.mark.parametrize("n", [500, 2000, 5000])
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_finch_clust(n, seed):
    x = blobs(n, seed=seed)
    c, counts, _ = reference(x)
    assert_same_partitions(finch(x), c, counts)


def test_equal_to_finch_clust_unnormalised_low_dim():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((1500, 16)) * rng.uniform(0.1, 10, (1500, 1))).astype(np.float32)
    c, counts, _ = reference(x)
    assert_same_partitions(finch(x, chunk_size=200), c, counts)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_finch_clust_20k(seed):
    x = blobs(20000, seed=seed)
    c, counts, _ = reference(x)
    assert_same_partitions(finch(x), c, counts)


def test_requested_number_of_clusters_matches_finch_clust():
    x = blobs(2000, seed=4)
    c, counts, _ = reference(x)
    req = counts[1] - 7  # between two levels: merged one pair at a time
    _, _, ref_req = reference(x, req_clust=req)
    ours = finch(x, req_clust=req)
    assert len(np.unique(ours.req_partition)) == req
    assert adjusted_rand_score(ref_req, ours.req_partition) == 1.0
    np.testing.assert_array_equal(finch(x, req_clust=counts[1]).req_partition, c[:, 1])


def test_accepts_torch_input_and_precomputed_neighbours():
    x = blobs(600, seed=5)
    full = finch(torch.from_numpy(x))
    again = finch(x, first_neighbours=full.first_neighbours)
    np.testing.assert_array_equal(full.partitions, again.partitions)


# ---------------------------------------------------------------- blockwise first neighbours


def dense_first_neighbours(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.clip(1 - x @ x.T, 0, 2).astype(np.float32)
    np.fill_diagonal(d, np.inf)
    return d.argmin(axis=1), d.min(axis=1)  # argmin: lowest index on ties


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("n", "chunk"), [(60, 1), (300, 7), (700, 128), (700, 5000)])
def test_blockwise_neighbours_match_dense(dtype, n, chunk):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    dup = [n // 7, n // 2, n - 5]
    x[[3] + dup] = 0.0
    x[[3] + dup, :4] = 0.5  # exact duplicates with an exact dot product of 1 → ties across tiles
    x = x.astype(torch.empty(0, dtype=dtype).numpy().dtype)
    k, d = cosine_first_neighbours(torch.from_numpy(x), chunk_size=chunk, num_workers=1)
    k_ref, d_ref = dense_first_neighbours(x)
    k3, d3 = cosine_first_neighbours(torch.from_numpy(x), chunk_size=chunk, num_workers=3)  # threads share blocks
    assert torch.equal(k3, k) and torch.equal(d3, d)
    np.testing.assert_array_equal(k.numpy(), k_ref)
    np.testing.assert_allclose(d.numpy(), d_ref, rtol=1e-6, atol=1e-7)  # dot products may differ by an ulp
    assert d.dtype == torch.float32 and k.dtype == torch.int64
    assert k[3] == dup[0] and k[dup[0]] == 3 and k[dup[2]] == 3  # lowest index wins ties


# ---------------------------------------------------------------- options of the original release


def dense_original_finch(x: np.ndarray, prune: bool) -> list[int]:
    """Dense restatement of the original release's rules, for small inputs: links
    (A+I)(A+I)ᵀ without diagonal, weight = its entries, pruning by the level-0 maximum,
    stop on one cluster or no merge."""

    def level(points):
        xn = points / np.linalg.norm(points, axis=1, keepdims=True)
        d = np.clip(1 - xn @ xn.T, 0, 2).astype(np.float32)
        np.fill_diagonal(d, np.float32(1e12))
        kappa = d.argmin(axis=1)
        a = sp.csr_matrix((np.ones(len(d)), (np.arange(len(d)), kappa)), shape=d.shape) + sp.eye(len(d))
        w = (a @ a.T).toarray()
        np.fill_diagonal(w, 0)
        return d, w

    def means(labels):
        return np.stack([x[labels == k].astype(np.float64).mean(axis=0) for k in range(labels.max() + 1)])

    d, w = level(x)
    labels = connected_components(sp.csr_matrix(w), directed=True, connection="weak")[1]
    threshold = (d * w).max() if prune else np.inf
    counts = [labels.max() + 1]
    while True:
        d, w = level(means(labels))
        w[(d * w) > threshold] = 0
        k, u = connected_components(sp.csr_matrix(w), directed=True, connection="weak")
        if k == 1 or counts[-1] - k < 1:
            return counts
        labels = u[labels]
        counts.append(k)
        if counts[-2] - k == 1:
            return counts


@pytest.mark.parametrize("prune", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_original_release_options(prune, seed):
    x = blobs(400, d=16, seed=seed)
    ours = finch(x, stop_rule="original", distance_pruning=prune)
    assert ours.num_clusters == dense_original_finch(x, prune)


def test_original_stop_rule_extends_finch_clust_rule():
    for seed in range(4):
        x = blobs(300, d=8, seed=seed)
        a, b = finch(x), finch(x, stop_rule="original")
        levels = a.partitions.shape[1]
        np.testing.assert_array_equal(b.partitions[:, :levels], a.partitions)
        assert b.partitions.shape[1] - levels in (0, 1)
        if b.partitions.shape[1] > levels:
            assert b.num_clusters[-2] - b.num_clusters[-1] == 1


def test_select_partition_defaults_to_second_and_warns_when_missing():
    x = blobs(500, seed=0)
    res = finch(x)
    np.testing.assert_array_equal(select_partition(res), res.partitions[:, 1])
    with pytest.warns(UserWarning, match="using partition"):
        last = select_partition(res, partition=50)
    np.testing.assert_array_equal(last, res.partitions[:, -1])


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="N >= 2"):
        finch(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="stop_rule"):
        finch(blobs(10), stop_rule="never")


# ---------------------------------------------------------------- memory


PEAK_RSS_SCRIPT = textwrap.dedent(
    """
    import resource, sys, numpy as np, torch
    from vi2clr.clustering import finch
    n = int(sys.argv[1])
    torch.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal((n, 128)).astype(np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finch(x)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """
)


def peak_rss_growth_mb(n: int) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, str(n)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def test_memory_is_bounded_small():
    # a dense 8000² float32 distance matrix alone would add 256 MB
    assert peak_rss_growth_mb(8000) < 64


@pytest.mark.slow
def test_memory_is_bounded_100k():
    # dense would need 40 GB; ours: data (51 MB) + tiles + bookkeeping
    assert peak_rss_growth_mb(100_000) < 400
