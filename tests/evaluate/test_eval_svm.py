"""VOC07 linear SVMs and the few-shot sampler."""

import subprocess
import sys

import numpy as np
import pytest

from vi2clr.evaluate.errors import EvalError
from vi2clr.evaluate.svm import fewshot_sample, voc07_fewshot, voc07_svm

COSTS = (0.1, 1.0, 10.0)


def separable_voc(n, num_classes=4, dim=12, seed=0, difficult=0.05):
    """Multi-label targets in {1, -1, 0}; feature = sum of the present classes' axes + noise,
    so each class is linearly separable (x_c > 0.5 iff present)."""
    rng = np.random.default_rng(seed)
    present = rng.random((n, num_classes)) < 0.3
    present[np.arange(n) % num_classes == np.arange(n) // num_classes % num_classes] = True
    x = np.zeros((n, dim))
    x[:, :num_classes] = present
    x += 0.05 * rng.normal(size=x.shape)
    x[:, num_classes:] += 1.0  # keep norms away from zero after L2 normalisation
    targets = np.where(present, 1, -1)
    targets[(rng.random(targets.shape) < difficult) & present] = 0
    return x, targets


def test_fewshot_sample_draws_k_positives_19k_negatives_never_difficult():
    rng = np.random.default_rng(0)
    col = np.array([1] * 10 + [0] * 30 + [-1] * 200)
    for k in (1, 2, 4, 8):
        idx = fewshot_sample(col, k, rng)
        assert len(np.unique(idx)) == len(idx) == 20 * k
        assert (col[idx] == 1).sum() == k and (col[idx] == -1).sum() == 19 * k
        assert not (col[idx] == 0).any()


def test_fewshot_sample_errors_name_the_empty_class():
    col = np.array([0, 0, -1, -1] + [-1] * 50)  # positives only difficult
    with pytest.raises(EvalError, match=r"class 'bottle' has 0 non-difficult positives, fewer than k=1"):
        fewshot_sample(col, 1, np.random.default_rng(0), class_name="bottle")
    with pytest.raises(EvalError, match=r"class 'cat' has 5 negatives, fewer than 19\*k=38"):
        fewshot_sample(np.array([1, 1] + [-1] * 5), 2, np.random.default_rng(0), class_name="cat")


def test_voc07_svm_on_separable_features_gives_map_one():
    x, t = separable_voc(160, seed=0)
    xt, tt = separable_voc(80, seed=1)
    out = voc07_svm(x, t, xt, tt, costs=COSTS, n_jobs=1)
    assert out["map"] > 0.99
    assert out["ap_per_class"].shape == (4,) and out["cv_ap"].shape == (4, 3)
    assert set(out["cost_per_class"]) <= set(COSTS)


def test_voc07_svm_same_result_in_parallel_and_errors_on_too_few_positives():
    x, t = separable_voc(90, seed=2, difficult=0.0)
    xt, tt = separable_voc(60, seed=3)
    a = voc07_svm(x, t, xt, tt, costs=COSTS, n_jobs=1, train_difficult="exclude")
    b = voc07_svm(x, t, xt, tt, costs=COSTS, n_jobs=2, train_difficult="exclude")
    np.testing.assert_allclose(a["ap_per_class"], b["ap_per_class"])
    t[:, 1] = -1
    t[:2, 1] = 1
    with pytest.raises(EvalError, match="class 'dog' has 2 positive"):
        voc07_svm(x, t, xt, tt, costs=COSTS, class_names=["cat", "dog", "car", "bus"])


def test_voc07_fewshot_reports_mean_std_over_samples_and_is_seeded():
    x, t = separable_voc(240, seed=4)
    xt, tt = separable_voc(80, seed=5)
    out = voc07_fewshot(x, t, xt, tt, ks=(1, 2), samples=3, costs=COSTS)
    assert sorted(out) == [1, 2]
    for r in out.values():
        assert len(r.maps) == 3
        assert r.mean == pytest.approx(np.mean(r.maps)) and r.std == pytest.approx(np.std(r.maps))
    assert out[2].mean > 0.95
    again = voc07_fewshot(x, t, xt, tt, ks=(1, 2), samples=3, costs=COSTS, cost_selection="fixed", fixed_cost=1.0)
    fixed_twice = voc07_fewshot(x, t, xt, tt, ks=(1, 2), samples=3, costs=COSTS, cost_selection="fixed", fixed_cost=1.0)
    assert again == fixed_twice


def test_parallel_fits_are_deterministic():
    """liblinear's random generator is process-global: fits run concurrently in *threads* interleave
    its draws, so costs and APs changed from run to run (two clean `dvc repro` runs differed).
    In processes, any n_jobs gives the n_jobs = 1 result, every time."""
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(300, 32)), rng.normal(size=(120, 32))
    t, tt = np.where(rng.random((300, 6)) < 0.3, 1, -1), np.where(rng.random((120, 6)) < 0.3, 1, -1)
    costs = [1e-3, 0.1, 100.0]  # C = 100 on random labels: long liblinear runs, where the draws matter
    ref = voc07_svm(x, t, xt, tt, costs=costs, n_jobs=1)
    for _ in range(3):
        par = voc07_svm(x, t, xt, tt, costs=costs, n_jobs=2)
        assert par["cost_per_class"] == ref["cost_per_class"]
        np.testing.assert_array_equal(par["ap_per_class"], ref["ap_per_class"])
    few = [voc07_fewshot(x, t, xt, tt, ks=(2,), samples=2, costs=costs, n_jobs=j)[2] for j in (1, 2)]
    assert few[0] == few[1]


def test_svm_worker_processes_import_no_torch():
    """The VOC07 SVMs fit in joblib worker processes, which import `vi2clr.evaluate.svm` and what
    it imports; torch there only slowed every worker's start (~3 s per evaluation suite)."""
    code = ("import sys, vi2clr.evaluate.svm\n"
            "assert 'torch' not in sys.modules, [m for m in sys.modules if m.startswith('vi2clr')]")
    subprocess.run([sys.executable, "-c", code], check=True)
