"""Nearest-neighbour video retrieval, test queries train (Table 5).

Each video's feature is the mean over its sliding T-frame windows of the encoder output
before the projection head (done by `features.extract_features(..., reduce_windows=True)`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vi2clr.evaluate.metric_names import RETRIEVAL_KS, retrieval_recall
from vi2clr.evaluate.metrics import recall_at_k


def prepare_retrieval_features(feats: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Centre a set by its own mean, then L2-normalise each row.

    feats: (N, D) → (N, D) float32, x̃_i = (x_i − x̄) / ‖x_i − x̄‖₂ with x̄ = mean_i x_i.
    """
    x = np.asarray(feats, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"features must be a non-empty (N, D) array, got shape {x.shape}")
    x = x - x.mean(axis=0, keepdims=True)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)).astype(np.float32)


def video_retrieval(
    train_feats: np.ndarray,
    train_labels: np.ndarray,
    test_feats: np.ndarray,
    test_labels: np.ndarray,
    ks: Sequence[int] = RETRIEVAL_KS,
) -> dict[str, float]:
    """Recall@k of test videos querying the training videos.

    train_feats: (G, D), test_feats: (Q, D) raw video features; labels (G,), (Q,) ints.
    Each set is centred by its own mean and L2-normalised (`prepare_retrieval_features`);
    similarity is the cosine. Returns {`retrieval/r{k}`: recall in [0, 1]}.
    """
    recalls = recall_at_k(
        prepare_retrieval_features(test_feats),
        test_labels,
        prepare_retrieval_features(train_feats),
        train_labels,
        ks,
    )
    return {retrieval_recall(k): r for k, r in recalls.items()}
