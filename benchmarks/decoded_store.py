"""Decoding a data set against loading it from `data.decoded_store` (what every pipeline stage after
the first does), on the videos of the default params' pretraining index.

    python benchmarks/decoded_store.py [--params params.yaml] [--repeats 2] [-S key=value ...]

Each repeat, in this process: *decode* = `VideoFile(path).decode_all()` of every video (the
`DecodedVideoCache` miss path), *load* = `DecodedStore.load` of every video from a temporary store
written once before the repeats. Prints seconds per variant (median of the repeats), the ratio,
the time to write the store once, its size, and whether the loaded frames equal the decoded ones
(they must). Needs the data of params.yaml (`dvc repro subset`).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()

    from vi2clr.config import load_params
    from vi2clr.data.datasets import BAD_FILE_ERRORS
    from vi2clr.data.video import DecodedStore, VideoFile
    from vi2clr.train.pretrain import load_pretrain_index

    p = load_params(args.params, args.overrides)
    index = load_pretrain_index(p)
    paths = [index.resolve(s) for s in index.samples]
    work = Path(tempfile.mkdtemp(prefix="vi2clr-store-"))
    store = DecodedStore(work)

    def decode_all() -> list:
        out = []
        for path in paths:
            try:
                out.append(VideoFile(path, decoder=p.data.decoder).decode_all())
            except BAD_FILE_ERRORS:
                out.append(None)
        return out

    try:
        decoded = decode_all()
        t0 = time.perf_counter()
        for path, video in zip(paths, decoded):
            if video is not None:
                store.save(store.entry(path, None, p.data.decoder), video)
        write_s = time.perf_counter() - t0
        times: dict[str, list[float]] = {"decode": [], "load": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            decoded = decode_all()
            times["decode"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            loaded = [store.load(store.entry(path, None, p.data.decoder)) for path in paths]
            times["load"].append(time.perf_counter() - t0)
        same = all((a is None and b is None) or (a is not None and b is not None and np.array_equal(
            a.frames(range(a.num_frames)), b.frames(range(b.num_frames)))) for a, b in zip(decoded, loaded))
        size = sum(f.stat().st_size for f in work.rglob("*.npy"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(paths)} videos of {index.root} ({p.data.decoder}), median of {args.repeats} repeats")
    for name, t in times.items():
        print(f"{name:<8}{statistics.median(t):>8.2f} s   runs: {', '.join(f'{x:.2f}' for x in t)}")
    print(f"speed-up (decode / load): {statistics.median(times['decode']) / statistics.median(times['load']):.1f}x; "
          f"writing the store once: {write_s:.2f} s, {size / 2**20:.0f} MiB")
    print(f"loaded frames equal the decoded ones: {same}")


if __name__ == "__main__":
    main()
