"""A row's seeds one after another with torch's default threads, against `vi2clr seeds` running
them side by side with one thread each (what `dvc repro` does on the embedded default).

    python benchmarks/seed_jobs.py [--what pretrain|eval] [--seeds 0 1 2] [--epochs 3] [--repeats 2]

``pretrain``: `vi2clr pretrain` for ``--epochs`` epochs per seed; ``eval``: the random-init suite
(`vi2clr eval suite random`, every protocol, new feature caches each time). Both variants are real
`vi2clr` processes on the synthetic data of params.yaml (written first if absent), into a temporary
folder (the working directory of every process, so reports/ stay untouched) with its own MLflow
store; they alternate ``--repeats`` times (baseline first) and the table
shows the median wall seconds and the ratio. The two variants train with other thread counts, so
their numbers differ in the last bits (``compute.threads``); the work is the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VI2CLR = [sys.executable, "-m", "vi2clr"]


def timed(args: list[str], cwd: Path | None = None) -> float:
    """Wall seconds of ``vi2clr args`` in ``cwd`` (a new process; its output is dropped unless it fails)."""
    t0 = time.perf_counter()
    proc = subprocess.run([*VI2CLR, *args], capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise SystemExit(f"vi2clr {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def command(what: str, work: Path, tag: str, epochs: int) -> list[str]:
    """The per-seed command with ``{seed}`` left in, writing under ``work/tag``."""
    common = ["-S", f"tracking.uri=sqlite:///{work / 'mlflow.db'}"]
    if what == "pretrain":
        return ["pretrain", "-S", "pretrain.seed={seed}", "-S", f"pretrain.out_dir={work / tag}/seed{{seed}}",
                "-S", f"pretrain.epochs={epochs}", "-S", "pretrain.keep_epochs=[]", "-S", "tracking.log_models=false",
                "--restart", *common]
    return ["eval", "suite", "random", "--seed", "{seed}", "-S", f"eval.feature_cache={work / tag}/features",
            "-S", f"eval.out_dir={work / tag}/runs", *common]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", choices=("pretrain", "eval"), default="pretrain")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if not Path("data/index").is_dir():
        timed(["data", "synth"])
        timed(["data", "index"])
    seeds = "[" + ", ".join(map(str, args.seeds)) + "]"
    of = ["--of", "pretrain", "-S", f"seeds.pretrain={seeds}"] if args.what == "pretrain" else \
        ["--of", "random_init", "-S", f"seeds.random_init={seeds}"]
    base: list[float] = []
    side: list[float] = []
    with tempfile.TemporaryDirectory(prefix="seed_jobs-") as tmp:
        work = Path(tmp)  # the processes run here (their reports/ too), on the project's data
        (work / "params.yaml").write_bytes(Path("params.yaml").read_bytes())
        (work / "data").symlink_to(Path("data").resolve())
        for r in range(args.repeats):
            tag = f"seq{r}"
            t = 0.0
            for s in args.seeds:  # baseline: one after another, torch's default threads (one per core)
                t += timed([a.replace("{seed}", str(s)) for a in command(args.what, work, tag, args.epochs)]
                           + ["-S", "compute.threads=null"], cwd=work)
            base.append(t)
            tag = f"par{r}"
            side.append(timed(["seeds", *of, "--jobs", str(len(args.seeds)), "--",
                               *command(args.what, work, tag, args.epochs), "-S", "compute.threads=1"], cwd=work))
    b, s = statistics.median(base), statistics.median(side)
    print(f"{args.what}, seeds {args.seeds}, {os.cpu_count()} CPUs" +
          (f", {args.epochs} epochs" if args.what == "pretrain" else ""))
    print(f"| variant | median wall s (n = {args.repeats}) | / baseline |")
    print("|---|---|---|")
    print(f"| one after another, torch default threads (baseline) | {b:.1f} | 1.00x |")
    print(f"| `vi2clr seeds --jobs {len(args.seeds)}`, compute.threads=1 | {s:.1f} | {s / b:.2f}x |")
    print(f"speed-up: {b / s:.2f}x")


if __name__ == "__main__":
    main()
