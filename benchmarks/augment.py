"""Per-clip cost of the clip augmentation: the previous `ClipAugment` (v2 Compose on a
``tv_tensors.Video``, kept below as the baseline) versus the current one, in one process.

Input: a random uint8 clip ``(T, H, W, 3)`` at the decoded size; output: the normalised float
``(3, T, S, S)`` of one call (one draw). Every op is on with the paper's probabilities (crop
area 0.3–1, flip 0.5, jitter 0.8 at s = 0.5, grayscale 0.2, blur 0.5). Each repeat times
``--clips`` calls of each implementation (the new one always with every op on; the old one
also with the previous CPU default's ops off, the cost a default CPU clip had before), alternating old/new repeat by repeat so both see the
same machine load; the figure per repeat is CPU ms per clip (process CPU time). Prints median
and IQR over ``--repeats`` repeats and the ratio old / new of the medians.

    python benchmarks/augment.py [--repeats 7] [--clips 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from vi2clr.data.transforms import ClipAugment


class OldClipAugment:
    """Verbatim copy (minus validation) of ``ClipAugment`` before the batched rewrite: v2 transforms on a Video."""

    def __init__(self, size=128, crop_scale=(0.3, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.5, jitter_strength=0.5,
                 jitter_p=0.8, grayscale_p=0.2, blur_p=0.5, blur_sigma=(0.1, 2.0), blur_kernel_frac=0.1):
        st = jitter_strength
        k = max(3, int(round(size * blur_kernel_frac)))
        k = k if k % 2 == 1 else k + 1
        self.spatial = v2.Compose([
            v2.RandomResizedCrop(size, scale=tuple(crop_scale), ratio=tuple(ratio), antialias=True),
            v2.RandomHorizontalFlip(flip_p),
            v2.RandomApply([v2.ColorJitter(0.8 * st, 0.8 * st, 0.8 * st, 0.2 * st)], p=jitter_p),
            v2.RandomGrayscale(grayscale_p),
            v2.RandomApply([v2.GaussianBlur(k, sigma=blur_sigma)], p=blur_p),
        ])
        self.normalise = v2.Compose([v2.ToDtype(torch.float32, scale=True),
                                     v2.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])

    def __call__(self, clip: np.ndarray) -> torch.Tensor:
        video = tv_tensors.Video(torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2))
        out = self.normalise(tv_tensors.Video(self.spatial(video).as_subclass(torch.Tensor)))
        return out.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()


def _cpu_ms_per_clip(fn, clips: list[np.ndarray]) -> float:
    t0 = time.process_time()
    for c in clips:
        fn(c)
    return 1000 * (time.process_time() - t0) / len(clips)


def _stats(xs: list[float]) -> tuple[float, float, float]:
    q1, med, q3 = np.percentile(xs, [25, 50, 75])
    return float(med), float(q1), float(q3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--clips", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    # name, T, H, W (decoded), S, old's params: "off" = params.yaml's previous CPU default (crop area
    # 0.5-1, jitter/grayscale/blur off), i.e. what a default CPU clip cost before this change
    settings = [("CPU default", 8, 64, 64, 48, "paper"), ("CPU default", 8, 64, 64, 48, "off"),
                ("paper", 32, 128, 170, 128, "paper")]
    print(f"torch {torch.__version__}, 1 thread, {args.repeats} repeats x {args.clips} clips, CPU ms per clip")
    print(f"{'setting':12} {'T':>3} {'input':>8} {'S':>4} {'old ops':>7} | {'old median [IQR]':>22} | "
          f"{'new median [IQR]':>22} | old/new")
    for name, T, H, W, S, old_ops in settings:
        rng = np.random.default_rng(0)
        clips = [rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8) for _ in range(args.clips)]
        off = dict(crop_scale=(0.5, 1.0), jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
        old, new = OldClipAugment(S, **(off if old_ops == "off" else {})), ClipAugment(S)
        torch.manual_seed(0)
        old(clips[0]), new(clips[0])  # warm-up
        t_old, t_new = [], []
        for _ in range(args.repeats):
            t_old.append(_cpu_ms_per_clip(old, clips))
            t_new.append(_cpu_ms_per_clip(new, clips))
        (mo, qo1, qo3), (mn, qn1, qn3) = _stats(t_old), _stats(t_new)
        print(f"{name:12} {T:>3} {H:>3}x{W:<4} {S:>4} {old_ops:>7} | {mo:7.2f} [{qo1:6.2f}, {qo3:6.2f}] | "
              f"{mn:7.2f} [{qn1:6.2f}, {qn3:6.2f}] | {mo / mn:5.2f}x")


if __name__ == "__main__":
    main()
