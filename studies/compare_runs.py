"""Compare two evaluation suites' per-seed metrics: the orderings `vi2clr tables` cannot test on a
`dvc exp run`'s rows (docs/learning.md, "The learning scale").

    python studies/compare_runs.py REPORTS_A:SUITE_A REPORTS_B:SUITE_B [--cell KEY:METRIC ...]

Reads ``REPORTS/eval/SUITE/seed<S>/metrics.json`` of both sides and prints, per cell present on
both, mean A, mean B, the difference A − B with its 95 % Welch interval, and the test `vi2clr tables`
uses (`vi2clr.statistics.welch`: two-sided Welch p; Holm over every printed cell, one family):

    t = (mean_A − mean_B) / sqrt(s_A² / n_A + s_B² / n_B),  Welch–Satterthwaite degrees of freedom.

By default the cells are every protocol's headline metric. (The outputs in docs/study/learning_scale/
were printed by the first version of this script, with one-sided p and no Holm; docs/learning.md
converts them.)
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from scipy import stats

from vi2clr.statistics import holm_adjust
from vi2clr.statistics import welch as welch_test

HEADLINE = {
    "image-linear/imagenet/True": "image_linear/top1",
    "image-linear/imagenet/True/epoch_50": "image_linear/top1",
    "image-linear/imagenet/True/epoch_100": "image_linear/top1",
    "image-linear/imagenet/True/epoch_200": "image_linear/top1",
    "voc-svm/voc2007": "voc07_svm/map",
    "voc-fewshot/voc2007": "voc07_fewshot/k16_map_mean",
    "semisup/imagenet/1": "semisup/top1",
    "semisup/imagenet/10": "semisup/top1",
    "retrieval/ucf101": "retrieval/r1",
    "retrieval/hmdb51": "retrieval/r1",
    "video-linear/ucf101/frozen/True": "video_linear/top1",
    "video-linear/hmdb51/frozen/True": "video_linear/top1",
    "video-finetune/ucf101/finetune": "video_finetune/top1",
    "video-finetune/hmdb51/finetune": "video_finetune/top1",
}


def seed_values(side: str, cell: str, metric: str) -> list[float]:
    """Per-seed values ×100 of one cell of ``REPORTS:SUITE``; empty where a seed lacks the cell."""
    reports, suite = side.rsplit(":", 1)
    values = []
    for path in sorted((Path(reports) / "eval" / suite).glob("seed*/metrics.json")):
        runs = json.loads(path.read_text())
        if cell in runs and metric in runs[cell]:
            values.append(100.0 * runs[cell][metric])
    return values


def welch_interval(a: list[float], b: list[float]) -> tuple[float, float]:
    """95 % Welch interval of mean(A) − mean(B) (formula in the module doc; `vi2clr.statistics` gives no
    interval for two rows, and changing it would change the tables stage's code)."""
    res = stats.ttest_ind(a, b, equal_var=False)
    diff = sum(a) / len(a) - sum(b) / len(b)
    half = stats.t.ppf(0.975, res.df) * math.sqrt(stats.tvar(a) / len(a) + stats.tvar(b) / len(b))
    return diff - half, diff + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="REPORTS:SUITE, e.g. /tmp/learn/reports:full")
    parser.add_argument("b", help="REPORTS:SUITE, e.g. /tmp/learn/reports:random")
    parser.add_argument("--cell", action="append", default=[], help="KEY:METRIC (default: the headlines)")
    args = parser.parse_args()
    cells = dict(c.rsplit(":", 1) for c in args.cell) if args.cell else HEADLINE
    rows = []
    for cell, metric in cells.items():
        a, b = seed_values(args.a, cell, metric), seed_values(args.b, cell, metric)
        if len(a) >= 2 and len(b) >= 2:
            rows.append((cell, metric, a, b, welch_test(a, b)))
    adjusted = holm_adjust([r[4] for r in rows])
    print(f"A = {args.a}, B = {args.b}; mean A | mean B | A - B [95 % Welch] | two-sided p | "
          f"Holm p over {len(rows)} | verdict on A > B | n")
    for (cell, metric, a, b, test), holm in zip(rows, adjusted):
        low, high = welch_interval(a, b)
        print(f"{cell} {metric}: {sum(a) / len(a):.1f} | {sum(b) / len(b):.1f} | {test.diff:+.1f} "
              f"[{low:+.1f}, {high:+.1f}] | p = {test.p_value:.3f} | {holm.p_adjusted:.3f} | {holm.verdict} | "
              f"{len(a)} + {len(b)}")

if __name__ == "__main__":
    main()
