"""Pure statistics for the tables: intervals of one cell, comparison of two cells, chance levels.

All inputs are plain numbers in the unit the caller uses (the tables use percent). No I/O.

Which test decides an ordering: the runs of two rows are *independent* samples (different
pretrainings), so the comparison is unpaired — Welch's t-test on the run means (one value per
(pretraining seed, evaluation seed) run) when both rows have n >= 2; when both rows have a single
run of an accuracy-type metric, Newcombe's interval for the difference of two proportions (built
from the two Wilson intervals over test items). Any other case is "not resolved".

A table tests many orderings at once (m of them), so 5 % of the true-null ones would come out
"significant" by chance. :func:`holm_adjust` controls the family-wise error of a table's
orderings at 5 % (Holm–Bonferroni step-down); the tables report the adjusted verdicts and, beside
them, how many orderings the uncorrected tests would have called.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scipy import stats

CONFIDENCE = 0.95
HOLDS, CONTRADICTED, NOT_RESOLVED = "holds", "contradicted", "not resolved"


@dataclass(frozen=True)
class Interval:
    """A mean with a two-sided interval ``[low, high]`` and the n it rests on.

    ``low``/``high`` are None where no interval can be computed (n = 1 without item counts).
    """

    mean: float
    low: float | None
    high: float | None
    n: int
    method: str

    @property
    def half_width(self) -> float | None:
        """The larger distance from the mean to an end (the t-interval is symmetric; Wilson is not)."""
        if self.low is None or self.high is None:
            return None
        return max(self.mean - self.low, self.high - self.mean)


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean ± Student-t interval over independent runs (seeds).

    mean = (1/n) Σ x_i;  s = sqrt(Σ (x_i − mean)² / (n − 1));
    half = t_{1−α/2, n−1} · s / √n  with α = 1 − confidence (``scipy.stats.t.ppf``).

    values: (n,) one value per run, n >= 1. For n = 1 the interval is None (no spread to estimate).
    """
    n = len(values)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(mean, None, None, 1, "single run")
    s = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * s / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, "t over runs")


def wilson_interval(p: float, n_items: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` (in [0, 1]) measured on ``n_items`` test items.

    z = Φ⁻¹(1 − α/2);  centre = (p + z²/2n) / (1 + z²/n);
    half = z / (1 + z²/n) · sqrt(p(1 − p)/n + z²/4n²).
    Returns (low, high) in [0, 1]. Wilson keeps the interval inside [0, 1] and does not collapse
    to zero width at p = 0 or 1, unlike the normal (Wald) interval.
    """
    if n_items <= 0:
        raise ValueError(f"wilson_interval needs n_items >= 1, got {n_items}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"wilson_interval needs a proportion in [0, 1], got {p}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n = n_items
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_interval(p: float, n_items: int, scale: float = 100.0,
                        confidence: float = CONFIDENCE) -> Interval:
    """One run's accuracy-type value ``p`` (in ``scale`` units, e.g. percent) with its Wilson
    interval over its ``n_items`` test items (the n = 1 case of a cell)."""
    low, high = wilson_interval(p / scale, n_items, confidence)
    return Interval(p, low * scale, high * scale, 1, f"Wilson over {n_items} items")


@dataclass(frozen=True)
class Comparison:
    """The verdict on the claim "a > b" at the given confidence, and how it was reached.

    verdict: "holds" (a > b significantly), "contradicted" (a < b significantly) or "not resolved".
    diff: mean(a) − mean(b); low/high: interval of the difference where the method gives one;
    p_value: two-sided p of the test (Welch's, or the one dual to Newcombe's interval);
    p_adjusted / nominal: after :func:`holm_adjust`, the family-wise adjusted p and the verdict
    the uncorrected test gave.
    """

    verdict: str
    diff: float
    method: str
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    nominal: str | None = None


def welch(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Comparison:
    """Welch's unpaired t-test of the claim mean(a) > mean(b), both with n >= 2.

    t = (ā − b̄) / sqrt(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite degrees of freedom;
    two-sided p from ``scipy.stats.ttest_ind(a, b, equal_var=False)``. Decided when p < 1 − confidence.
    Two rows whose runs are all identical (zero variance) and equal are "not resolved".
    """
    diff = math.fsum(a) / len(a) - math.fsum(b) / len(b)
    if len(set(a)) == 1 and len(set(b)) == 1:  # both variances zero: t is ±∞ (or 0/0 for equal means)
        p = 1.0 if diff == 0 else 0.0
    else:
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    verdict = _verdict(diff, p < 1 - confidence)
    return Comparison(verdict, diff, "Welch t-test on run means", p_value=p)


def newcombe(p1: float, n1: int, p2: float, n2: int, confidence: float = CONFIDENCE) -> Comparison:
    """Newcombe's hybrid score interval (his method 10) for p1 − p2 of two independent proportions
    (:func:`newcombe_interval`). The claim p1 > p2 holds when low > 0, is contradicted when
    high < 0. Proportions in [0, 1]."""
    low, high = newcombe_interval(p1, n1, p2, n2, confidence)
    verdict = HOLDS if low > 0 else CONTRADICTED if high < 0 else NOT_RESOLVED
    return Comparison(verdict, p1 - p2, "Newcombe interval of the difference", low=low, high=high,
                      p_value=newcombe_p_value(p1, n1, p2, n2))


def newcombe_p_value(p1: float, n1: int, p2: float, n2: int, tol: float = 1e-10) -> float:
    """The p-value of the test dual to :func:`newcombe`: 1 − c*, where c* is the confidence at which
    the interval of p1 − p2 just touches 0 (it excludes 0 below c*, includes it above). Found by
    bisection on c; 1.0 when p1 = p2. No closed form: the Wilson ends move non-linearly with z."""
    if p1 == p2:
        return 1.0

    def excludes_zero(confidence: float) -> bool:
        c = newcombe_interval(p1, n1, p2, n2, confidence)
        return c[0] > 0 or c[1] < 0

    lo, hi = 0.0, 1.0 - 1e-15  # excludes 0 at confidence -> 0 (a point at d != 0), includes it at -> 1
    if excludes_zero(hi):
        return 1.0 - hi
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excludes_zero(mid) else (lo, mid)
    return 1.0 - lo


def newcombe_interval(p1: float, n1: int, p2: float, n2: int, confidence: float) -> tuple[float, float]:
    """(low, high) of Newcombe's hybrid score interval for p1 − p2. With Wilson intervals
    (l_i, u_i) of each p_i (:func:`wilson_interval`):
    low  = (p1 − p2) − sqrt((p1 − l1)² + (u2 − p2)²);
    high = (p1 − p2) + sqrt((u1 − p1)² + (p2 − l2)²)."""
    l1, u1 = wilson_interval(p1, n1, confidence)
    l2, u2 = wilson_interval(p2, n2, confidence)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def holm_adjust(comparisons: Sequence[Comparison], confidence: float = CONFIDENCE) -> list[Comparison]:
    """The family's verdicts under Holm–Bonferroni, family-wise error α = 1 − confidence.

    With the m p-values sorted, p_(1) ≤ … ≤ p_(m), the adjusted p is
    p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j)); ordering i is decided when p̃_(i) < α, in the
    direction of its diff. A comparison without a p-value ("too few runs") counts in m with p = 1.
    Hand-written: scipy has Benjamini–Hochberg (FDR) but not Holm, and statsmodels is not a dependency.
    """
    m = len(comparisons)
    ps = [1.0 if c.p_value is None else c.p_value for c in comparisons]
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda k: ps[k])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    alpha = 1 - confidence
    return [replace(c, verdict=_verdict(c.diff, adjusted[i] < alpha), p_adjusted=adjusted[i], nominal=c.verdict)
            for i, c in enumerate(comparisons)]


def compare(a: Sequence[float], b: Sequence[float], *, n_items_a: int | None = None,
            n_items_b: int | None = None, scale: float = 100.0, confidence: float = CONFIDENCE) -> Comparison:
    """The claim "row a > row b" from their runs' values (``scale`` units).

    Both n >= 2: :func:`welch`. Both n = 1 with item counts (accuracy-type metrics): :func:`newcombe`.
    Otherwise (one run without item counts, or 1 run against several) "not resolved": a single
    run carries no estimate of the seed-to-seed spread that the other side's interval includes.
    """
    if len(a) >= 2 and len(b) >= 2:
        return welch(a, b, confidence)
    diff = math.fsum(a) / len(a) - math.fsum(b) / len(b)
    if len(a) == 1 and len(b) == 1 and n_items_a and n_items_b:
        return newcombe(a[0] / scale, n_items_a, b[0] / scale, n_items_b, confidence)
    return Comparison(NOT_RESOLVED, diff, "too few runs")


def _verdict(diff: float, significant: bool) -> str:
    if not significant or diff == 0:
        return NOT_RESOLVED
    return HOLDS if diff > 0 else CONTRADICTED


# ----------------------------------------------------------------------------- chance levels


def chance_topk(num_classes: int, k: int = 1) -> float:
    """Top-k accuracy of a uniform random guess: min(1, k / C). Returns a fraction."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return min(1.0, k / num_classes)


def chance_map(positives: Sequence[int], n_items: int) -> float:
    """Expected AP of a random ranking ≈ each class's positive rate; mAP chance = (1/C) Σ_c P_c / N.

    positives: (C,) positive test items per class; n_items: N test items. Returns a fraction.
    """
    if n_items <= 0 or not positives:
        raise ValueError("chance_map needs n_items >= 1 and at least one class")
    return math.fsum(p / n_items for p in positives) / len(positives)


def chance_recall_at_k(train_counts: Sequence[int], test_counts: Sequence[int], k: int) -> float:
    """R@k of k neighbours drawn at random (without replacement) from the N training items.

    A query of class c (n_c training items of its class) misses with the hypergeometric
    probability C(N − n_c, k) / C(N, k); chance = Σ_c q_c/Q · (1 − C(N − n_c, k) / C(N, k)),
    q_c the test queries of class c. train_counts and test_counts: (C,) aligned by class.
    """
    if len(train_counts) != len(test_counts):
        raise ValueError("train_counts and test_counts must list the same classes")
    n_train, n_queries = sum(train_counts), sum(test_counts)
    if n_train < 1 or n_queries < 1:
        raise ValueError("chance_recall_at_k needs training items and queries")
    k = min(k, n_train)
    total = 0.0
    for n_c, q_c in zip(train_counts, test_counts):
        miss = float(stats.hypergeom.pmf(0, n_train, n_c, k))
        total += q_c * (1.0 - miss)
    return total / n_queries
