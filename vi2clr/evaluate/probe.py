"""Learning check (not a paper table): can a linear classifier read the synthetic ground truth
(motion class, appearance class) off frozen features?"""

from __future__ import annotations

import numpy as np


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    """Accuracy of multinomial logistic regression (L2, C = 1) on z-scored features.

    train_x: (N, D), train_y: (N,), test_x: (M, D), test_y: (M,). The scaler's mean and std come
    from the training features only. Returns mean(predict(test_x) == test_y) in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    clf.fit(train_x, train_y)
    return float((clf.predict(test_x) == np.asarray(test_y)).mean())
