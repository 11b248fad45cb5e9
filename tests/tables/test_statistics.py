"""The statistics behind every table cell, against scipy and hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats

from vi2clr import statistics as st


def test_t_interval_matches_scipy():
    values = [60.0, 62.5, 65.0]
    iv = st.t_interval(values)
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert iv.n == 3 and iv.mean == pytest.approx(62.5)
    assert (iv.low, iv.high) == pytest.approx((low, high))
    # by hand: s = 2.5, t_{0.975,2} = 4.3027, half = 4.3027 * 2.5 / sqrt(3) = 6.21
    assert iv.half_width == pytest.approx(4.302653 * 2.5 / math.sqrt(3), rel=1e-5)


def test_t_interval_of_one_run_has_no_interval():
    iv = st.t_interval([70.0])
    assert (iv.mean, iv.low, iv.high, iv.n) == (70.0, None, None, 1)


def test_wilson_matches_hand_computation_and_statsmodels_formula():
    # p = 0.5, n = 100, z = 1.959964: centre 0.5, half = z/(1+z²/n) * sqrt(0.0025 + z²/40000)
    z = 1.959963985
    half = z / (1 + z * z / 100) * math.sqrt(0.25 / 100 + z * z / 40000)
    assert st.wilson_interval(0.5, 100) == pytest.approx((0.5 - half, 0.5 + half))
    assert st.wilson_interval(0.5, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    low, high = st.wilson_interval(0.0, 40)  # no collapse at the edge, unlike Wald
    assert low == 0.0 and high == pytest.approx(0.0876, abs=1e-4)


def test_wilson_400_items_is_within_5_points_near_half():
    low, high = st.wilson_interval(0.5, 400)
    assert (high - low) / 2 < 0.05


def test_bad_wilson_inputs_raise():
    with pytest.raises(ValueError):
        st.wilson_interval(0.5, 0)
    with pytest.raises(ValueError):
        st.wilson_interval(50.0, 10)


def test_welch_matches_scipy_and_calls_a_clear_difference():
    a, b = [70.0, 71.0, 72.0], [60.0, 61.5, 62.0]
    c = st.compare(a, b)
    assert c.verdict == st.HOLDS and c.method.startswith("Welch")
    assert c.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert st.compare(b, a).verdict == st.CONTRADICTED


def test_overlapping_rows_are_not_resolved():
    assert st.compare([60.0, 66.0, 63.0], [62.0, 65.0, 59.0]).verdict == st.NOT_RESOLVED


def test_identical_runs_equal_means_are_not_resolved():
    assert st.compare([50.0, 50.0], [50.0, 50.0]).verdict == st.NOT_RESOLVED


def test_single_runs_use_newcombe_with_item_counts():
    # 60 % vs 40 % on 400 items each: far apart; on 20 items each: inside the noise
    assert st.compare([60.0], [40.0], n_items_a=400, n_items_b=400).verdict == st.HOLDS
    assert st.compare([60.0], [40.0], n_items_a=20, n_items_b=20).verdict == st.NOT_RESOLVED
    c = st.newcombe(0.6, 400, 0.4, 400)
    l1, u1 = st.wilson_interval(0.6, 400)
    l2, u2 = st.wilson_interval(0.4, 400)
    assert c.low == pytest.approx(0.2 - math.hypot(0.6 - l1, u2 - 0.4))
    assert c.high == pytest.approx(0.2 + math.hypot(u1 - 0.6, 0.4 - l2))


def test_one_run_against_several_or_without_items_is_not_resolved():
    assert st.compare([90.0], [10.0, 11.0, 12.0]).verdict == st.NOT_RESOLVED
    assert st.compare([90.0], [10.0]).verdict == st.NOT_RESOLVED


def test_chance_levels():
    assert st.chance_topk(8, 1) == 0.125
    assert st.chance_topk(8, 5) == 0.625
    assert st.chance_topk(4, 5) == 1.0
    assert st.chance_map([10, 30], 100) == pytest.approx(0.2)


def test_chance_recall_at_k_by_hand_and_by_simulation():
    # 2 classes, 3 training items each; k = 1: P(hit) = 3/6
    assert st.chance_recall_at_k([3, 3], [1, 1], 1) == pytest.approx(0.5)
    # k = 2: miss = C(3,2)/C(6,2) = 3/15, hit = 0.8
    assert st.chance_recall_at_k([3, 3], [1, 1], 2) == pytest.approx(0.8)
    # k >= N - n_c + 1 always hits
    assert st.chance_recall_at_k([3, 3], [1, 1], 4) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    train = np.repeat(np.arange(4), [5, 10, 15, 20])
    hits = [np.any(rng.choice(train, 5, replace=False) == c) for c in rng.integers(0, 4, 20000)]
    assert st.chance_recall_at_k([5, 10, 15, 20], [1, 1, 1, 1], 5) == pytest.approx(np.mean(hits), abs=0.01)


def test_holm_adjusts_a_family_as_the_step_down_rule_says():
    # p = 0.01, 0.04, 0.03, 0.5 (m = 4): sorted 0.01·4 = 0.04, 0.03·3 = 0.09, 0.04·2 = 0.08 -> 0.09
    # (monotone), 0.5·1 -> 0.5. Only the first is decided at alpha = 0.05.
    cs = [st.Comparison(st.HOLDS, d, "x", p_value=p) for d, p in ((1.0, 0.01), (1.0, 0.04), (-1.0, 0.03), (1.0, 0.5))]
    out = st.holm_adjust(cs)
    assert [round(c.p_adjusted, 10) for c in out] == [0.04, 0.09, 0.09, 0.5]
    assert [c.verdict for c in out] == [st.HOLDS, st.NOT_RESOLVED, st.NOT_RESOLVED, st.NOT_RESOLVED]
    assert [c.nominal for c in out] == [st.HOLDS] * 4
    # a comparison without a p-value counts in m with p = 1
    none = st.holm_adjust([st.Comparison(st.NOT_RESOLVED, 0.0, "too few runs"),
                           st.Comparison(st.HOLDS, 1.0, "x", p_value=0.03)])
    assert none[1].p_adjusted == 0.06 and none[1].verdict == st.NOT_RESOLVED


def test_twenty_nominal_findings_at_p_003_do_not_survive_the_family_correction():
    cs = [st.Comparison(st.HOLDS, 1.0, "x", p_value=0.03) for _ in range(20)]
    assert all(c.verdict == st.NOT_RESOLVED and c.nominal == st.HOLDS for c in st.holm_adjust(cs))


def test_newcombe_p_value_is_dual_to_its_interval():
    p = st.newcombe_p_value(0.55, 400, 0.5, 400)
    lo, hi = st.newcombe_interval(0.55, 400, 0.5, 400, 1 - p - 1e-6)
    assert lo > 0  # just below c* = 1 - p the interval excludes 0 ...
    lo, hi = st.newcombe_interval(0.55, 400, 0.5, 400, 1 - p + 1e-6)
    assert lo < 0 < hi  # ... just above it includes 0
    assert abs(p - 0.1568) < 0.002  # close to the pooled two-proportion z-test's p on 400 items each
    assert st.newcombe_p_value(0.5, 400, 0.5, 400) == 1.0
    assert st.compare([60.0], [40.0], n_items_a=400, n_items_b=400).p_value < 1e-6
