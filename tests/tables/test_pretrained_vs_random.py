"""studies/pretrained_vs_random.py: each pretrained cell against its own experiment's random init."""

import json
import math
import subprocess
import sys
from pathlib import Path

from scipy import stats

REPO = Path(__file__).resolve().parents[2]


def _cell(table, row, col, values):
    n = len(values)
    mean = sum(values) / n
    half = stats.t.ppf(0.975, n - 1) * stats.tstd(values) / math.sqrt(n)
    return {"table": table, "row": row, "col": col, "ours_mean": mean, "ci_low": mean - half,
            "ci_high": mean + half, "n": n, "values": values}


def test_pairs_rows_of_one_experiment_with_the_welch_interval_and_the_tables_verdict(tmp_path):
    pre, rand = [31.0, 24.5, 35.0], [15.5, 12.0, 18.0]
    cells = [
        _cell("table2", "Vi2CLR [exp]", "imagenet_top1", pre),
        _cell("table2", "Random init (ours) [exp]", "imagenet_top1", rand),
        _cell("table2", "Vi2CLR [exp]", "voc07_map", [1.0, 2.0, 3.0]),  # no random init in this column
        _cell("table7", "Vi2CLR (Kinetics-400, frozen) [exp]", "ucf101", [50.0, 55.0, 60.0]),
        _cell("table7", "Random init (Kinetics-400, finetune) [exp]", "ucf101", [80.0, 82.0, 84.0]),
    ]
    claim = "Vi2CLR [exp] > Random init (ours) [exp] (imagenet_top1)"
    found = {"table2": [{"claim": claim, "verdict": "holds", "nominal_verdict": "holds"}]}
    path = tmp_path / "tables.json"
    path.write_text(json.dumps({"cells": cells, "findings": found}))
    out = subprocess.run([sys.executable, str(REPO / "studies" / "pretrained_vs_random.py"), str(path)],
                         capture_output=True, text=True, check=True).stdout
    lines = [row for row in out.splitlines() if not row.startswith("#")]
    assert len(lines) == 1, out  # frozen is never compared with fine-tuned; a column needs both rows
    line = lines[0]
    assert line.startswith("table2 Vi2CLR | imagenet_top1:") and line.endswith("holds (uncorrected: holds)")
    diff = sum(pre) / 3 - sum(rand) / 3
    va, vb = stats.tvar(pre) / 3, stats.tvar(rand) / 3
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    assert f"{diff:+.1f} [{diff - half:+.1f}, {diff + half:+.1f}]" in line
