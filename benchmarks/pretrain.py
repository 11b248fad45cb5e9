"""Pretraining speed on the default CPU config: where an epoch's time goes, clips per second, and
the model's FLOPs per step against what a plain float32 matmul achieves on the same machine.

    python benchmarks/pretrain.py [--epochs 2] [--params params.yaml] [-S key=value ...]
                                  [--baseline key=value ...] [--repeats 2]

Runs `vi2clr pretrain` (in-process) on the synthetic data of params.yaml (written first if absent)
into a temporary folder with its own MLflow store, then prints a table. Each run uses
``compute.threads`` torch threads, as `vi2clr pretrain` does (figures in benchmarks/README.md before
2026-12-01 ran at torch's default, 2 threads on the development machine). Ratios, not absolute
times, are what to compare across machines. With ``--baseline``: first an untimed 1-epoch
warm-up run (the first run in a process is slower: it measured 1.2-1.3x slower than the same
params run second), then baseline and run alternate ``--repeats`` times each; the table shows
per-variant medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode


def matmul_flops_per_s(n: int = 1024, seconds: float = 2.0) -> float:
    """Achieved FLOP/s of a plain (n, n) @ (n, n) float32 matmul: 2n³ per product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - t0)


def step_flops(p) -> int:
    """FLOPs of one training step (forward + backward of 2B clips and their middle frames)."""
    from vi2clr.train.pretrain import build_model

    model = build_model(p)
    b, t, s = p.pretrain.batch_size, p.pretrain.num_frames, p.pretrain.size
    video, image = torch.randn(2 * b, 3, t, s, s), torch.randn(2 * b, 3, s, s)
    with FlopCounterMode(display=False) as counter:
        z_v, z_i, z_j = model(video, image)
        (z_v.sum() + z_i.sum() + z_j.sum()).backward()
    return counter.get_total_flops()


def use_threads(p) -> None:
    """torch's threads = ``compute.threads``, as `vi2clr pretrain` sets them (None keeps torch's default)."""
    if p.compute.threads is not None:
        torch.set_num_threads(p.compute.threads)


def measure(params_file: str, overrides: list[str], epochs: int) -> dict[str, float]:
    """One in-process `run_pretrain` of ``epochs`` epochs in a temp folder with its own MLflow store
    → per-epoch means of its timing metrics and the run's wall time."""
    from mlflow.tracking import MlflowClient

    from vi2clr.config import load_params
    from vi2clr.train.outputs import report_dir
    from vi2clr.train.pretrain import run_pretrain

    work = Path(tempfile.mkdtemp(prefix="vi2clr-bench-"))
    store = f"sqlite:///{work / 'mlflow.db'}"
    p = load_params(params_file, [*overrides, f"pretrain.epochs={epochs}", f"pretrain.out_dir={work / work.name}",
                                  f"tracking.uri={store}", "pretrain.keep_epochs=[]"])
    threads = torch.get_num_threads()
    use_threads(p)
    t0 = time.perf_counter()
    try:
        run_pretrain(p)
    finally:  # the run's DVC report folder (reports/pretrain/<temp name>) is not the project's
        wall = time.perf_counter() - t0
        torch.set_num_threads(threads)
        shutil.rmtree(report_dir(p), ignore_errors=True)
    client = MlflowClient(store)
    run = client.search_runs([client.get_experiment_by_name(p.tracking.experiment).experiment_id])[0]
    keys = ("time/extract_s", "time/cluster_s", "time/train_s", "time/data_wait_s", "throughput/clips_per_s")
    out = {k: statistics.mean(m.value for m in client.get_metric_history(run.info.run_id, k)) for k in keys}
    return {**out, "wall": wall}


def report(name: str, p, per_epoch: dict[str, float], epochs: int, flops: int, peak: float) -> float:
    """Print one run's table; returns its epoch total (seconds)."""
    epoch_s = sum(per_epoch[k] for k in ("time/extract_s", "time/cluster_s", "time/train_s", "time/data_wait_s"))
    clips_per_s = per_epoch["throughput/clips_per_s"]
    achieved = flops * clips_per_s / (2 * p.pretrain.batch_size)
    print(f"\n[{name}] {p.model.video_encoder.name}+{p.model.image_encoder.name}, batch {p.pretrain.batch_size}, "
          f"T={p.pretrain.num_frames}, {p.pretrain.size}px, {epochs} epochs, {p.compute.threads or 'default'} torch thread(s), "
          f"workers {p.data.num_workers}, "
          f"decoded_cache_mb {p.data.decoded_cache_mb}")
    print(f"{'part of an epoch':<28}{'seconds':>10}{'share':>8}")
    for key, label in (("time/extract_s", "feature extraction"), ("time/cluster_s", "clustering"),
                       ("time/train_s", "training steps"), ("time/data_wait_s", "waiting for data")):
        print(f"{label:<28}{per_epoch[key]:>10.2f}{per_epoch[key] / epoch_s:>8.1%}")
    print(f"{'epoch total':<28}{epoch_s:>10.2f}")
    print(f"clips per second (training steps): {clips_per_s:.1f}   whole run wall time: {per_epoch['wall']:.1f} s")
    print(f"FLOPs per training step: {flops / 1e9:.2f} GFLOP; achieved {achieved / 1e9:.2f} GFLOP/s; "
          f"{achieved / peak:.1%} of the float32 matmul rate")
    return epoch_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[])
    ap.add_argument("--baseline", action="append", default=[], metavar="KEY=VALUE",
                    help="also run a baseline with these overrides, in this process, and print ratios")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each variant, alternating (with --baseline)")
    args = ap.parse_args()

    from vi2clr.config import load_params
    from vi2clr.data.synthetic import write_synthetic

    base = load_params(args.params, args.overrides)
    use_threads(base)  # the matmul baseline runs at the params' thread count too
    root = Path(base.data.synth.root)
    if not (root / "synthetic.json").exists():
        kwargs = base.data.synth.model_dump()
        write_synthetic(kwargs.pop("root"), **kwargs)
    variants = {"baseline": [*args.overrides, *args.baseline]} if args.baseline else {}
    variants["run"] = args.overrides
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    if args.baseline:
        measure(args.params, variants["run"], 1)  # warm-up, untimed: the first run in a process is slower
    for _ in range(args.repeats if args.baseline else 1):
        for name, sets in variants.items():
            runs[name].append(measure(args.params, sets, args.epochs))
    results = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    flops, peak = step_flops(base), matmul_flops_per_s()
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s); "
          f"float32 matmul (1024^3) in this process: {peak / 1e9:.1f} GFLOP/s")
    totals = {name: report(name, load_params(args.params, variants[name]), r, args.epochs, flops, peak)
              for name, r in results.items()}
    def walls(name: str) -> str:
        return ", ".join(f"{r['wall']:.1f}" for r in runs[name])

    if args.baseline:
        print(f"\nbaseline / run (medians of {args.repeats} alternating runs each): epoch total "
              f"{totals['baseline'] / totals['run']:.2f}x, wall {results['baseline']['wall'] / results['run']['wall']:.2f}x; "
              f"walls baseline {walls('baseline')} s, run {walls('run')} s")


if __name__ == "__main__":
    main()
