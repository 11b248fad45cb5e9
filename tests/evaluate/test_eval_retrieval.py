"""Recall@k against a brute-force loop; test-queries-train retrieval."""

import numpy as np
import pytest

from vi2clr.evaluate.metric_names import retrieval_recall
from vi2clr.evaluate.metrics import recall_at_k
from vi2clr.evaluate.retrieval import prepare_retrieval_features, video_retrieval


def brute_force_recall(q, ql, g, gl, k):
    hits = 0
    for i in range(len(q)):
        sims = [float(np.dot(q[i], g[j])) for j in range(len(g))]
        nearest = sorted(range(len(g)), key=lambda j: -sims[j])[:k]
        hits += any(gl[j] == ql[i] for j in nearest)
    return hits / len(q)


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_recall_at_k_matches_brute_force_across_blocks():
    rng = np.random.default_rng(0)
    q, g = unit(rng.normal(size=(37, 6))), unit(rng.normal(size=(53, 6)))
    ql, gl = rng.integers(0, 7, 37), rng.integers(0, 7, 53)
    ks = (1, 5, 10, 20, 50, 100)
    got = recall_at_k(q, ql, g, gl, ks, block_size=8)
    for k in ks:
        assert got[k] == pytest.approx(brute_force_recall(q, ql, g, gl, min(k, 53))), k  # k > G: k = G


def test_recall_rejects_unnormalised_features():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="not L2-normalised"):
        recall_at_k(x, [0, 1, 2], x, [0, 1, 2], (1,))


def test_prepare_centres_then_normalises():
    x = np.random.default_rng(0).normal(loc=5.0, size=(20, 4))
    p = prepare_retrieval_features(x)
    expected = unit(x - x.mean(axis=0))
    np.testing.assert_allclose(p, expected, rtol=1e-5, atol=1e-6)
    assert p.dtype == np.float32


def test_identical_train_and_test_give_recall_one():
    rng = np.random.default_rng(1)
    feats, labels = rng.normal(size=(40, 8)), rng.integers(0, 5, 40)
    out = video_retrieval(feats, labels, feats, labels, ks=(1, 5))
    assert out == {retrieval_recall(1): 1.0, retrieval_recall(5): 1.0}
