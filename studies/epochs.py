"""Does doubling the pretraining epochs lower any protocol (issue "learning that transfers")?

For each seed, the ``full`` row is pretrained for ``--epochs`` (default 16, twice the default 8)
with everything else default, in a scratch project (``--work``: its own params, MLflow store and
reports; the data are linked from the main project), then evaluated with the ``full`` suite's
protocols (Table 1's mid-run epochs left out). Each metric is compared with the record's 8-epoch
run of the same seed (``reports/eval/full/seed<S>/metrics.json``): the two runs share their seed
and, with a constant learning rate, their first 8 epochs, so the comparison is paired —
mean of (16-epoch − 8-epoch) over seeds ± 95 % t-interval (:func:`vi2clr.statistics.t_interval`).
"lower beyond its interval" = the whole interval below 0.

    python studies/epochs.py --seeds 0 1 2        # ~20 min on 2 CPU cores, after `dvc repro`
    python studies/epochs.py --curve-only         # ~7 min: the learning-curve probes only

``--curve-only`` skips the evaluations and compares, within each 16-epoch run, the frozen k-NN
learning-curve probes (Kinetics val, ``history.csv``) at epoch 8 and at the last epoch, paired
over seeds; epoch 8 of the longer run is checked to equal the record's 8-epoch run.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml
from _common import write_rows

from vi2clr import statistics as st

VI2CLR = str(Path(sys.executable).with_name("vi2clr"))
PROTOCOLS = ["image-linear", "voc-svm", "voc-fewshot", "semisup", "retrieval", "video-linear", "video-finetune"]
SKIP = ("n_test", "/ap/", "/cost/", "time/")


def flat(metrics: dict) -> dict[str, float]:
    """``{"protocol/dataset": {"metric": v}}`` → ``{"protocol/dataset:metric": v}`` without counts or times."""
    return {f"{group}:{name}": float(v) for group, values in metrics.items() for name, v in values.items()
            if not any(s in f"{group}/{name}" for s in SKIP)}


def pretrain(work: Path, seed: int, epochs: int) -> list[dict[str, str]]:
    """The longer pretraining of ``seed`` (skipped when done); its ``history.csv`` rows."""
    history = work / "reports" / "pretrain" / "full" / f"seed{seed}" / "history.csv"
    done = history.exists() and any(r["epoch"] == str(epochs) for r in csv.DictReader(open(history)))
    if not done:  # an interrupted run resumes from its last checkpoint (bit-identical to an uninterrupted one)
        started = (work / "runs" / "pretrain" / "full" / f"seed{seed}" / "last.pt").exists()
        subprocess.run([VI2CLR, "pretrain", "-S", f"pretrain.seed={seed}", "-S", f"pretrain.epochs={epochs}",
                        "-S", f"pretrain.out_dir=runs/pretrain/full/seed{seed}", "-S", "pretrain.progress=false",
                        "--resume" if started else "--restart"], cwd=work, check=True)
    return list(csv.DictReader(open(history)))


def run(work: Path, seed: int, epochs: int) -> dict[str, float]:
    metrics = work / "reports" / "eval" / "full" / f"seed{seed}" / "metrics.json"
    if not metrics.exists():
        pretrain(work, seed, epochs)
        subprocess.run([VI2CLR, "eval", "suite", "full", "--seed", str(seed)], cwd=work, check=True)
    return flat(json.loads(metrics.read_text()))


def curve_only(root: Path, work: Path, seeds: list[int], epochs: int) -> list[dict]:
    """Learning-curve probes at epoch 8 vs ``epochs`` within each longer run, paired over seeds."""
    rows = []
    histories = {s: pretrain(work, s, epochs) for s in seeds}
    for s in seeds:  # the longer run's first 8 epochs are the record's run (same seed, constant lr)
        record = list(csv.DictReader(open(root / "reports/pretrain/full" / f"seed{s}" / "history.csv")))
        ours = next(r for r in histories[s] if r["epoch"] == "8")
        mine = next(r for r in record if r["epoch"] == "8")
        same = all(ours[c] == mine[c] for c in ("loss_total", "probe_video", "probe_image"))
        print(f"seed {s}: epoch 8 of the {epochs}-epoch run {'equals' if same else 'DIFFERS FROM'} the record's")
    for column in ("probe_video", "probe_image", "nmi_motion", "nmi_appearance"):
        at8 = [100 * float(next(r for r in histories[s] if r["epoch"] == "8")[column]) for s in seeds]
        last = [100 * float(next(r for r in histories[s] if r["epoch"] == str(epochs))[column]) for s in seeds]
        iv = st.t_interval([b - a for a, b in zip(at8, last)])
        verdict = "lower" if iv.high < 0 else "higher" if iv.low > 0 else "not resolved"
        rows.append({"metric": column, "mean_8": sum(at8) / len(at8), f"mean_{epochs}": sum(last) / len(last),
                     "diff": iv.mean, "ci_low": iv.low, "ci_high": iv.high, "n": iv.n, "verdict": verdict})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--work", default="runs/study-epochs")
    ap.add_argument("--out", default="docs/study/epochs.csv")
    ap.add_argument("--curve-only", action="store_true", help="learning-curve probes only, no evaluations")
    args = ap.parse_args()
    root = Path.cwd()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["eval_suites"]["full"]["protocols"] = PROTOCOLS
    params["tracking"]["uri"] = f"sqlite:///{work / 'mlflow.db'}"
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if not (work / "data").exists():
        (work / "data").symlink_to(root / "data", target_is_directory=True)
    if args.curve_only:
        rows = curve_only(root, work, args.seeds, args.epochs)
        _print_and_write(rows, args)
        return
    base = {s: flat(json.loads((root / "reports/eval/full" / f"seed{s}" / "metrics.json").read_text()))
            for s in args.seeds}
    longer = {s: run(work, s, args.epochs) for s in args.seeds}
    keys = sorted(set.intersection(*(set(base[s]) & set(longer[s]) for s in args.seeds)))
    rows = []
    for key in keys:
        diffs = [100 * (longer[s][key] - base[s][key]) for s in args.seeds]
        iv = st.t_interval(diffs)
        verdict = "lower" if iv.high is not None and iv.high < 0 else "higher" if iv.low is not None and iv.low > 0 \
            else "not resolved"
        rows.append({"metric": key, "mean_8": sum(100 * base[s][key] for s in args.seeds) / len(args.seeds),
                     f"mean_{args.epochs}": sum(100 * longer[s][key] for s in args.seeds) / len(args.seeds),
                     "diff": iv.mean, "ci_low": iv.low, "ci_high": iv.high, "n": iv.n, "verdict": verdict})
    _print_and_write(rows, args)


def _print_and_write(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"\n{args.epochs} vs 8 epochs, full row, paired over seeds {args.seeds} (percent points, 95 % t-interval)")
    print(f"| metric | 8 ep | {args.epochs} ep | difference [95 % CI] | verdict |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['metric']} | {r['mean_8']:.1f} | {r[f'mean_{args.epochs}']:.1f} | "
              f"{r['diff']:+.1f} [{r['ci_low']:+.1f}, {r['ci_high']:+.1f}] | {r['verdict']} |")
    write_rows(rows, args.out)


if __name__ == "__main__":
    main()
