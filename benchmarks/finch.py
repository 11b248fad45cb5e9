"""FINCH speed and memory: vi2clr's blockwise FINCH versus finch-clust run exactly.

Both cluster the same L2-normalised 128-d clustered-blob data. The reference is
``finch.FINCH(x, distance="cosine", ensure_early_exit=False, ann_threshold=N + 1)`` (exact
dense N × N distances; beyond ~20–30k samples it needs tens of GB). Every run happens in its
own subprocess, so peak memory is that process's ``ru_maxrss``. Partitions are compared
level by level with the adjusted Rand index.

    python benchmarks/finch.py --sizes 5000,20000,50000,100000,200000 --reference-max 20000

``--device cuda`` runs our FINCH as torch ops on that device (``finch(x, device=...)``; every
partition is still compared with finch-clust up to ``--reference-max``, and with our host
path when ``--compare-host-max`` allows). ``--only first-neighbours`` times the level-0 exact
first-neighbour search alone (the dominant cost: N²·D multiply-adds); ``--kmeans K --kmeans-iters I``
adds a row per size for vi2clr's torch K-means (k-means++ seeding + I Lloyd iterations).

    python benchmarks/finch.py --sizes 100000,250000 --reference-max 0 --only first-neighbours
    python benchmarks/finch.py --sizes 250000 --reference-max 20000 --device cuda --kmeans 15000 --kmeans-iters 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    """``(n, dim)`` float32 unit rows: ~n/50 Gaussian blobs (centre N(0, I), noise σ = 0.8)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(2, n // 50), dim))
    x = centres[rng.integers(0, len(centres), n)] + 0.8 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} CPUs)"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(impl: str, data: Path, threads: int, out: Path, device: str | None = None, only: str = "finch",
           kmeans_k: int = 0, kmeans_iters: int = 10) -> None:
    """Cluster the saved data in this process; print a JSON line and save the partitions."""
    import warnings

    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    # this script is itself named finch.py: drop its folder from the path to import the package
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from finch import FINCH

    from vi2clr.clustering import cosine_first_neighbours, finch, kmeans_torch

    def sync() -> None:
        if device and device.startswith("cuda"):
            torch.cuda.synchronize()

    x = np.load(data)
    n = len(x)
    base = _peak_rss_mb()
    if device and device.startswith("cuda"):  # initialise the context and kernels outside the timing
        finch(x[:2000], device=device)
        torch.cuda.reset_peak_memory_stats()
    sync()
    t0 = time.perf_counter()
    if impl == "kmeans":
        labels, _ = kmeans_torch(x, kmeans_k, seed=0, n_init=1, max_iter=kmeans_iters, tol=0.0, device=device)
        sync()
        parts, counts = labels[:, None], [int(len(np.unique(labels)))]
    elif impl == "ours" and only == "first-neighbours":
        kappa, _ = cosine_first_neighbours(torch.from_numpy(x).to(device or "cpu"))
        sync()
        parts, counts = kappa.cpu().numpy()[:, None], []
    elif impl == "ours":
        res = finch(x, device=device)
        sync()
        parts, counts = res.partitions, res.num_clusters
    else:
        parts, counts, _ = FINCH(x, distance="cosine", ensure_early_exit=False, ann_threshold=n + 1, verbose=False)
    seconds = time.perf_counter() - t0
    np.save(out, np.asarray(parts, dtype=np.int64))
    peak = _peak_rss_mb()
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device and device.startswith("cuda") else 0.0
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "extra_mb": peak - base, "base_mb": base,
                      "gpu_peak_mb": gpu_mb, "clusters": list(map(int, counts))}))


def run(impl: str, data: Path, threads: int, tmp: Path, extra: list[str] | None = None) -> dict:
    out = tmp / f"{impl}_{data.stem}.npy"
    cmd = [sys.executable, __file__, "--worker", impl, "--data", str(data), "--threads", str(threads), "--out", str(out)]
    cmd += extra or []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["partitions"] = np.load(out)
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000,20000,50000,100000,250000", help="comma-separated N")
    ap.add_argument("--reference-max", type=int, default=20000, help="largest N run with finch-clust")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (ours) / BLAS is left as is (reference)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="torch device for our FINCH (e.g. cuda); default: host path")
    ap.add_argument("--only", choices=["finch", "first-neighbours"], default="finch",
                    help="time whole FINCH, or only the level-0 first-neighbour search")
    ap.add_argument("--kmeans", type=int, default=0, help="also time torch K-means with this K (0 = skip)")
    ap.add_argument("--kmeans-iters", type=int, default=10)
    ap.add_argument("--worker", choices=["ours", "ref", "kmeans"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.threads, args.out, args.device, args.only, args.kmeans, args.kmeans_iters)
        return

    from sklearn.metrics import adjusted_rand_score

    sizes = [int(s) for s in args.sizes.split(",") if s]
    what = "first-neighbour search only" if args.only == "first-neighbours" else "FINCH (cosine)"
    where = args.device or "host path"
    print(f"{what} on {where}, clustered blobs 128-d, seed {args.seed}, {args.threads} torch thread(s), {_cpu_name()}")
    extra = (["--device", args.device] if args.device else []) + ["--only", args.only]
    header = (f"{'N':>7} | {'ours s':>7} | {'ours MB':>7} | {'ref s':>7} | {'ref MB':>7} | {'speed-up':>8} | "
              f"{'equal':>5} | clusters per level (ours)")
    print(header)
    print("-" * len(header))
    base = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            data = Path(tmp) / f"data_{n}.npy"
            np.save(data, make_data(n, seed=args.seed))  # generated once, loaded by both workers
            ours = run("ours", data, args.threads, Path(tmp), extra)
            ref = run("ref", data, args.threads, Path(tmp)) if n <= args.reference_max and args.only == "finch" else None
            if "error" in ours:
                print(f"{n:>7} | ours failed: {ours['error']}")
                continue
            cells = [f"{n:>7}", f"{ours['seconds']:>7.2f}", f"{ours['extra_mb']:>7.0f}"]
            if ref is None or "error" in ref:
                cells += [f"{'-':>7}", f"{'-':>7}", f"{'-':>8}", f"{'-':>5}"]
            else:
                same_counts = ref["clusters"] == ours["clusters"]
                aris = [adjusted_rand_score(ref["partitions"][:, i], ours["partitions"][:, i])
                        for i in range(len(ours["clusters"]))] if same_counts else []
                equal = same_counts and min(aris) == 1.0
                cells += [f"{ref['seconds']:>7.2f}", f"{ref['extra_mb']:>7.0f}",
                          f"{ref['seconds'] / ours['seconds']:>7.1f}x", f"{'yes' if equal else 'NO':>5}"]
            cells.append(str(ours["clusters"]))
            if ours.get("gpu_peak_mb"):
                cells.append(f"GPU peak {ours['gpu_peak_mb']:.0f} MB")
            print(" | ".join(cells), flush=True)
            base = ours["base_mb"]
            if args.kmeans:
                k = min(args.kmeans, n)
                km = run("kmeans", data, args.threads, Path(tmp),
                         extra + ["--kmeans", str(k), "--kmeans-iters", str(args.kmeans_iters)])
                if "error" in km:
                    print(f"{n:>7} | K-means failed: {km['error']}")
                else:
                    print(f"{n:>7} | K-means K={k}, k-means++ + {args.kmeans_iters} Lloyd iterations: "
                          f"{km['seconds']:.2f} s, {km['clusters'][0]} non-empty clusters", flush=True)
    print(f"s = wall seconds of the clustering call; MB = peak RSS growth during it, over the process after "
          f"imports and loading the data (about {base:.0f} MB at the last size); speed-up = ref s / ours s; equal = same "
          "clusters per level and ARI 1.0 at every level")


if __name__ == "__main__":
    main()
