"""Pretrained against random init, cell by cell, from one `vi2clr tables` output (``tables.json``).

    python studies/pretrained_vs_random.py REPORTS/tables.json [--experiment NAME]

For every column where a pretrained row and the random-init row of the same table and experiment
both have a cell (Table 2's "Vi2CLR" against "Random init (ours)", Table 7's frozen against frozen
and fine-tuned against fine-tuned, ...), prints both means with their 95 % t half-widths, the
difference with its 95 % Welch interval (`compare_runs.welch_interval`),

    t = (mean_A − mean_B) / sqrt(s_A² / n_A + s_B² / n_B),  Welch–Satterthwaite degrees of freedom,

and the verdict `vi2clr tables` gave that ordering (Holm over the table's family) where it tested
it. Used for docs/study/validation_default/ (docs/learning.md, "The CPU default on the validation
family").
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from compare_runs import welch_interval  # this script's folder is on sys.path when run as a script

# (table, pretrained row, random-init row) as `vi2clr tables` names them, before any " [exp]".
PAIRS = (
    ("table2", "Vi2CLR", "Random init (ours)"),
    ("table3", "Vi2CLR", "Random init (ours)"),
    ("table4", "Vi2CLR (300 ep)", "Random init (ours)"),
    ("table5", "Vi2CLR", "Random init (ours)"),
    ("table7", "Vi2CLR (Kinetics-400, frozen)", "Random init (Kinetics-400, frozen)"),
    ("table7", "Vi2CLR (Kinetics-400, finetune)", "Random init (Kinetics-400, finetune)"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tables_json", type=Path)
    ap.add_argument("--experiment", default=None, help="the `dvc exp run` name of the rows (default: the only one)")
    args = ap.parse_args()
    data = json.loads(args.tables_json.read_text())
    cells = {(c["table"], c["row"], c["col"]): c for c in data["cells"]}
    exps = sorted({m.group(1) for (_, row, _) in cells if (m := re.search(r" \[([^\]]*)\]$", row))})
    exp = args.experiment if args.experiment is not None else (exps[0] if len(exps) == 1 else "")
    suffix = f" [{exp}]" if exp else ""
    verdicts = {f["claim"]: f for fs in data["findings"].values() for f in fs}
    print(f"# {args.tables_json}; rows{suffix or ' of the main pipeline'}; pretrained − random init, 95 % Welch")
    for table, pre, rand in PAIRS:
        a_row, b_row = pre + suffix, rand + suffix
        for (t, row, col), a in sorted(cells.items()):
            if t != table or row != a_row or (table, b_row, col) not in cells:
                continue
            b = cells[(table, b_row, col)]
            low, high = welch_interval(a["values"], b["values"])
            found = verdicts.get(f"{a_row} > {b_row} ({col})")
            verdict = f"{found['verdict']} (uncorrected: {found['nominal_verdict']})" if found else "not tested"
            print(f"{table} {pre} | {col}: {a['ours_mean']:.1f} ± {a['ours_mean'] - a['ci_low']:.1f} vs "
                  f"{b['ours_mean']:.1f} ± {b['ours_mean'] - b['ci_low']:.1f} (n = {a['n']} + {b['n']}); "
                  f"{a['ours_mean'] - b['ours_mean']:+.1f} [{low:+.1f}, {high:+.1f}]; {verdict}")


if __name__ == "__main__":
    main()
