"""Video fine-tuning speed (Tables 6–7 "finetune"): the params against a baseline of overrides,
on the default params' UCF101-layout data.

    python benchmarks/finetune.py [--epochs 6] [--repeats 3] [--dataset ucf101] [-S key=value ...]
                                  [--baseline data.decoded_cache_mb=0 ...]

Each repeat runs the real protocol function (`finetune_classifier` with the pipeline's loaders,
random-init tiny3d as a suite builds it (`EvalContext.encoder`), ``--epochs`` epochs, no lr
milestones) once per variant, alternating, in this process: *baseline* = the params plus the
``--baseline`` overrides (default ``data.decoded_cache_mb=0``: decord opens and decodes every clip
every epoch in ``data.num_workers`` workers), *run* = the params. Prints wall seconds per variant
(median of the repeats), the ratio, and whether the two variants gave the same top-1 and training
losses (they must when only the speed differs, e.g. the decoded-video cache; a memory layout
changes float rounding). Needs the data and index files of params.yaml (`dvc repro index`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch


def run_once(p, dataset: str) -> tuple[float, dict]:
    from vi2clr.commands.evaluate.context import EvalContext
    from vi2clr.commands.evaluate.inputs import video_index, video_test_loader, video_train_loader
    from vi2clr.evaluate.finetune import finetune_classifier
    from vi2clr.evaluate.sgd import SGDSettings

    fp = p.eval.video.finetune
    ctx = EvalContext(p, "benchmark", None, {})  # as a suite: random init, one decoded-video cache
    train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
    encoder, _, _ = ctx.encoder("video")
    t0 = time.perf_counter()
    res = finetune_classifier(encoder, encoder.out_dim, len(train.classes),
                              video_train_loader(p, train, fp.batch_size, drop_last=True, cache=ctx.decoded(train)),
                              video_test_loader(p, test, ctx.decoded(test)),
                              sgd=SGDSettings.from_params(fp), video_level=True, seed=p.eval.seed, input_key="video")
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--dataset", default="ucf101")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[])
    ap.add_argument("--baseline", action="append", default=None, metavar="KEY=VALUE",
                    help="the baseline's overrides (default: data.decoded_cache_mb=0)")
    args = ap.parse_args()

    from vi2clr.config import load_params

    common = [*args.overrides, f"eval.video.finetune.epochs={args.epochs}", "eval.video.finetune.milestones=[]"]
    base = load_params(args.params, common)
    if not Path(base.data.index_dir).is_dir():
        raise SystemExit(f"no index files under {base.data.index_dir}: run `dvc repro index` first")
    baseline = args.baseline or ["data.decoded_cache_mb=0"]
    variants = {f"baseline ({' '.join(baseline)})": load_params(args.params, [*common, *baseline]),
                "run (the params)": base}
    if variants[next(iter(variants))] == base:
        raise SystemExit(f"--baseline {' '.join(baseline)} does not change the params: nothing to compare")
    times: dict[str, list[float]] = {k: [] for k in variants}
    results: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, p in variants.items():
            seconds, results[name] = run_once(p, args.dataset)
            times[name].append(seconds)
    (b_name, b), (c_name, c) = times.items()
    same = all(results[b_name][k] == results[c_name][k] for k in ("top1", "top5", "train_loss"))
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.dataset} layout, {args.epochs} epochs, workers {base.data.num_workers}, "
          f"median of {args.repeats} alternating repeats")
    for name, t in times.items():
        print(f"{name:<32}{statistics.median(t):>8.2f} s   runs: {', '.join(f'{x:.2f}' for x in t)}")
    print(f"speed-up (baseline / run): {statistics.median(b) / statistics.median(c):.2f}x")
    print(f"same top-1, top-5 and training losses: {same} (top-1 baseline {results[b_name]['top1']:.4f}, "
          f"run {results[c_name]['top1']:.4f}; last training loss {results[b_name]['train_loss'][-1]:.4f} vs "
          f"{results[c_name]['train_loss'][-1]:.4f})")


if __name__ == "__main__":
    main()
