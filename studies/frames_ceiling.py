"""Can the pretraining's own inputs teach the image classes at all? (issue "learning that
transfers": the image protocols stay at random init's level.)

The image stream of Vi2CLR sees only the middle frames of the pretraining clips. This study gives
tiny2d those very inputs — `PretrainClips` in training mode with the pretraining's clip length,
stride, size and augmentation (`pretrain.augment`), both middle frames of every item — *with* each
video's appearance label (the synthetic shape × texture class, the same classes as the ImageNet
layout), and trains it with the pretraining's optimiser (Adam, `pretrain.optim.lr` and weight
decay; ``--optimizer sgd``: SGD lr 0.05, momentum 0.9, weight decay 1e-4, as `image_ceiling.py`) and
batch size for ``--epochs``. A supervised encoder is an upper bound on what a
self-supervised one can take from the same frames in the same number of steps.

Readouts, in percent:

* ``frames_val_top1``: the trained classifier on the middle frames of the Kinetics **val** split's
  centre clips (the pretraining's own domain), with its 95 % Wilson interval;
* ``image_linear_top1``: the image-linear protocol's fast path (`train_linear_on_features`,
  ``eval.linear``) on the encoder's frozen features of the ImageNet layout — what Tables 1/2/6
  would report for it — with its 95 % Wilson interval;
* the same protocol on a random initialisation with the same seed (``random_image_linear_top1``).

Run it on the *validation* family only; one run per setting (seed ``--seed``), so every figure is
n = 1 and carries only the interval over test items. Compare ``--epochs`` and data sets with
``kinetics_train_per_class`` 40 (the default's 320 videos) and 160 (1,280 videos):

    python studies/frames_ceiling.py --epochs 8 30 --out docs/study/frames_ceiling_320.csv \\
        -S data.kinetics400.root=/tmp/valfam160/kinetics400 -S data.imagenet.root=/tmp/valfam160/imagenet \\
        -S data.index_dir=/tmp/valfam160/index -S compute.threads=2

(the committed CSVs: that command, and ``--epochs 30`` on the 1,280-video family with
``-S "pretrain.augment.crop_scale=[0.08,1.0]"``, ``-S pretrain.augment.jitter_p=0 -S
pretrain.augment.grayscale_p=0 -S pretrain.augment.blur_p=0`` or ``--optimizer sgd``; on the
320-video family ``--epochs 8 30 --optimizer sgd``, with and without ``-S
model.image_encoder.kwargs.depth=2``: ``frames_ceiling_320_sgd*.csv``.)
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from _common import write_rows
from torch.utils.data import DataLoader

from vi2clr import statistics as st
from vi2clr.commands.evaluate.inputs import image_index, image_test_loader
from vi2clr.config import load_params
from vi2clr.data.catalog import read_dataset
from vi2clr.data.datasets import PretrainClips
from vi2clr.data.transforms import ClipAugment
from vi2clr.evaluate.features import extract_features
from vi2clr.evaluate.linear import train_linear_on_features
from vi2clr.evaluate.sgd import SGDSettings
from vi2clr.models.encoders import build_encoder


def appearance_labels(index) -> torch.Tensor:
    """The synthetic appearance class of every video of ``index`` (its ``extra["appearance"]``)."""
    return torch.tensor([s.extra["appearance"] for s in index.samples])


def frames_loader(p, index, mode: str, seed: int, shuffle: bool) -> DataLoader:
    """The pretraining's items of ``index`` (``train``: two augmented clips; ``center``: the centre clip)."""
    cfg = p.pretrain
    ds = PretrainClips(index, num_frames=cfg.num_frames, stride=cfg.stride, size=cfg.size, mode=mode, seed=seed,
                       augment=ClipAugment(size=cfg.size, **cfg.augment.model_dump()), decoder=p.data.decoder)
    return DataLoader(ds, batch_size=cfg.batch_size, shuffle=shuffle, num_workers=p.data.num_workers,
                      generator=torch.Generator().manual_seed(seed), persistent_workers=p.data.num_workers > 0)


def image_linear_top1(p, encoder: torch.nn.Module) -> float:
    """The image-linear protocol's fast path on ``encoder``'s frozen features (fraction correct)."""
    train, val = image_index(p, "imagenet", "train"), image_index(p, "imagenet", "val")
    tr = extract_features(encoder, image_test_loader(p, train, p.eval.batch_size))
    te = extract_features(encoder, image_test_loader(p, val, p.eval.batch_size))
    res = train_linear_on_features(tr.feats, tr.labels, te.feats, te.labels, len(train.classes),
                                   sgd=SGDSettings.from_params(p.eval.linear), seed=p.eval.seed)
    return float(res["top1"])


def with_interval(prefix: str, fraction: float, n: int) -> dict:
    low, high = st.wilson_interval(fraction, n)
    return {prefix: round(100 * fraction, 1), f"{prefix}_low": round(100 * low, 1), f"{prefix}_high": round(100 * high, 1)}


def supervised_on_frames(p, epochs: int, seed: int, optimizer: str = "adam") -> dict:
    """Train tiny2d (``model.image_encoder``) on the labelled middle frames; the readouts above."""
    train, val = read_dataset(p.data, "kinetics400", "train"), read_dataset(p.data, "kinetics400", "val")
    y_train, y_val = appearance_labels(train), appearance_labels(val)
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_encoder(p.model.image_encoder.name, **p.model.image_encoder.kwargs)
        head = torch.nn.Linear(encoder.out_dim, num_classes)
        params = [*encoder.parameters(), *head.parameters()]
        if optimizer == "adam":  # the pretraining's
            opt = torch.optim.Adam(params, lr=p.pretrain.optim.lr, weight_decay=p.pretrain.optim.weight_decay)
        else:  # studies/image_ceiling.py's (59 % on 1,280 labelled ImageNet-layout images); constant lr
            opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
        loader, losses, steps = frames_loader(p, train, "train", seed, shuffle=True), [], 0
        for epoch in range(epochs):
            encoder.train()
            total = count = 0
            for batch in loader:
                x = torch.cat([batch["image1"], batch["image2"]])
                y = y_train[batch["index"]].repeat(2)
                loss = F.cross_entropy(head(encoder(x)), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total, count, steps = total + loss.item() * len(y), count + len(y), steps + 1
            losses.append(total / count)
            print(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.3f}", flush=True)
        encoder.eval()
        correct = 0
        with torch.inference_mode():
            for batch in frames_loader(p, val, "center", seed, shuffle=False):
                correct += int((head(encoder(batch["image"])).argmax(1) == y_val[batch["index"]]).sum())
        frames_top1 = correct / len(val.samples)
        trained = image_linear_top1(p, encoder)
        torch.manual_seed(seed)
        random = image_linear_top1(p, build_encoder(p.model.image_encoder.name, **p.model.image_encoder.kwargs))
    n_images = len(image_index(p, "imagenet", "val").samples)
    return {"epochs": epochs, "seed": seed, "optimizer": optimizer, "train_videos": len(train.samples), "steps": steps,
            "last_train_loss": round(losses[-1], 4),
            **with_interval("frames_val_top1", frames_top1, len(val.samples)),
            **with_interval("image_linear_top1", trained, n_images),
            **with_interval("random_image_linear_top1", random, n_images),
            "image_linear_train_images": len(image_index(p, "imagenet", "train").samples),
            "seconds": round(time.perf_counter() - t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--epochs", type=int, nargs="+", default=[30])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                    help="adam: the pretraining's; sgd: lr 0.05, momentum 0.9, weight decay 1e-4")
    ap.add_argument("--out", default="docs/study/frames_ceiling.csv")
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    p = load_params(args.params, args.overrides)
    torch.set_num_threads(p.compute.threads or torch.get_num_threads())
    rows = []
    for epochs in args.epochs:
        rows.append(supervised_on_frames(p, epochs, args.seed, args.optimizer))
        print(rows[-1], flush=True)
    write_rows(rows, args.out)


if __name__ == "__main__":
    main()
