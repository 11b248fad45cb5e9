"""Decode speed: random 32-frame clips resized to a 128 px short side, decord versus PyAV.

    python benchmarks/decode.py [--videos 20] [--frames 64] [--clips 120] [--workdir DIR]

Writes ``--videos`` synthetic H.264 mp4 files (320x240, ``--frames`` frames, one GOP as x264's
default keyint exceeds the length) and times the same random clips with both backends:

- decord: ``vi2clr.data.video.VideoFile`` (decord ``VideoReader(width, height, num_threads=1)``:
  resize inside the decoder, seek to the keyframe, ``get_batch``).
- PyAV: the baseline, because ``torchvision.io.read_video`` no longer exists in torchvision 0.29
  (checked at run time). Seek to the keyframe before the start, decode one thread, keep the 32
  frames and convert them with ``to_ndarray(width, height)`` (swscale, like decord).

Both run single-threaded in one process (backends alternating clip by clip), then through
DataLoaders with 2 persistent workers (alternating epochs, median of ``--rounds``), so a busy
machine slows both alike. Prints a markdown table and the ratio decord / PyAV.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
import torchvision
from torch.utils.data import DataLoader, Dataset

from vi2clr.data.encode import encode_video
from vi2clr.data.synthetic import render_video
from vi2clr.data.video import VideoFile, random_start, resized_size

NUM_FRAMES, SHORT_SIDE = 32, 128


def decode_decord(path: str, start: int) -> np.ndarray:
    """(32, 128, 171, 3) uint8 via decord."""
    return VideoFile(path, short_side=SHORT_SIDE).clip(start, NUM_FRAMES)


def decode_pyav(path: str, start: int) -> np.ndarray:
    """(32, 128, 171, 3) uint8 via PyAV: seek to the keyframe before ``start``, decode forward."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.codec_context.thread_count = "SLICE", 1
        width, height = resized_size(stream.codec_context.width, stream.codec_context.height, SHORT_SIDE)
        fps, tb = float(stream.average_rate), float(stream.time_base)
        container.seek(int(start / fps / tb), stream=stream, backward=True)
        frames = []
        for frame in container.decode(stream):
            index = int(round(frame.pts * tb * fps))
            if index >= start:
                frames.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            if len(frames) == NUM_FRAMES:
                break
    return np.stack(frames)


BACKENDS = {"decord": decode_decord, "pyav": decode_pyav}


class ClipJobs(Dataset):
    """Item i → one random clip of video (i mod n) with a fixed start, decoded by ``backend``."""

    def __init__(self, paths: list[str], starts: list[int], backend: str) -> None:
        self.paths, self.starts, self.backend = paths, starts, backend

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(BACKENDS[self.backend](self.paths[i % len(self.paths)], self.starts[i]))


def write_videos(folder: Path, count: int, num_frames: int) -> list[str]:
    paths = []
    for k in range(count):
        rngs = (np.random.default_rng([0, k]), np.random.default_rng([1, k]))  # (nuisance, geometry)
        frames = render_video(k % 8, k % 8, 240, 320, num_frames, rngs)
        paths.append(str(encode_video(folder / f"video_{k:02d}.mp4", frames, 25.0, "libx264")))
    return paths


def interleaved_single_process(paths: list[str], starts: list[int]) -> tuple[dict[str, float], dict[str, float]]:
    """(clips/s, CPU ms per clip) per backend in this process; backends alternate clip by clip."""
    wall, cpu = dict.fromkeys(BACKENDS, 0.0), dict.fromkeys(BACKENDS, 0.0)
    for name, fn in BACKENDS.items():
        fn(paths[0], starts[0])  # warm-up
    for i, start in enumerate(starts):
        order = list(BACKENDS) if i % 2 == 0 else list(reversed(BACKENDS))
        for name in order:
            t0, c0 = time.perf_counter(), time.process_time()
            BACKENDS[name](paths[i % len(paths)], start)
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
    return ({name: len(starts) / t for name, t in wall.items()},
            {name: 1000 * t / len(starts) for name, t in cpu.items()})


def loader_rate(loader: DataLoader) -> float:
    t0 = time.perf_counter()
    n = sum(batch.shape[0] for batch in loader)
    return n / (time.perf_counter() - t0)


def interleaved_loader(paths: list[str], starts: list[int], workers: int, rounds: int) -> dict[str, float]:
    """Median clips/s per backend over ``rounds`` alternating epochs of persistent-worker loaders."""
    loaders = {name: DataLoader(ClipJobs(paths, starts, name), batch_size=4, num_workers=workers,
                                persistent_workers=True) for name in BACKENDS}
    for loader in loaders.values():
        next(iter(loader))  # start the workers
    rates: dict[str, list[float]] = {name: [] for name in BACKENDS}
    for r in range(rounds):
        for name in (BACKENDS if r % 2 == 0 else reversed(list(BACKENDS))):
            rates[name].append(loader_rate(loaders[name]))
    return {name: float(np.median(v)) for name, v in rates.items()}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3, help="alternating DataLoader epochs per backend")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = write_videos(folder, args.videos, args.frames)
        rng = np.random.default_rng(0)
        starts = [random_start(args.frames, NUM_FRAMES, 1, rng) for _ in range(args.clips)]
        a, b = decode_decord(paths[0], starts[0]), decode_pyav(paths[0], starts[0])
        assert a.shape == b.shape, (a.shape, b.shape)
        agree = float(np.abs(a.astype(int) - b.astype(int)).mean())

        load_before = os.getloadavg()[0]
        single, cpu_ms = interleaved_single_process(paths, starts)
        loader = interleaved_loader(paths, starts, 2, args.rounds)
        load_after = os.getloadavg()[0]

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; torch {torch.__version__}, torchvision "
          f"{torchvision.__version__}, PyAV {av.__version__}")
    print(f"torchvision.io.read_video available: {hasattr(torchvision.io, 'read_video')} (baseline: PyAV)")
    print(f"{args.videos} H.264 videos 320x240, {args.frames} frames; {args.clips} random clips of "
          f"{NUM_FRAMES} frames resized to {a.shape[1]}x{a.shape[2]}; mean |decord - PyAV| = {agree:.2f} grey levels")
    print(f"1-min load average: {load_before:.1f} before, {load_after:.1f} after\n")
    print("| measure | decord | PyAV | decord / PyAV |")
    print("|---|---:|---:|---:|")
    print(f"| single process, clips/s (wall) | {single['decord']:.1f} | {single['pyav']:.1f} | "
          f"{single['decord'] / single['pyav']:.2f}x |")
    print(f"| single process, CPU ms per clip | {cpu_ms['decord']:.1f} | {cpu_ms['pyav']:.1f} | "
          f"{cpu_ms['pyav'] / cpu_ms['decord']:.2f}x |")
    print(f"| DataLoader 2 workers, clips/s (wall) | {loader['decord']:.1f} | {loader['pyav']:.1f} | "
          f"{loader['decord'] / loader['pyav']:.2f}x |")


if __name__ == "__main__":
    main()
