"""benchmarks/gpu_check.py runs its code paths on a CPU (--dry-run) and ends with a JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run_train_and_cluster_sections():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run",
                           "--sections", "train,cluster", "--n", "1200", "--finch-subset", "600"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("GPU_CHECK_SUMMARY ")][-1]
    summary = json.loads(line.split(" ", 1)[1])
    for key in ("train_eager", "train_channels_last_3d"):
        assert "error" not in summary[key] and summary[key]["loss_finite"]
        assert summary[key]["samples_per_s"] > 0 and summary[key]["gflop_per_step"] > 0
    cluster = summary["cluster"]
    for name in ("random", "mixture"):
        assert "finch_error" not in cluster[name] and "kmeans_error" not in cluster[name]
        assert cluster[f"{name}_subset_equality"]["equal"] is True
