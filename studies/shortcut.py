"""What the pretrained video features encode, on the Kinetics *validation* split (docs/learning.md,
"Why it does not learn"): motion, or the identity of each video's static appearance?

For each encoder — the pretrained ``full`` row of every seed under ``--runs`` and random init
with the same seeds — in eval mode on the validation videos (never a test split), two uniformly
spaced clips per video (A, B) at the pretraining's T, stride and size, centre crop:

- ``motion_knn``: motion class from clip A's features, cosine 10-NN, stratified 5-fold CV
  (the learning curve's readout; chance = 1 / motion classes);
- ``same_video_top1``: clip A retrieves, among the B clips of all N videos, its own video's
  (the instance task the NCE terms train; chance = 1 / N);
- ``still_same_video_top1``: the same with A's middle frame repeated T times as the query: a video
  recognised from one still frame, i.e. from static appearance, not motion;
- ``still_motion_knn``: motion k-NN on those still clips: what the features "know" of motion without
  any motion (above chance only through appearance correlated with motion in the data).

An encoder on residual frames (``model.video_encoder.kwargs.frames: residual``, the CPU default)
gets all-zero input from a still clip, so both still readouts sit at chance by construction.

Prints mean ± 95 % t-interval over seeds (n = number of seeds) per encoder kind and writes
``--out`` (CSV, one row per seed and kind). Run from the project root after `dvc repro`:

    python studies/shortcut.py --runs runs/pretrain/full --seeds 0 1 2     # ~1 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _common import write_rows

from vi2clr import statistics as st
from vi2clr.config import load_params
from vi2clr.data.catalog import read_dataset
from vi2clr.data.datasets import VideoClips, make_loader
from vi2clr.models.encoders import build_encoder
from vi2clr.models.export import load_encoder
from vi2clr.train.curves import knn_cv_accuracy


def still(clips: torch.Tensor) -> torch.Tensor:
    """``(B, 3, T, S, S)`` → the middle frame repeated T times: the same pixels, no motion."""
    mid = clips.shape[2] // 2
    return clips[:, :, mid : mid + 1].expand_as(clips).contiguous()


def top1_same_item(queries: np.ndarray, keys: np.ndarray) -> float:
    """Fraction of rows i whose cosine-nearest key is key i; ``(N, D)`` each."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True).clip(1e-12)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True).clip(1e-12)
    return float(np.mean(np.argmax(q @ k.T, axis=1) == np.arange(len(q))))


@torch.inference_mode()
def readouts(encoder: torch.nn.Module, loader: torch.utils.data.DataLoader, motion: np.ndarray) -> dict[str, float]:
    encoder.eval()
    a, b, s, rows = [], [], [], []
    for batch in loader:
        clips = batch["video"]  # (B, 2, 3, T, S, S): clips A and B of each video
        a.append(encoder(clips[:, 0]).numpy())
        b.append(encoder(clips[:, 1]).numpy())
        s.append(encoder(still(clips[:, 0])).numpy())
        rows.append(batch["index"].numpy())
    fa, fb, fs = (np.concatenate(x) for x in (a, b, s))
    y = motion[np.concatenate(rows)]
    return {"motion_knn": knn_cv_accuracy(fa, y, 10), "same_video_top1": top1_same_item(fa, fb),
            "still_same_video_top1": top1_same_item(fs, fb), "still_motion_knn": knn_cv_accuracy(fs, y, 10)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs", default="runs/pretrain/full", help="folder with seed<S>/video_encoder.pt")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="docs/study/shortcut.csv")
    args = ap.parse_args()
    p = load_params(args.params)
    index = read_dataset(p.data, "kinetics400", "val")
    motion = np.array([s.extra.get("motion", s.label) for s in index.samples])
    t = p.pretrain
    ds = VideoClips(index, num_frames=t.num_frames, stride=t.stride, size=t.size, mode="test", clips_per_video=2)
    loader = make_loader(ds, 32, num_workers=p.data.num_workers)
    rows = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        random_init = build_encoder(p.model.video_encoder.name, **p.model.video_encoder.kwargs)
        pretrained, _ = load_encoder(Path(args.runs) / f"seed{seed}" / "video_encoder.pt", expect_kind="video")
        for kind, enc in (("pretrained", pretrained), ("random init", random_init)):
            rows.append({"kind": kind, "seed": seed, "n_videos": len(index.samples), **readouts(enc, loader, motion)})
            print(rows[-1], flush=True)
    keys = ["motion_knn", "same_video_top1", "still_same_video_top1", "still_motion_knn"]
    print(f"\nKinetics val ({len(index.samples)} videos, {len(set(motion))} motion classes): "
          f"mean ± 95 % t-interval over n = {len(args.seeds)} seeds, percent")
    print("| encoder | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for kind in ("pretrained", "random init"):
        cells = []
        for key in keys:
            iv = st.t_interval([100 * r[key] for r in rows if r["kind"] == kind])
            cells.append(f"{iv.mean:.1f} ± {iv.half_width:.1f}" if iv.half_width is not None else f"{iv.mean:.1f}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    write_rows(rows, args.out)


if __name__ == "__main__":
    main()
