"""One-GPU readiness check for paper settings (≤ 5 minutes on one H200).

Sections, each in its own try/except (an error is printed and the next section runs):

1. ``train``: Vi2CLR with S3D + ResNet-50 (``build_encoder("s3d")``, ``build_encoder("resnet50")``,
   the joint ``Vi2CLR`` module), 128 px, T = 32, batch 64 (two clips + two middle frames per
   sample), bf16 autocast, the real loss (``vi2clr.losses.total_loss``: CenterNCE + VideoNCE +
   ImgNCE) forward + backward + Adam step; a few warm-up and timed steps, once in the default
   memory format and once with ``channels_last_3d`` (video) / ``channels_last`` (image).
   Prints samples/s, FLOPs per step (``torch.utils.flop_counter.FlopCounterMode`` on one step:
   matmuls and convolutions, forward + backward), achieved TFLOP/s against the GPU's dense bf16
   peak, and peak memory.
2. ``cluster``: FINCH (``finch(x, device=...)``) and torch K-means (K = 15k, 10 Lloyd iterations
   after k-means++) at N = 250k × 128 on the device, on random unit vectors and on a clustered
   mixture; the device FINCH partitions are compared with the host path on a 20k subset.
3. ``decode``: NVDEC through ``torchcodec.decoders.VideoDecoder(..., device="cuda")`` on a
   synthetic H.264 340×256, 30 fps, 10 s file encoded here with PyAV (keyframe every 5 s, as
   YouTube-like encodes); ms per random 32-frame clip at stride 2 (exact seek), plus the CPU
   decoder for reference. Skipped with the reason when torchcodec / NVDEC is unavailable.
4. ``compile`` (last, only if time is left): the same training step under ``torch.compile``,
   in a child process killed at the time box.

The last line is ``GPU_CHECK_SUMMARY {json}``.

    python benchmarks/gpu_check.py                       # the real check, on cuda
    python benchmarks/gpu_check.py --dry-run             # = --device cpu --tiny: proves every code path on a CPU
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# dense bf16 tensor-core peaks (TFLOP/s, no sparsity) of common training GPUs, by name fragment
BF16_PEAK = {"H200": 989.0, "H100": 989.0, "H800": 989.0, "GH200": 989.0, "B200": 2250.0, "A100": 312.0,
             "A800": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0, "V100": 125.0}


def log(msg: str) -> None:
    print(msg, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bf16_peak(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for frag, peak in BF16_PEAK.items():
        if frag in name:
            return peak
    return None


# ---------------------------------------------------------------- 1. training step


def build_model(args: argparse.Namespace, device: torch.device, channels_last: bool) -> torch.nn.Module:
    from vi2clr.models import Vi2CLR, build_encoder

    video, image = ("tiny3d", "tiny2d") if args.tiny else ("s3d", "resnet50")
    model = Vi2CLR(build_encoder(video), build_encoder(image), proj_dim=128).to(device)
    if channels_last:
        model.video_encoder.to(memory_format=torch.channels_last_3d)
        model.image_encoder.to(memory_format=torch.channels_last)
    return model


def make_step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: dict, device: torch.device, k: int):
    """One step of the real objective: two clips and two frames → total_loss → backward → Adam."""
    from vi2clr.losses import LossWeights, total_loss

    g = torch.Generator(device="cpu").manual_seed(0)
    b = batch["v1"].shape[0]
    assignments = torch.randint(0, max(1, b // 4), (b,), generator=g).to(device)  # groups of ~4, as M = 4
    centroids = torch.nn.functional.normalize(torch.randn(k, 128, generator=g), dim=1).to(device)
    phi = torch.full((k,), 0.08, device=device)
    assignments = assignments % k

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            zv1, zi1, zj1 = model(batch["v1"], batch["i1"])
            zv2, zi2, zj2 = model(batch["v2"], batch["i2"])
            out = total_loss((zv1.float(), zv2.float()), (zi1.float(), zi2.float()), (zj1.float(), zj2.float()),
                             LossWeights(), assignments=assignments, centroids=centroids, phi=phi)
        out["total"].backward()
        opt.step()
        return out["total"].detach()

    return step


def make_batch(args: argparse.Namespace, device: torch.device, channels_last: bool) -> dict:
    b, t, s = args.batch, args.frames, args.size
    g = torch.Generator(device="cpu").manual_seed(1)
    batch = {}
    for key in ("v1", "v2"):
        v = torch.randn(b, 3, t, s, s, generator=g).to(device)
        batch[key] = v.contiguous(memory_format=torch.channels_last_3d) if channels_last else v
    for key in ("i1", "i2"):
        i = torch.randn(b, 3, s, s, generator=g).to(device)
        batch[key] = i.contiguous(memory_format=torch.channels_last) if channels_last else i
    return batch


def count_flops(step) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def train_section(args: argparse.Namespace, device: torch.device, channels_last: bool, compiled: bool = False) -> dict:
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model = build_model(args, device, channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    batch = make_batch(args, device, channels_last)
    fwd = torch.compile(model) if compiled else model
    step = make_step(fwd, opt, batch, device, k=args.centroids)
    t0 = time.perf_counter()
    step()  # first step: cudnn autotune / compilation
    sync(device)
    first_s = time.perf_counter() - t0
    flops = count_flops(step) if not compiled else float("nan")
    for _ in range(max(0, args.warmup - 1)):
        step()
    sync(device)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        sync(device)
        times.append(time.perf_counter() - t0)
    sec = float(np.median(times))
    res = {
        "channels_last_3d": channels_last, "compiled": compiled, "batch": args.batch, "frames": args.frames,
        "size": args.size, "first_step_s": round(first_s, 2), "step_s_median": round(sec, 4),
        "step_s_min": round(min(times), 4), "steps_timed": len(times), "samples_per_s": round(args.batch / sec, 1),
        "loss_finite": bool(torch.isfinite(loss).item()),
    }
    if not math.isnan(flops):
        res["gflop_per_step"] = round(flops / 1e9, 2)
        res["achieved_tflops"] = round(flops / sec / 1e12, 3)
    peak = bf16_peak(device, args.peak_tflops)
    if peak and "achieved_tflops" in res:
        res["bf16_peak_tflops"] = peak
        res["fraction_of_peak"] = round(res["achieved_tflops"] / peak, 3)
    if device.type == "cuda":
        res["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    del model, opt, batch, fwd
    return res


# ---------------------------------------------------------------- 2. clustering


def unit_rows(n: int, d: int, seed: int, clustered: bool) -> np.ndarray:
    """Random unit vectors, or a mixture of n/20 Gaussian blobs (σ = 0.8 around N(0, I) centres)."""
    rng = np.random.default_rng(seed)
    if clustered:
        centres = rng.standard_normal((max(2, n // 20), d)).astype(np.float32)
        x = centres[rng.integers(0, len(centres), n)] + 0.8 * rng.standard_normal((n, d)).astype(np.float32)
    else:
        x = rng.standard_normal((n, d)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def cluster_section(args: argparse.Namespace, device: torch.device) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from vi2clr.clustering import finch, kmeans_torch

    out: dict = {"n": args.n, "dim": 128, "k": args.k, "kmeans_iters": args.kmeans_iters}
    finch(unit_rows(2000, 128, 9, False), device=device)  # kernels / context warm-up, untimed
    for name, clustered in (("random", False), ("mixture", True)):
        x = unit_rows(args.n, 128, 0, clustered)
        res: dict = {}
        try:
            sync(device)
            t0 = time.perf_counter()
            f = finch(x, device=device)
            sync(device)
            res["finch_s"] = round(time.perf_counter() - t0, 2)
            res["finch_clusters"] = f.num_clusters
        except Exception as err:  # noqa: BLE001 - report and go on
            res["finch_error"] = repr(err)
            traceback.print_exc()
        try:
            k = min(args.k, args.n)
            sync(device)
            t0 = time.perf_counter()
            labels, _ = kmeans_torch(x, k, seed=0, n_init=1, max_iter=args.kmeans_iters, tol=0.0, device=device)
            sync(device)
            res["kmeans_s"] = round(time.perf_counter() - t0, 2)
            res["kmeans_nonempty"] = int(len(np.unique(labels)))
        except Exception as err:  # noqa: BLE001
            res["kmeans_error"] = repr(err)
            traceback.print_exc()
        log(f"[cluster] {name}: {res}")
        out[name] = res
        # device FINCH vs the host path on a subset
        try:
            sub = x[: args.finch_subset]
            t0 = time.perf_counter()
            host = finch(sub)
            host_s = time.perf_counter() - t0
            dev = finch(sub, device=device)
            same = host.num_clusters == dev.num_clusters and np.array_equal(host.partitions, dev.partitions)
            eq = {"subset": len(sub), "host_s": round(host_s, 2), "equal": bool(same),
                  "first_neighbours_differ": int((host.first_neighbours != dev.first_neighbours).sum()),
                  "clusters_host": host.num_clusters, "clusters_device": dev.num_clusters}
            if not same:
                levels = min(len(host.num_clusters), len(dev.num_clusters))
                eq["ari_per_level"] = [round(adjusted_rand_score(host.partitions[:, i], dev.partitions[:, i]), 6)
                                       for i in range(levels)]
            log(f"[cluster] {name} subset equality: {eq}")
            out[f"{name}_subset_equality"] = eq
        except Exception as err:  # noqa: BLE001
            out[f"{name}_subset_equality"] = {"error": repr(err)}
            traceback.print_exc()
    return out


# ---------------------------------------------------------------- 3. decoding


def encode_h264(path: Path, seconds: int = 10, fps: int = 30, width: int = 340, height: int = 256) -> None:
    """Moving gradient + noise, H.264 yuv420p, keyframe every 5 s (a YouTube-like GOP)."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(5 * fps), "crf": "23", "preset": "veryfast"}
        yy, xx = np.mgrid[0:height, 0:width]
        for t in range(seconds * fps):
            img = np.stack([(xx + 3 * t) % 256, (yy + 2 * t) % 256, (xx + yy + t) % 256], axis=-1)
            img = np.clip(img + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def time_clips(decoder, num_frames: int, clips: int, frames: int, stride: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    span = (frames - 1) * stride + 1
    decoder.get_frames_at(indices=list(range(0, span, stride)))  # warm-up (decoder init, first GOP)
    times = []
    for _ in range(clips):
        start = int(rng.integers(0, num_frames - span + 1))
        t0 = time.perf_counter()
        batch = decoder.get_frames_at(indices=list(range(start, start + span, stride)))
        if batch.data.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        assert batch.data.shape[0] == frames
    return 1000 * float(np.median(times))


def decode_section(args: argparse.Namespace, device: torch.device) -> dict:
    try:
        import av  # noqa: F401
    except ImportError as err:
        return {"skipped": f"PyAV unavailable to encode the test file: {err}"}
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as err:  # noqa: BLE001 - ImportError or FFmpeg libraries missing (RuntimeError/OSError)
        return {"skipped": f"torchcodec unavailable: {err!r}"}
    out: dict = {"video": "H.264 340x256 30 fps 10 s, GOP 150", "clip": f"{args.frames} frames at stride 2"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.mp4"
        t0 = time.perf_counter()
        encode_h264(path)
        out["encode_s"] = round(time.perf_counter() - t0, 2)
        for where in (["cpu", "cuda"] if device.type == "cuda" else ["cpu"]):
            try:
                dec = VideoDecoder(str(path), device=where, seek_mode="exact")
                n = dec.metadata.num_frames
                ms = time_clips(dec, n, args.clips, args.frames, 2, seed=0)
                key = "nvdec" if where == "cuda" else "cpu"
                out[f"{key}_ms_per_clip"] = round(ms, 2)
                if where == "cuda":
                    fallback = getattr(dec, "cpu_fallback", None)
                    out["nvdec_cpu_fallback"] = str(fallback) if fallback is not None else "unknown"
            except Exception as err:  # noqa: BLE001
                out[f"{where}_error"] = repr(err)
                traceback.print_exc()
        if device.type != "cuda":
            out["nvdec"] = "skipped: no CUDA device"
    return out


# ---------------------------------------------------------------- driver


def run_section(name: str, fn, summary: dict) -> None:
    log(f"=== {name} ===")
    t0 = time.perf_counter()
    try:
        summary[name] = fn()
    except Exception as err:  # noqa: BLE001 - a failed section must not stop the others
        traceback.print_exc()
        summary[name] = {"error": repr(err)}
    summary[name + "_wall_s"] = round(time.perf_counter() - t0, 1)
    log(f"[{name}] {json.dumps(summary[name], default=str)}")
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def compile_child(args: argparse.Namespace, device: torch.device) -> None:
    """Child process of the compile section: print one JSON line."""
    print("COMPILE_RESULT " + json.dumps(train_section(args, device, channels_last=args.compile_cl, compiled=True)),
          flush=True)


def compile_section(args: argparse.Namespace, budget_s: float) -> dict:
    if budget_s < 30:
        return {"skipped": f"only {budget_s:.0f} s left of the time box"}
    cmd = [sys.executable, __file__, "--child-compile", "--device", args.device, "--batch", str(args.batch),
           "--frames", str(args.frames), "--size", str(args.size), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--centroids", str(args.centroids)] + (["--tiny"] if args.tiny else [])
    if args.compile_cl:
        cmd.append("--compile-cl")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget_s)
    except subprocess.TimeoutExpired:
        return {"skipped": f"torch.compile did not finish within its time box of {budget_s:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("COMPILE_RESULT "):
            return json.loads(line[len("COMPILE_RESULT "):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-3:]
    return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny encoders and sizes (code-path check)")
    ap.add_argument("--dry-run", action="store_true", help="= --device cpu --tiny")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps, the first included")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--centroids", type=int, default=15000, help="K of CenterNCE in the training step")
    ap.add_argument("--n", type=int, default=250_000)
    ap.add_argument("--k", type=int, default=15_000)
    ap.add_argument("--kmeans-iters", type=int, default=10)
    ap.add_argument("--finch-subset", type=int, default=20_000)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak; default from the GPU name")
    ap.add_argument("--time-box", type=float, default=290.0, help="seconds; compile runs only in what is left")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-cl", action="store_true", help="compile with channels_last_3d")
    ap.add_argument("--sections", default="train,cluster,decode,compile")
    ap.add_argument("--child-compile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dry_run:
        args.device, args.tiny = "cpu", True
    if args.tiny:
        args.batch, args.frames, args.size = min(args.batch, 4), min(args.frames, 8), min(args.size, 32)
        args.steps, args.warmup, args.centroids = min(args.steps, 2), min(args.warmup, 1), min(args.centroids, 50)
        args.n, args.k, args.finch_subset, args.clips = min(args.n, 3000), min(args.k, 100), min(args.finch_subset, 1500), 3
        args.kmeans_iters = min(args.kmeans_iters, 3)
    device = torch.device(args.device)
    if args.child_compile:
        compile_child(args, device)
        return
    start = time.perf_counter()
    sections = set(args.sections.split(","))
    summary: dict = {"device": args.device, "tiny": args.tiny, "torch": torch.__version__}
    if device.type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name(device)
        torch.backends.cudnn.benchmark = True
    log(f"gpu_check: {json.dumps(summary)}")
    if "train" in sections:
        run_section("train_eager", lambda: train_section(args, device, channels_last=False), summary)
        run_section("train_channels_last_3d", lambda: train_section(args, device, channels_last=True), summary)
    if "cluster" in sections:
        run_section("cluster", lambda: cluster_section(args, device), summary)
    if "decode" in sections:
        run_section("decode", lambda: decode_section(args, device), summary)
    if "compile" in sections and not args.no_compile:
        left = args.time_box - (time.perf_counter() - start)
        run_section("train_compiled", lambda: compile_section(args, left - 10), summary)
    summary["total_wall_s"] = round(time.perf_counter() - start, 1)
    print("GPU_CHECK_SUMMARY " + json.dumps(summary, default=str), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "8")
    main()
