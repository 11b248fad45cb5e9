"""VOC AP (envelope, ties, difficult), mean AP and top-k accuracy."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from vi2clr.evaluate.metrics import mean_ap, topk_accuracy, voc_average_precision


def devkit_ap(scores, targets):
    """Independent brute force, written like the VOC devkit (VOCevalcls + VOCap, >= 2010):
    difficult count as neither TP nor FP; envelope by a backward loop; sum over recall steps."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # Python sort is stable
    tp = fp = 0
    npos = sum(1 for t in targets if t == 1)
    rec, prec = [], []
    for i in order:
        if targets[i] == 0:
            continue
        tp += targets[i] == 1
        fp += targets[i] == -1
        rec.append(tp / npos)
        prec.append(tp / (tp + fp))
    mrec, mpre = [0.0] + rec + [1.0], [0.0] + prec + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def test_all_correct_ranking_is_one():
    assert voc_average_precision([0.9, 0.8, 0.1, 0.0], [1, 1, -1, -1]) == 1.0


def test_one_wrong_at_the_top():
    # ranking -, +, + : precision at the positives 1/2, 2/3; envelope 2/3, 2/3
    assert voc_average_precision([0.9, 0.8, 0.7], [-1, 1, 1]) == pytest.approx(2 / 3)


def test_envelope_interpolates_precision():
    # ranking +, -, -, +, + : precision 1, 1/2, 1/3, 1/2, 3/5 -> envelope at the hits 1, 3/5, 3/5
    scores, targets = [5, 4, 3, 2, 1], [1, -1, -1, 1, 1]
    assert voc_average_precision(scores, targets) == pytest.approx((1 + 0.6 + 0.6) / 3)
    # the raw (non-interpolated) precision would give (1 + 1/2 + 3/5) / 3 = 0.7
    assert average_precision_score([1, 0, 0, 1, 1], scores) == pytest.approx(0.7)


def test_difficult_is_excluded_for_that_class():
    scores = [0.9, 0.8, 0.7, 0.6]
    # difficult dropped: +, -, + -> (1 + 2/3) / 2
    assert voc_average_precision(scores, [1, 0, -1, 1]) == pytest.approx(5 / 6)
    # the same image as a negative: +, -, -, + -> (1 + 1/2) / 2
    assert voc_average_precision(scores, [1, -1, -1, 1]) == pytest.approx(0.75)
    # a difficult image ranked first changes nothing
    assert voc_average_precision([1.0, 0.9, 0.8], [0, 1, -1]) == 1.0


def test_ties_keep_input_order():
    # stable sort by -score: among equal scores the earlier sample ranks first
    assert voc_average_precision([0.5, 0.5], [-1, 1]) == pytest.approx(0.5)
    assert voc_average_precision([0.5, 0.5], [1, -1]) == 1.0
    assert voc_average_precision([1.0, 0.5, 0.5, 0.5], [1, -1, -1, 1]) == pytest.approx(0.75)
    assert voc_average_precision([1.0, 0.5, 0.5, 0.5], [1, 1, -1, -1]) == 1.0


def test_matches_devkit_brute_force_on_random_data_with_ties_and_difficult():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(5, 60))
        scores = rng.integers(0, 8, n).astype(float)  # many ties
        targets = rng.choice([1, -1, 0], n, p=[0.3, 0.6, 0.1])
        targets[0] = 1
        assert voc_average_precision(scores, targets) == pytest.approx(devkit_ap(scores.tolist(), targets.tolist()))


def test_agrees_with_sklearn_when_the_envelope_is_flat():
    """Tie-free data: the envelope only raises precision, and leaves AP equal to sklearn's
    when precision at successive hits never increases."""
    rng = np.random.default_rng(1)
    equal_cases = 0
    for _ in range(200):
        n = 30
        scores, y = rng.permutation(n).astype(float), rng.random(n) < 0.3
        if not y.any():
            continue
        ours, raw = voc_average_precision(scores, np.where(y, 1, -1)), average_precision_score(y, scores)
        assert ours >= raw - 1e-12
        hits = y[np.argsort(-scores)]
        p_at_hits = (np.cumsum(hits) / np.arange(1, n + 1))[hits]
        if np.all(np.diff(p_at_hits) <= 0):
            equal_cases += 1
            assert ours == pytest.approx(raw)
    assert equal_cases > 0


def test_no_positive_is_a_clear_error():
    with pytest.raises(ValueError, match="no positive"):
        voc_average_precision([0.1, 0.2], [-1, 0])
    with pytest.raises(ValueError, match="targets must be in"):
        voc_average_precision([0.1, 0.2], [2, 1])


def test_mean_ap_skips_empty_classes():
    scores = np.array([[0.9, 0.1, 0.3], [0.1, 0.9, 0.2]])
    targets = np.array([[1, -1, -1], [-1, 1, -1]])
    m, per_class = mean_ap(scores, targets)
    assert m == 1.0 and per_class[:2].tolist() == [1.0, 1.0] and np.isnan(per_class[2])
    with pytest.raises(ValueError, match="class 2"):
        mean_ap(scores, targets, skip_empty=False)


def test_topk_accuracy_and_k_capped_at_num_classes():
    logits = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    acc = topk_accuracy(logits, labels, ks=(1, 2, 5))
    assert acc == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3), 5: 1.0}
    with pytest.raises(ValueError, match="labels must be in"):
        topk_accuracy(logits, np.array([0, 1, 3]))
