"""bfloat16 autocast on the CPU: training-step time of the tiny encoders, float32 against bf16.

    python benchmarks/cpu_bf16.py [--steps 20] [--repeats 3]

One SGD step = forward, cross-entropy on a linear head, backward, update, as the video
fine-tuning protocol does (batch 16 clips ``(3, 8, 48, 48)``, residual-frame tiny3d) and as the
image protocols do (batch 64 images ``(3, 64, 64)``, tiny2d). float32 and
``torch.autocast("cpu", torch.bfloat16)`` alternate ``--repeats`` times in this process after one
warm-up each; prints the median ms per step and the speed-up. Whether bf16 pays depends on the CPU:
oneDNN runs bf16 convolutions on AMX / AVX512-BF16 units where they exist (the script prints
whether the flags are present) and emulates them, slower, where they do not. Nothing in the
pipeline uses bf16 on the CPU: it changes every number, and by machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from vi2clr.models.encoders import build_encoder


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo that bf16 speed depends on."""
    try:
        words = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return set()
    return {w for w in words if w in ("amx_bf16", "avx512_bf16", "avx512f")}


def step_ms(encoder: torch.nn.Module, x: torch.Tensor, steps: int, bf16: bool) -> float:
    """Mean milliseconds per step over ``steps`` training steps of ``encoder`` + a linear head."""
    torch.manual_seed(0)
    head = torch.nn.Linear(encoder.out_dim, 8)
    opt = torch.optim.SGD([*encoder.parameters(), *head.parameters()], lr=0.01, momentum=0.9)
    y = torch.randint(0, 8, (x.shape[0],))

    def one() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = head(encoder(x))
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()  # warm-up: oneDNN picks its kernels on the first call
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return 1000 * (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    cases = {
        "tiny3d (residual), 16 clips 8x48x48": (build_encoder("tiny3d", frames="residual"),
                                                torch.randn(16, 3, 8, 48, 48, generator=g)),
        "tiny2d, 64 images 64x64": (build_encoder("tiny2d"), torch.randn(64, 3, 64, 64, generator=g)),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU flags: {sorted(cpu_flags()) or 'none'}")
    print("| encoder | float32 ms/step | bf16 ms/step | float32 / bf16 |")
    print("|---|---|---|---|")
    for name, (encoder, x) in cases.items():
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for bf16 in (False, True):
                times[bf16].append(step_ms(encoder, x, args.steps, bf16))
        f32, b16 = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {name} | {f32:.1f} | {b16:.1f} | {f32 / b16:.2f}x |")


if __name__ == "__main__":
    main()
