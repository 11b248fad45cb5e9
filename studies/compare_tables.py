"""Compare two `vi2clr tables` outputs cell by cell, from their ``metrics.json`` alone (mean, 95 %
interval, n per cell): the same tables remade on another machine, another commit, another scale.

    python studies/compare_tables.py A/metrics.json B/metrics.json [--rename " [exp]=" ...]

A cell's standard deviation is recovered from its t interval, s = half-width · √n / t(0.975, n − 1),
and the two sides are compared by Welch's test from those summaries,

    t = (mean_A − mean_B) / sqrt(s_A² / n_A + s_B² / n_B),  Welch–Satterthwaite degrees of freedom,

with the difference's 95 % interval and Holm over every printed cell (one family). Cells with n < 2
on either side (no t interval) are listed as not comparable. ``--rename OLD=NEW`` edits row names
of both sides first (e.g. drop an experiment's suffix so its rows meet the main pipeline's).
Used for docs/study/record_cross_machine.txt and docs/study/learning_scale/rerun.txt.
(`studies/compare_runs.py` does the same from per-seed reports, when they are at hand; its test and
interval are used here on groups with the summaries' means, deviations and sizes.)
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from compare_runs import welch_interval  # this script's folder is on sys.path when run as a script
from scipy import stats

from vi2clr.statistics import holm_adjust, welch


def cells(path: Path, renames: list[tuple[str, str]]) -> dict[tuple[str, str, str], dict]:
    """(table, row, column) → {ours_mean, ci_low, ci_high, n} of a `vi2clr tables` metrics.json."""
    out = {}
    for table, rows in json.loads(path.read_text()).items():
        for row, cols in rows.items():
            for old, new in renames:
                row = row.replace(old, new)
            for col, cell in cols.items():
                out[(table, row, col)] = cell
    return out


def summary_sd(cell: dict) -> float | None:
    """s = half-width · √n / t(0.975, n − 1); None without a t interval (n < 2)."""
    n = cell.get("n") or 0
    if n < 2 or cell.get("ci_low") is None or cell.get("ci_high") is None:
        return None
    return (cell["ci_high"] - cell["ci_low"]) / 2 * math.sqrt(n) / stats.t.ppf(0.975, n - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    args = ap.parse_args()
    renames = [tuple(r.split("=", 1)) for r in args.rename]
    a, b = cells(args.a, renames), cells(args.b, renames)
    rows, skipped = [], []
    for key in sorted(a.keys() & b.keys()):
        sa, sb = summary_sd(a[key]), summary_sd(b[key])
        if sa is None or sb is None:
            skipped.append(key)
            continue
        # groups with the cells' means, deviations and sizes: Welch reads nothing else of them
        ga = [a[key]["ours_mean"] + sa * z for z in _unit(a[key]["n"])]
        gb = [b[key]["ours_mean"] + sb * z for z in _unit(b[key]["n"])]
        rows.append((key, ga, gb, welch(ga, gb), welch_interval(ga, gb)))
    adjusted = holm_adjust([r[3] for r in rows])
    print(f"A = {args.a}, B = {args.b}; mean A | mean B | A - B [95 % Welch] | two-sided p | "
          f"Holm p over {len(rows)} | verdict on A > B | n")
    for (key, ga, gb, test, (low, high)), holm in zip(rows, adjusted, strict=True):
        print(f"{' / '.join(key)}: {sum(ga) / len(ga):.1f} | {sum(gb) / len(gb):.1f} | {test.diff:+.1f} "
              f"[{low:+.1f}, {high:+.1f}] | p = {test.p_value:.3f} | {holm.p_adjusted:.3f} | {holm.verdict} | "
              f"{len(ga)} + {len(gb)}")
    beyond = sum(not low <= 0 <= high for (*_rest, (low, high)) in rows)
    print(f"{len(rows)} cells compared; {beyond} differ beyond their 95 % interval (uncorrected); "
          f"{len(skipped)} not comparable (n < 2)")


def _unit(n: int) -> list[float]:
    """n numbers with mean 0 and sample standard deviation 1."""
    if n < 2:
        return [0.0] * n
    raw = [i - (n - 1) / 2 for i in range(n)]
    sd = math.sqrt(sum(x * x for x in raw) / (n - 1))
    return [x / sd for x in raw]


if __name__ == "__main__":
    main()
