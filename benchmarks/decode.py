"""Decode speed: random 32-frame clips resized to a 128 px short side, decord versus PyAV;
and (``--training-sample``) CPU ms per training sample on realistic encodes, decord versus torchcodec.

    python benchmarks/decode.py [--videos 20] [--frames 64] [--clips 120] [--workdir DIR]
    python benchmarks/decode.py --training-sample [--repeats 5] [--samples 20]

``--training-sample``: writes realistic encodes (a panning colour texture with a moving object
and sensor noise): Kinetics-like H.264 mp4 340x256, 30 fps, 10 s, crf 23, preset medium,
keyframe every 90 frames (3 s) with 3 B-frames; UCF101/HMDB51-like MPEG-4 Part 2 avi 320x240,
25 fps, 7 s, qscale 4, keyframe every 25 frames. One training sample = one open of the file and
two random 32-frame clips at stride 2 resized at decode to a 128 px short side
(`vi2clr.data.video.VideoFile(path, 128, decoder).clips`), as `PretrainClips` reads it. Each
repeat decodes ``--samples`` samples per backend (backends alternate, the same starts for all);
prints CPU ms per sample (process time: the decoding cores a GPU needs) and wall ms, median and
IQR over ``--repeats``. ``torchcodec-cuda`` (NVDEC) is added when CUDA is available.

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
from vi2clr.data.video import VideoFile, random_start, resized_size, torchcodec_available

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
    for fn in BACKENDS.values():
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


# ----------------------------------------------------------------------------- training samples

SAMPLE_T, SAMPLE_STRIDE = 32, 2
ENCODES = {  # name: (suffix, codec, width, height, fps, seconds, options)
    "h264_340x256_30fps": ("mp4", "libx264", 340, 256, 30, 10,
                           {"crf": "23", "preset": "medium", "g": "90", "bf": "3"}),
    "mpeg4_avi_320x240_25fps": ("avi", "mpeg4", 320, 240, 25, 7, {"qscale": "4", "g": "25", "bf": "0"}),
}


def realistic_frames(width: int, height: int, num_frames: int, seed: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)``: a multi-scale colour texture panned by a random walk, a moving disc, noise σ = 3."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    big_h, big_w = height + 200, width + 200
    tex = sum(gaussian_filter(rng.normal(size=(big_h, big_w, 3)), (s, s, 0)) * s for s in (2, 6, 18))
    tex = (tex - tex.mean()) / tex.std() * 45 + 120
    path = np.cumsum(rng.normal(0, 1.5, size=(num_frames, 2)), axis=0)
    path = np.clip(path + 100, 0, 199).astype(int)
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        y0, x0 = path[t]
        frame = tex[y0 : y0 + height, x0 : x0 + width].copy()
        cy, cx = height / 2 + height / 3 * np.sin(t / 17), width / 2 + width / 3 * np.cos(t / 23)
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 < (height / 8) ** 2] = (200, 60, 40)
        frame += rng.normal(0, 3, size=frame.shape)
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def write_realistic(folder: Path, name: str, count: int) -> list[str]:
    suffix, codec, w, h, fps, seconds, options = ENCODES[name]
    paths = []
    for k in range(count):
        frames = realistic_frames(w, h, fps * seconds, seed=k)
        path = folder / f"{name}_{k}.{suffix}"
        with av.open(str(path), "w") as container:
            stream = container.add_stream(codec, rate=fps, options=options)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.thread_count = 1
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        paths.append(str(path))
    return paths


def decode_sample(path: str, starts: tuple[int, int], decoder: str) -> list:
    """One training sample: one open, two clips of 32 frames at stride 2, 128 px short side."""
    return VideoFile(path, SHORT_SIDE, decoder).clips(list(starts), SAMPLE_T, SAMPLE_STRIDE)


def training_sample_benchmark(repeats: int, samples: int, videos: int, workdir: Path | None) -> None:
    decoders = ["decord"]
    if torchcodec_available() is None:
        decoders.append("torchcodec")
        if torch.cuda.is_available():
            decoders.append("torchcodec-cuda")
    else:
        print(f"torchcodec skipped: {torchcodec_available()}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; torch {torch.__version__}; 1 decoding thread; "
          f"{repeats} repeats x {samples} samples per backend; a sample = 2 clips x {SAMPLE_T} frames, "
          f"stride {SAMPLE_STRIDE}, {SHORT_SIDE} px short side, one open")
    print("| encode | bitrate kb/s | backend | CPU ms / sample, median [IQR] | wall ms / sample, median | mean abs diff vs decord (grey levels) |")
    print("|---|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ENCODES:
            paths = write_realistic(folder, name, videos)
            kbps = np.mean([os.path.getsize(p) * 8 / 1000 / ENCODES[name][5] for p in paths])
            n_total = VideoFile(paths[0]).num_frames
            rng = np.random.default_rng(1)
            jobs = [(paths[i % len(paths)], tuple(random_start(n_total, SAMPLE_T, SAMPLE_STRIDE, rng) for _ in range(2)))
                    for i in range(samples)]
            ref = decode_sample(*jobs[0], "decord")
            diffs = {}
            for d in decoders:
                out = decode_sample(*jobs[0], d)
                diffs[d] = float(np.mean([np.abs(np.asarray(r, dtype=np.int16) - np.asarray(
                    o.cpu() if hasattr(o, "cpu") else o, dtype=np.int16)).mean() for r, o in zip(ref, out)]))
            cpu: dict[str, list[float]] = {d: [] for d in decoders}
            wall: dict[str, list[float]] = {d: [] for d in decoders}
            for r in range(repeats):
                for d in (decoders if r % 2 == 0 else decoders[::-1]):
                    t0, c0 = time.perf_counter(), time.process_time()
                    for path, starts in jobs:
                        decode_sample(path, starts, d)
                    if d == "torchcodec-cuda":
                        torch.cuda.synchronize()
                    cpu[d].append(1000 * (time.process_time() - c0) / samples)
                    wall[d].append(1000 * (time.perf_counter() - t0) / samples)
            for d in decoders:
                q1, med, q3 = np.percentile(cpu[d], [25, 50, 75])
                print(f"| {name} | {kbps:.0f} | {d} | {med:.1f} [{q1:.1f}, {q3:.1f}] | {np.median(wall[d]):.1f} | {diffs[d]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3, help="alternating DataLoader epochs per backend")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--training-sample", action="store_true", help="decord vs torchcodec per training sample")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.training_sample:
        training_sample_benchmark(args.repeats, args.samples, 2, args.workdir)
        return

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
