"""studies/compare_tables.py: Welch's test from the tables' summaries equals Welch's test on the runs."""

import json
import math
import subprocess
import sys
from pathlib import Path

from scipy import stats

REPO = Path(__file__).resolve().parents[2]


def _summary(values):
    n = len(values)
    mean = sum(values) / n
    half = stats.t.ppf(0.975, n - 1) * stats.tstd(values) / math.sqrt(n)
    return {"ours_mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def test_welch_from_summaries_matches_welch_on_the_runs(tmp_path):
    a, b = [31.0, 24.5, 35.0], [15.5, 12.0, 18.0, 16.0]
    (tmp_path / "a.json").write_text(json.dumps({"table2": {"Vi2CLR [exp]": {"imagenet_top1": _summary(a)},
                                                            "only here": {"x": _summary(a)}}}))
    (tmp_path / "b.json").write_text(json.dumps({"table2": {"Vi2CLR": {"imagenet_top1": _summary(b)}}}))
    out = subprocess.run([sys.executable, str(REPO / "studies" / "compare_tables.py"), str(tmp_path / "a.json"),
                          str(tmp_path / "b.json"), "--rename", " [exp]="],
                         capture_output=True, text=True, check=True).stdout
    line = next(row for row in out.splitlines() if row.startswith("table2 / Vi2CLR / imagenet_top1"))
    p = float(line.split("p = ")[1].split(" ")[0])
    assert math.isclose(p, stats.ttest_ind(a, b, equal_var=False).pvalue, abs_tol=5e-4)
    assert "holds" in line and "1 cells compared; 1 differ beyond" in out
