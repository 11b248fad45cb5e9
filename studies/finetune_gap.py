"""Why pretraining lowers video fine-tuning (docs/learning.md, "Still open"): a worse starting
point, or too few fine-tuning epochs to move away from it?

For each seed, the video encoder of ``--runs/seed<S>`` (pretrained) and a random initialisation
with the same seed are fine-tuned with the pipeline's protocol (`finetune_classifier` and the
pipeline's loaders: 8-frame clips, the light clip augmentation, video-level testing over
``eval.video.test_clips`` clips) for every number of ``--epochs`` (lr milestone at 75 % of them,
as the default's 30 of 40). Run it on the *validation* family only (``-S data.ucf101.root=...``):
its test split chooses nothing for the tables.

Prints, per epoch budget, top-1 mean ± 95 % t-interval over the seeds for each start and
pretrained − random init with Welch's 95 % interval and p; writes ``--out`` (one row per
seed, start and budget).

    python studies/finetune_gap.py --runs /tmp/valfam-runs/full --epochs 40 80 \\
        -S data.ucf101.root=/tmp/valfam/ucf101 -S data.index_dir=/tmp/valfam/index
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _common import write_rows
from scipy import stats

from vi2clr import statistics as st
from vi2clr.commands.evaluate.context import EvalContext
from vi2clr.commands.evaluate.inputs import video_index, video_test_loader, video_train_loader
from vi2clr.config import load_params
from vi2clr.evaluate.finetune import finetune_classifier
from vi2clr.evaluate.sgd import SGDSettings
from vi2clr.models.encoders import build_encoder
from vi2clr.models.export import load_encoder


def finetune_top1(p, encoder: torch.nn.Module, dataset: str, epochs: int) -> float:
    """Top-1 (percent) of the pipeline's video fine-tuning of ``encoder`` for ``epochs`` epochs."""
    fp = p.eval.video.finetune
    sgd = SGDSettings.from_params(fp.model_copy(update={"epochs": epochs, "milestones": [round(0.75 * epochs)]}))
    train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
    ctx = EvalContext(p, "study", None, {})  # its decoded-video cache, as a suite's
    loader = video_train_loader(p, train, min(fp.batch_size, len(train.samples)),
                                drop_last=len(train.samples) > fp.batch_size, cache=ctx.decoded(train))
    res = finetune_classifier(encoder, encoder.out_dim, len(train.classes), loader,
                              video_test_loader(p, test, ctx.decoded(test)),
                              sgd=sgd, video_level=True, seed=p.eval.seed, input_key="video")
    return 100 * float(res["top1"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs", required=True, help="folder with seed<S>/video_encoder.pt")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, nargs="+", default=[40, 80])
    ap.add_argument("--dataset", default="ucf101")
    ap.add_argument("--out", default="docs/study/finetune_gap.csv")
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        p = load_params(args.params, [*args.overrides, f"eval.seed={seed}"])
        for epochs in args.epochs:
            for start in ("pretrained", "random init"):
                if start == "pretrained":
                    encoder, _ = load_encoder(Path(args.runs) / f"seed{seed}" / "video_encoder.pt", expect_kind="video")
                else:
                    torch.manual_seed(seed)
                    encoder = build_encoder(p.model.video_encoder.name, **p.model.video_encoder.kwargs)
                rows.append({"start": start, "seed": seed, "epochs": epochs, "dataset": args.dataset,
                             "top1": finetune_top1(p, encoder, args.dataset, epochs)})
                print(rows[-1], flush=True)
    print(f"\n{args.dataset} fine-tuning top-1 (%), mean ± 95 % t-interval over n = {len(args.seeds)} seeds")
    print("| epochs | pretrained | random init | pretrained − random init [95 %], Welch p |")
    print("|---|---|---|---|")
    for epochs in args.epochs:
        a = [r["top1"] for r in rows if r["epochs"] == epochs and r["start"] == "pretrained"]
        b = [r["top1"] for r in rows if r["epochs"] == epochs and r["start"] == "random init"]
        ia, ib, c = st.t_interval(a), st.t_interval(b), st.welch(a, b)
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(st.CONFIDENCE)
        print(f"| {epochs} | {ia.mean:.1f} ± {ia.half_width:.1f} | {ib.mean:.1f} ± {ib.half_width:.1f} | "
              f"{c.diff:+.1f} [{ci.low:.1f}, {ci.high:.1f}], p {c.p_value:.3f} |")
    write_rows(rows, args.out)


if __name__ == "__main__":
    main()
