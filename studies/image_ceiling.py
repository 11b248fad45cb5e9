"""Can the image protocols show anything? The supervised ceiling of the ImageNet-layout classes
(issue "learning that transfers": the image protocols stay at random init's level).

Each ``--encoders`` entry (``name`` or ``name:key=value,...``, e.g. ``tiny2d:width=32``) is trained
from random init with *every* label of the ImageNet layout's train split, through the protocols'
own loaders (`image_train_loader`: random-resized crop 0.08–1 + flip; `image_test_loader`: resize,
centre crop) and their training loop (`EncoderClassifier` + `fit_then_predict`, SGD momentum 0.9,
weight decay 1e-4, ×0.1 at 80 % of ``--epochs``). Three readouts per encoder:

* the last epoch's training loss (on the training crops);
* top-1 on the *training images* seen through the evaluation transform (the same images, whole);
* top-1 on the val split (400 images), with its 95 % Wilson interval.

A low loss with low accuracy on the same images, whole, means the network tells its training images
apart by something a crop keeps and the whole image does not show at that scale — not by the class.
Run it on the *validation* family only (``-S data.imagenet.root=... -S data.index_dir=...``); one
run per encoder (eval seed 0), so every figure is n = 1 and carries only the interval over test items.

    python studies/image_ceiling.py --encoders tiny2d tiny2d:width=32 resnet18 --epochs 60 \\
        -S data.imagenet.root=/tmp/valfam/imagenet -S data.index_dir=/tmp/valfam/index
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml
from _common import write_rows

from vi2clr import statistics as st
from vi2clr.commands.evaluate.inputs import image_index, image_test_loader, image_train_loader
from vi2clr.config import load_params
from vi2clr.evaluate.classify import accuracy_dict, fit_then_predict, multistep_sgd, predict
from vi2clr.evaluate.finetune import EncoderClassifier
from vi2clr.evaluate.sgd import SGDSettings
from vi2clr.models.encoders import build_encoder


def parse_encoder(spec: str) -> tuple[str, dict]:
    """``name`` or ``name:key=value,key=value`` (values parsed as YAML) → (name, kwargs)."""
    name, _, rest = spec.partition(":")
    kwargs = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in rest.split(",") if kv)}
    return name, kwargs


def supervised_ceiling(p, spec: str, epochs: int, lr: float, seed: int) -> dict:
    """One encoder trained on every label; the readouts of the module docstring, in percent."""
    train, val = image_index(p, "imagenet", "train"), image_index(p, "imagenet", "val")
    name, kwargs = parse_encoder(spec)
    sgd = SGDSettings(lr=lr, epochs=epochs, milestones=(round(0.8 * epochs),), momentum=0.9, weight_decay=1e-4)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_encoder(name, **kwargs)
        model = EncoderClassifier(encoder, encoder.out_dim, len(train.classes))
        opt, sched = multistep_sgd(model.parameters(), sgd)
        scores, labels, losses = fit_then_predict(
            model, opt, sched, image_train_loader(p, train, p.eval.semisup.batch_size),
            image_test_loader(p, val, p.eval.batch_size), epochs, "cpu", False, None, "image")
        train_scores, train_labels = predict(model, image_test_loader(p, train, p.eval.batch_size), "cpu", False, "image")
    top1 = accuracy_dict(scores, labels)["top1"]
    low, high = st.wilson_interval(top1, len(labels))
    return {"encoder": spec, "epochs": epochs, "lr": lr, "n_train": len(train_labels), "n_val": len(labels),
            "last_train_loss": round(losses[-1], 4),
            "train_images_whole_top1": round(100 * accuracy_dict(train_scores, train_labels)["top1"], 1),
            "val_top1": round(100 * top1, 1), "val_low": round(100 * low, 1), "val_high": round(100 * high, 1),
            "seconds": round(time.perf_counter() - t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--encoders", nargs="+", default=["tiny2d", "tiny2d:width=32", "resnet18"])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/study/image_ceiling.csv")
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    p = load_params(args.params, args.overrides)
    rows = []
    print("| encoder | last training loss | training images, whole (%) | val top-1 (%) [95 % Wilson] |")
    print("|---|---|---|---|")
    for spec in args.encoders:
        r = supervised_ceiling(p, spec, args.epochs, args.lr, args.seed)
        rows.append(r)
        print(f"| {spec} | {r['last_train_loss']} | {r['train_images_whole_top1']} | "
              f"{r['val_top1']} [{r['val_low']}, {r['val_high']}] |", flush=True)
    write_rows(rows, args.out)


if __name__ == "__main__":
    main()
