"""FINCH as torch ops on a device equals the reference path (scipy components), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components as scipy_components

from vi2clr.clustering import finch
from vi2clr.clustering.components import connected_components


def _datasets():
    rng = np.random.default_rng(7)
    blobs_c = rng.standard_normal((30, 32))
    yield "blobs", (blobs_c[rng.integers(0, 30, 1500)] + 0.7 * rng.standard_normal((1500, 32))).astype(np.float32)
    yield "uniform", rng.standard_normal((2000, 128)).astype(np.float32)
    base = rng.standard_normal((300, 16)).astype(np.float32)
    yield "duplicates", base[rng.integers(0, 300, 1200)]  # exact duplicate rows: zero-distance ties
    yield "lattice", rng.integers(0, 2, (1500, 8)).astype(np.float32) + 1e-3 * (np.arange(8) == 0)  # many exact cosine ties
    yield "low_dim", (rng.standard_normal((1000, 3)) * rng.uniform(0.1, 10, (1000, 1))).astype(np.float32)


@pytest.mark.parametrize("name,x", list(_datasets()), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("kw", [{}, {"distance_pruning": True}, {"stop_rule": "original"}])
def test_device_path_equals_reference(name, x, kw):
    ref = finch(x, **kw)
    dev = finch(x, device="cpu", chunk_size=300, **kw)
    assert dev.num_clusters == ref.num_clusters
    np.testing.assert_array_equal(dev.partitions, ref.partitions)  # labels too, not only partitions
    np.testing.assert_array_equal(dev.first_neighbours, ref.first_neighbours)


def test_device_path_requested_partition_equals_reference():
    x = next(_datasets())[1]
    ref = finch(x)
    req = ref.num_clusters[1] - 5
    np.testing.assert_array_equal(finch(x, device="cpu", req_clust=req).req_partition,
                                  finch(x, req_clust=req).req_partition)


@pytest.mark.parametrize("seed", range(5))
def test_torch_components_equal_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    e = int(rng.integers(0, 2 * n))
    rows, cols = rng.integers(0, n, e), rng.integers(0, n, e)
    k_ref, ref = scipy_components(sp.csr_matrix((np.ones(e), (rows, cols)), shape=(n, n)),
                                  directed=True, connection="weak")
    labels, k = connected_components(n, torch.from_numpy(rows), torch.from_numpy(cols))
    assert k == k_ref
    np.testing.assert_array_equal(labels.numpy(), ref)


def test_torch_components_long_chain():
    # a path 0-1-…-n−1 given in reverse order: needs pointer jumping, still one component
    n = 5000
    rows = torch.arange(n - 1, 0, -1)
    labels, k = connected_components(n, rows, rows - 1)
    assert k == 1 and int(labels.max()) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_path_equals_reference():
    x = next(_datasets())[1]
    np.testing.assert_array_equal(finch(x, device="cuda").partitions, finch(x).partitions)
