"""The paper's downstream protocols (and the learning probe), one function each: read inputs, then,
inside the MLflow run of each data set (opened before the work), call the pure math of
`vi2clr.evaluate`; each returns its metrics as ``dict[str, float]`` (protocols with several runs
prefix each run's metrics with its data set or label fraction)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vi2clr.commands.evaluate.context import EvalContext
from vi2clr.commands.evaluate.inputs import (
    image_features,
    image_index,
    image_test_loader,
    image_train_loader,
    video_features,
    video_index,
    video_test_loader,
    video_train_loader,
    voc_targets,
)
from vi2clr.commands.evaluate.recording import dataset_run, scale_note, write_csv
from vi2clr.config import SemisupParams
from vi2clr.data.datasets import PretrainClips, make_loader
from vi2clr.data.index import Index
from vi2clr.data.subsets import make_semisup_subset
from vi2clr.evaluate import metric_names as mn
from vi2clr.evaluate.cells import paper_cell
from vi2clr.evaluate.errors import EvalError
from vi2clr.evaluate.features import cached_features, extract_features
from vi2clr.evaluate.finetune import finetune_classifier
from vi2clr.evaluate.linear import train_linear_on_features, train_linear_probe
from vi2clr.evaluate.probe import probe_accuracy
from vi2clr.evaluate.results import classification_metrics, voc07_fewshot_metrics, voc07_svm_metrics
from vi2clr.evaluate.retrieval import video_retrieval
from vi2clr.evaluate.sgd import SGDSettings
from vi2clr.evaluate.svm import voc07_fewshot, voc07_svm


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in metrics.items()}


# ----------------------------------------------------------------------------- image protocols


def image_linear(ctx: EvalContext, *, encoder_path: Path | None = None, table1_col: str | None = None) -> dict[str, float]:
    """Tables 1, 2, 6: linear classifier on the frozen 2D encoder (ImageNet top-1/top-5)."""
    p, lp = ctx.params, ctx.params.eval.linear
    sgd = SGDSettings.from_params(lp)
    encoder, meta, digest = ctx.encoder("image", encoder_path)
    train, val = image_index(p, "imagenet", "train"), image_index(p, "imagenet", "val")
    num_classes = len(train.classes)
    if table1_col:
        cells = [paper_cell("table1", ctx.row("table1"), table1_col)] if ctx.row("table1") else []
    else:
        cells = [paper_cell(t, ctx.row(t), "imagenet_top1") for t in ("table2", "table6") if ctx.row(t)]
    with dataset_run(ctx, "image-linear", "imagenet", cells, meta=meta, split="val",
                     scale=scale_note(p, "imagenet", train, meta, p.model.image_encoder.label), data=train,
                     extra_params={"fast_path": not lp.augment, **({"table1_col": table1_col} if table1_col else {})},
                     extra_tags={"fast_path": str(not lp.augment).lower()}) as run:
        if lp.augment:
            res = train_linear_probe(encoder, image_train_loader(p, train, lp.batch_size),
                                     image_test_loader(p, val, lp.batch_size), num_classes, sgd=sgd,
                                     device=ctx.device, seed=p.eval.seed, input_key="image")
        else:
            tr, te = image_features(ctx, encoder, digest, train), image_features(ctx, encoder, digest, val)
            res = train_linear_on_features(tr["feats"], tr["labels"], te["feats"], te["labels"], num_classes,
                                           sgd=sgd, seed=p.eval.seed)
        return run.finish(classification_metrics(res, "image_linear"), int(res["n_test"]))


def table1(ctx: EvalContext) -> dict[str, float]:
    """Table 1: the image linear probe at the epochs standing for the paper's 50/100/200."""
    if ctx.encoders is None:
        raise EvalError("table1 needs pretrained encoders (epoch checkpoints), not --random-init")
    out: dict[str, float] = {}
    for col, epoch in ctx.params.eval.table1_epochs.items():
        path = ctx.encoders / f"epoch_{epoch:04d}" / "image_encoder.pt"
        if not path.exists():
            raise EvalError(f"{path} missing: add {epoch} to pretrain.keep_epochs for Table 1 column {col}")
        out.update(_prefixed(col, image_linear(ctx, encoder_path=path, table1_col=col)))
    return out


def _voc_inputs(ctx: EvalContext) -> tuple[Any, dict, str, Index, Index]:
    encoder, meta, digest = ctx.encoder("image")
    trainval, test = image_index(ctx.params, "voc2007", "trainval"), image_index(ctx.params, "voc2007", "test")
    return encoder, meta, digest, trainval, test


def _voc_features(ctx: EvalContext, encoder: Any, digest: str, trainval: Index, test: Index) -> tuple[dict, dict]:
    return (voc_targets(image_features(ctx, encoder, digest, trainval), trainval),
            voc_targets(image_features(ctx, encoder, digest, test), test))


def voc_svm(ctx: EvalContext) -> dict[str, float]:
    """Tables 2, 6: VOC07 linear SVMs on frozen, L2-normalised 2D features (mAP)."""
    p, sp = ctx.params, ctx.params.eval.svm
    encoder, meta, digest, trainval, test = _voc_inputs(ctx)
    cells = [paper_cell(t, ctx.row(t), "voc07_map") for t in ("table2", "table6") if ctx.row(t)]
    with dataset_run(ctx, "voc-svm", "voc2007", cells, meta=meta, split="test", data=trainval,
                     scale=scale_note(p, "voc2007", trainval, meta, p.model.image_encoder.label)) as run:
        tr, te = _voc_features(ctx, encoder, digest, trainval, test)
        res = voc07_svm(tr["feats"], tr["labels"], te["feats"], te["labels"], costs=sp.costs, cv_folds=sp.cv_folds,
                        pos_weight=sp.pos_weight, n_jobs=2, seed=p.eval.seed, class_names=trainval.classes)
        return run.finish(voc07_svm_metrics(res, trainval.classes), len(te["feats"]))


def voc_fewshot(ctx: EvalContext) -> dict[str, float]:
    """Table 3: VOC07 few-shot SVMs, k positives + 19k negatives per class, 5 seeded samples."""
    p, sp = ctx.params, ctx.params.eval.svm
    encoder, meta, digest, trainval, test = _voc_inputs(ctx)
    row = ctx.row("table3")
    cells = [paper_cell("table3", row, f"k{k}") for k in sp.fewshot_ks if row and k in mn.FEWSHOT_KS]
    with dataset_run(ctx, "voc-fewshot", "voc2007", cells, meta=meta, split="test", data=trainval,
                     scale=scale_note(p, "voc2007", trainval, meta, p.model.image_encoder.label)) as run:
        tr, te = _voc_features(ctx, encoder, digest, trainval, test)
        res = voc07_fewshot(tr["feats"], tr["labels"], te["feats"], te["labels"], ks=tuple(sp.fewshot_ks),
                            samples=sp.fewshot_samples, seed=p.eval.seed, costs=sp.costs, n_jobs=2,
                            class_names=trainval.classes)
        metrics = voc07_fewshot_metrics(res)
        write_csv(ctx, "fewshot.csv", ["k", "map_mean", "map_std"],
                  [[k, metrics[mn.voc07_fewshot_mean(k)], metrics[mn.voc07_fewshot_std(k)]] for k in sp.fewshot_ks])
        return run.finish(metrics, len(te["feats"]))


def semisup_recipe(fp: SemisupParams, pct: int) -> tuple[SGDSettings, float]:
    """SwAV's eval_semisup recipe for ``pct`` % of the labels: (SGD settings with the decay factor
    ``gamma``, the head's lr multiplier ``head_lr_mult[f"pct{pct}"]``)."""
    return SGDSettings.from_params(fp), float(fp.head_lr_mult[f"pct{pct}"])


def semisup(ctx: EvalContext) -> dict[str, float]:
    """Table 4: fine-tune the whole 2D encoder + a linear layer on 1% / 10% of ImageNet labels."""
    p, fp = ctx.params, ctx.params.eval.semisup
    full = image_index(p, "imagenet", "train")
    val = image_index(p, "imagenet", "val")
    out: dict[str, float] = {}
    for pct, given in ((1, p.data.imagenet.subset_1pct), (10, p.data.imagenet.subset_10pct)):
        if given:
            subset = image_index(p, "imagenet", "train", given)
        else:  # the public list format, generated deterministically per class
            keep = set(make_semisup_subset(full, pct / 100, seed=p.eval.seed))
            subset = Index(f"{full.name}-{pct}pct", full.root, full.classes,
                           [s for s in full.samples if Path(s.path).name in keep], [])
        encoder, meta, _ = ctx.encoder("image")
        sgd, head_lr_mult = semisup_recipe(fp, pct)
        row = ctx.row("table4")
        cells = [paper_cell("table4", row, f"pct{pct}_top{t}", **{mn.PARAM_LABEL_PCT: str(pct)})
                 for t in (1, 5) if row]
        with dataset_run(ctx, "semisup", "imagenet", cells, meta=meta, split="val", data=subset,
                         scale=scale_note(p, "imagenet", subset, meta, p.model.image_encoder.label),
                         extra_params={mn.PARAM_LABEL_PCT: pct}, extra_tags={"label_pct": str(pct)}) as run:
            res = finetune_classifier(encoder, encoder.out_dim, len(full.classes),
                                      image_train_loader(p, subset, fp.batch_size),
                                      image_test_loader(p, val, p.eval.batch_size), sgd=sgd,
                                      head_lr_mult=head_lr_mult, device=ctx.device, seed=p.eval.seed,
                                      input_key="image")
            out.update(_prefixed(f"pct{pct}", run.finish(classification_metrics(res, "semisup"),
                                                         int(res["n_test"]))))
    return out


# ----------------------------------------------------------------------------- video protocols


def retrieval(ctx: EvalContext) -> dict[str, float]:
    """Table 5: test videos query train videos; R@k on UCF101 and HMDB51."""
    p = ctx.params
    encoder, meta, digest = ctx.encoder("video")
    rows: list[list[Any]] = []
    out: dict[str, float] = {}
    for dataset, short in (("ucf101", "ucf"), ("hmdb51", "hmdb")):
        train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
        row = ctx.row("table5")
        cells = [paper_cell("table5", row, f"{short}_r{k}") for k in (1, 5, 10, 20)
                 if row and k in p.eval.retrieval.ks]
        with dataset_run(ctx, "retrieval", dataset, cells, meta=meta, split="test", data=train,
                         scale=scale_note(p, dataset, train, meta, p.model.video_encoder.label)) as run:
            tr = video_features(ctx, encoder, digest, train, "windows")
            te = video_features(ctx, encoder, digest, test, "windows")
            metrics = video_retrieval(tr["feats"], tr["labels"], te["feats"], te["labels"],
                                      ks=tuple(p.eval.retrieval.ks))
            rows += [[dataset, k, metrics[mn.retrieval_recall(k)]] for k in p.eval.retrieval.ks]
            out.update(_prefixed(dataset, run.finish(metrics, len(te["feats"]))))
    write_csv(ctx, "retrieval.csv", ["dataset", "k", "recall"], rows)
    for name in {r[0] for r in rows}:  # one series per data set for `dvc plots`
        write_csv(ctx, f"retrieval_{name}.csv", ["k", "recall"], [r[1:] for r in rows if r[0] == name])
    return out


def _video_cells(ctx: EvalContext, dataset: str, protocol: str, table6: bool) -> list[list[str]]:
    cells = []
    row7 = ctx.row("table7", protocol=protocol)
    if row7:
        cells.append(paper_cell("table7", row7, dataset, **{mn.PARAM_PROTOCOL: protocol}))
    if table6 and ctx.row("table6") and dataset in ("ucf101", "hmdb51"):
        cells.append(paper_cell("table6", ctx.row("table6"), f"{dataset}_top1"))
    return cells


def video_linear(ctx: EvalContext) -> dict[str, float]:
    """Table 7 (frozen): linear layer on the frozen 3D encoder; clip-level training,
    video-level testing by averaging the scores of ``test_clips`` clips."""
    p, lp = ctx.params, ctx.params.eval.video.linear
    sgd = SGDSettings.from_params(lp)
    out: dict[str, float] = {}
    for dataset in p.eval.video.datasets:
        encoder, meta, digest = ctx.encoder("video")
        train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
        num_classes = len(train.classes)
        with dataset_run(ctx, "video-linear", dataset, _video_cells(ctx, dataset, "frozen", False), meta=meta,
                         split="test", data=train, scale=scale_note(p, dataset, train, meta, p.model.video_encoder.label),
                         extra_params={mn.PARAM_PROTOCOL: "frozen", "fast_path": not lp.augment},
                         extra_tags={"fast_path": str(not lp.augment).lower()}) as run:
            if lp.augment:
                res = train_linear_probe(encoder, video_train_loader(p, train, lp.batch_size, cache=ctx.decoded(train)),
                                         video_test_loader(p, test, ctx.decoded(test)), num_classes, sgd=sgd, device=ctx.device,
                                         video_level=True, seed=p.eval.seed, input_key="video")
            else:  # fast path: clip features of every train clip; test scores averaged per video
                tr = video_features(ctx, encoder, digest, train, "test")
                te = video_features(ctx, encoder, digest, test, "test")
                res = train_linear_on_features(tr["feats"], tr["labels"], te["feats"], te["labels"], num_classes,
                                               sgd=sgd, seed=p.eval.seed, test_index=te["ids"])
            out.update(_prefixed(dataset, run.finish(classification_metrics(res, "video_linear"),
                                                     int(res["n_test"]))))
    return out


def video_finetune(ctx: EvalContext) -> dict[str, float]:
    """Tables 6, 7 (fine-tune): the whole 3D encoder + a linear layer; video-level testing."""
    p, fp = ctx.params, ctx.params.eval.video.finetune
    out: dict[str, float] = {}
    for dataset in p.eval.video.datasets:
        encoder, meta, _ = ctx.encoder("video")
        train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
        with dataset_run(ctx, "video-finetune", dataset, _video_cells(ctx, dataset, "finetune", True), meta=meta,
                         split="test", data=train, scale=scale_note(p, dataset, train, meta, p.model.video_encoder.label),
                         extra_params={mn.PARAM_PROTOCOL: "finetune"}) as run:
            tl = video_train_loader(p, train, min(fp.batch_size, len(train.samples)),
                                    drop_last=len(train.samples) > fp.batch_size, cache=ctx.decoded(train))
            res = finetune_classifier(encoder, encoder.out_dim, len(train.classes), tl,
                                      video_test_loader(p, test, ctx.decoded(test)),
                                      sgd=SGDSettings.from_params(fp), device=ctx.device, video_level=True,
                                      seed=p.eval.seed, input_key="video")
            out.update(_prefixed(dataset, run.finish(classification_metrics(res, "video_finetune"),
                                                     int(res["n_test"]))))
    return out


# ----------------------------------------------------------------------------- learning check


def probe(ctx: EvalContext) -> dict[str, float]:
    """Does pretraining learn? `probe_accuracy` on frozen features of the Kinetics train split,
    tested on its val split, for the synthetic motion and appearance classes: the video encoder
    on the centre clip, the image encoder on its middle frame. Not a paper table."""
    p = ctx.params
    metrics: dict[str, float] = {}
    splits = {s: video_index(p, "kinetics400", s) for s in ("train", "val")}
    encoders = {kind: ctx.encoder(kind) for kind in ("video", "image")}
    meta = encoders["video"][1]
    with dataset_run(ctx, "probe", "kinetics400", [], meta=meta, split="val", data=splits["train"],
                     scale=scale_note(p, "kinetics400", splits["train"], meta, p.model.video_encoder.label)) as run:
        for kind, (encoder, _, digest) in encoders.items():
            feats = {}
            for split, index in splits.items():
                ds = PretrainClips(index, num_frames=p.pretrain.num_frames, stride=p.pretrain.stride,
                                   size=p.pretrain.size, mode="center")
                loader = make_loader(ds, p.eval.batch_size, num_workers=p.data.num_workers)
                key = {"encoder": digest, "index": index.digest(), "transform":
                       f"PretrainClips(center, T={p.pretrain.num_frames}, stride={p.pretrain.stride}, "
                       f"S={p.pretrain.size}):{kind}"}
                feats[split] = cached_features(ctx.cache, key, lambda e=encoder, ld=loader, k=kind: extract_features(
                    e, ld, ctx.device, input_key=k))
            for target in ("motion", "appearance"):
                y = {s: np.array([splits[s].samples[i].extra[target] for i in feats[s]["ids"]]) for s in splits}
                metrics[f"probe/{kind}_{target}_acc"] = probe_accuracy(feats["train"]["feats"], y["train"],
                                                                       feats["val"]["feats"], y["val"])
        return run.finish(metrics, len(splits["val"].samples))
