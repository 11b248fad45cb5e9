"""What a pipeline stage pays before it works: the imports of its entry point in a fresh process.

    python benchmarks/stage_startup.py [--repeats 5]

Every DVC stage is a new process (33 on the embedded default), and so is each joblib worker of the
VOC07 SVMs. For each entry point this starts ``python -c "import ..."`` ``--repeats`` times,
interleaved with the baseline ``import torch`` (the floor of any stage that trains or extracts
features), and prints the median wall seconds and the ratio to the baseline. The tables stage and
the SVM workers should stay well below 1.0: they need no torch (tests check that they never import
it: ``test_tables_stage_imports_no_torch``, ``test_svm_worker_processes_import_no_torch``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

BASELINE = ("import torch", "import torch")
ENTRY_POINTS = {
    "tables stage (vi2clr tables)": "import vi2clr.tables, vi2clr.data.layouts, vi2clr.evaluate.cells",
    "VOC07 SVM worker (joblib)": "import vi2clr.evaluate.svm",
    "pretrain stage": "import vi2clr.train.pretrain, vi2clr.tracking",
    "evaluation suite stage": "import vi2clr.commands.evaluate.protocols, vi2clr.tracking",
}


def fresh_import_seconds(code: str) -> float:
    """Wall seconds of ``python -c code`` in a new process (interpreter start included)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    fresh_import_seconds("import torch, vi2clr")  # warm the page cache for both
    base: list[float] = []
    runs: dict[str, list[float]] = {name: [] for name in ENTRY_POINTS}
    for _ in range(args.repeats):
        for name, code in ENTRY_POINTS.items():
            base.append(fresh_import_seconds(BASELINE[1]))
            runs[name].append(fresh_import_seconds(code))
    b = statistics.median(base)
    print(f"baseline `{BASELINE[0]}` in a fresh process: {b:.2f} s (median of {len(base)})")
    print(f"| entry point | imports | median s (n = {args.repeats}) | / baseline |")
    print("|---|---|---|---|")
    for name, code in ENTRY_POINTS.items():
        m = statistics.median(runs[name])
        print(f"| {name} | `{code}` | {m:.2f} | {m / b:.2f}x |")


if __name__ == "__main__":
    main()
