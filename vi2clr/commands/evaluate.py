"""``vi2clr eval``: each downstream protocol of the paper as one MLflow run linked to its pretraining.

This module is the I/O edge: it reads params, layouts and encoders, calls the pure protocol
functions of :mod:`vi2clr.evaluate`, and records the result (MLflow run + JSON for DVC). Frozen
features are cached on disk keyed by (encoder digest, index digest, transform), so the VOC07 SVM
and the few-shot protocol share one extraction.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from vi2clr.config import EvalSuiteParams, Params
from vi2clr.data.datasets import ImageFolderIndex, VideoClips, collate_skip_bad, make_loader
from vi2clr.data.index import Index
from vi2clr.data.layouts import read_hmdb51, read_imagenet, read_kinetics400, read_ucf101, read_voc2007, \
    make_semisup_subset
from vi2clr.data.transforms import image_eval_transform, image_train_transform
from vi2clr.evaluate import metric_names as mn
from vi2clr.evaluate.features import FeatureCache, cached_features, extract_features, file_digest
from vi2clr.evaluate.finetune import finetune_classifier
from vi2clr.evaluate.linear import train_linear_on_features, train_linear_probe
from vi2clr.evaluate.results import classification_metrics, voc07_fewshot_metrics, voc07_svm_metrics
from vi2clr.evaluate.retrieval import video_retrieval
from vi2clr.evaluate.svm import voc07_fewshot, voc07_svm
from vi2clr.models import build_encoder, load_encoder
from vi2clr.tables import CELLS_TAG, SCALE_TAG
from vi2clr.tracking import Tracker, standard_tags

log = logging.getLogger(__name__)

VIDEO_DATASETS = ("ucf101", "hmdb51", "kinetics400")


class EvalError(ValueError):
    """A one-line reason an evaluation cannot run (bad checkpoint, missing split, ...)."""


# ----------------------------------------------------------------------------- context


@dataclass
class EvalContext:
    """What every protocol needs: params, where the encoders come from, the paper rows to fill."""

    params: Params
    suite: str
    encoders: Path | None  # None = random initialisation
    rows: dict[str, str]
    stage: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    clock: float = field(default_factory=time.perf_counter)  # start of the work the next record() reports

    @property
    def cache(self) -> FeatureCache:
        return FeatureCache(Path(self.params.eval.feature_cache))

    def encoder(self, kind: str, path: Path | None = None) -> tuple[nn.Module, dict[str, Any], str]:
        """(encoder, meta, digest) of ``kind`` from the suite's folder (or ``path``), or random init."""
        spec = self.params.model.video_encoder if kind == "video" else self.params.model.image_encoder
        if self.encoders is None and path is None:
            torch.manual_seed(self.params.eval.seed)
            enc = build_encoder(spec.name, **spec.kwargs)
            return enc, {"pretrain_run_id": "random-init", "epoch": 0}, f"random-init:{spec.name}:{spec.kwargs}:" \
                f"seed{self.params.eval.seed}"
        file = path or (self.encoders / f"{kind}_encoder.pt")
        try:
            enc, meta = load_encoder(file, expect_kind=kind)
        except ValueError as exc:
            raise EvalError(str(exc)) from None
        return enc, meta, file_digest(file)

    def row(self, table: str, **fmt: str) -> str | None:
        row = self.rows.get(table)
        return row.format(**fmt) if row else None


def scale_note(p: Params, dataset: str, index: Index, meta: dict[str, Any], encoder_name: str) -> str:
    """Data and scale of a run, shown beside our numbers in the tables."""
    synthetic = "synthetic" in str(index.root)
    epochs = meta.get("epoch", 0)
    source = "random init" if meta.get("pretrain_run_id") == "random-init" else f"pretrained {epochs} ep"
    return (f"{'synthetic' if synthetic else 'real'} {dataset} ({len(index.samples)} train items), {encoder_name}, "
            f"{source}, {'CPU' if not torch.cuda.is_available() else 'GPU'}")


def record(ctx: EvalContext, protocol: str, dataset: str, metrics: dict[str, float], cells: list[list[str]],
           *, meta: dict[str, Any], scale: str, split: str, extra_params: dict[str, Any] | None = None,
           extra_tags: dict[str, str] | None = None) -> dict[str, float]:
    """One MLflow run for one protocol on one dataset; cells = [[table, row, col, metric], ...]."""
    p = ctx.params
    metrics = {**metrics, "time/seconds": time.perf_counter() - ctx.clock}
    primary = cells[0] if cells else [None, None, None, None]
    tags = standard_tags(dvc_stage=ctx.stage, extra={
        "kind": "eval", "vi2clr.protocol": protocol, "dataset": dataset, "split": split,
        "pretrain_run_id": meta.get("pretrain_run_id") or "unknown", "suite": ctx.suite,
        "table": primary[0], "row": primary[1], "col": primary[2], "seed": str(p.eval.seed),
        CELLS_TAG: json.dumps(cells), SCALE_TAG: scale, **(extra_tags or {}),
    })
    with Tracker(params=p, run_name=f"eval:{ctx.suite}:{protocol}:{dataset}", tags=tags) as tracker:
        tracker.log_params({"eval": p.eval.model_dump(mode="json"), "model": p.model.model_dump(mode="json"),
                            "protocol": protocol, "dataset": dataset,
                            "encoders": str(ctx.encoders) if ctx.encoders else "random-init",
                            "pretrain_epoch": meta.get("epoch", 0), **(extra_params or {})})
        tracker.log_metrics(metrics)
    key = f"{protocol}/{dataset}" + "".join(f"/{v}" for v in (extra_params or {}).values())
    ctx.results[key] = metrics
    shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if "/ap/" not in k and "/cost/" not in k)
    print(f"[{ctx.suite}] {protocol} {dataset}: {shown}")
    ctx.clock = time.perf_counter()
    return metrics


# ----------------------------------------------------------------------------- data helpers


def image_index(p: Params, dataset: str, split: str, subset_file: str | None = None) -> Index:
    try:
        if dataset == "imagenet":
            return read_imagenet(p.data.imagenet.root, split, subset_file)
        return read_voc2007(p.data.voc2007.root, split)
    except (ValueError, FileNotFoundError) as exc:
        raise EvalError(str(exc).splitlines()[0]) from None


def video_index(p: Params, dataset: str, split: str) -> Index:
    try:
        if dataset == "ucf101":
            index = read_ucf101(p.data.ucf101.root, p.data.ucf101.split_no)
        elif dataset == "hmdb51":
            index = read_hmdb51(p.data.hmdb51.root, p.data.hmdb51.split_no)
        else:
            k = p.data.kinetics400
            return read_kinetics400(k.root, k.annotations, "train" if split == "train" else "val")
    except (ValueError, FileNotFoundError) as exc:
        raise EvalError(str(exc).splitlines()[0]) from None
    sub = index.select(split)
    if not sub.samples:
        raise EvalError(f"{dataset} split {split!r} is empty under {index.root} (split files missing?)")
    return sub


def image_features(ctx: EvalContext, encoder: nn.Module, digest: str, index: Index) -> dict[str, np.ndarray]:
    """Frozen features of an image index, eval transform, cached."""
    p = ctx.params
    transform = f"image_eval_transform({p.eval.size})"
    loader = make_loader(ImageFolderIndex(index, image_eval_transform(p.eval.size)), p.eval.batch_size,
                         num_workers=p.data.num_workers)
    key = {"encoder": digest, "index": index.digest(), "transform": transform}
    return cached_features(ctx.cache, key, lambda: extract_features(encoder, loader, ctx.device, input_key="image"))


def video_features(ctx: EvalContext, encoder: nn.Module, digest: str, index: Index, mode: str) -> dict[str, np.ndarray]:
    """Frozen features of a video index: ``windows`` = mean over sliding T-frame windows per video
    (retrieval); ``test`` = one row per uniformly spaced clip (video-level linear probe)."""
    p = ctx.params
    clips = p.eval.video.test_clips
    ds = VideoClips(index, num_frames=p.eval.num_frames, size=p.eval.video_size, mode=mode,
                    clips_per_video=clips, window_stride=p.eval.retrieval.window_stride)
    loader = make_loader(ds, 1, num_workers=p.data.num_workers)
    transform = f"VideoClips({mode}, T={p.eval.num_frames}, S={p.eval.video_size}, clips={clips}, " \
                f"window_stride={p.eval.retrieval.window_stride})"
    key = {"encoder": digest, "index": index.digest(), "transform": transform}
    return cached_features(ctx.cache, key, lambda: extract_features(
        encoder, loader, ctx.device, reduce_windows=(mode == "windows"), input_key="video"))


def flatten_clips(batch: list[Any]) -> dict[str, Any]:
    """Collate videos of N clips (N, 3, T, H, W) into a clip batch (B·N, 3, T, H, W); each clip keeps
    its video's label and ``index`` so scores are averaged per video."""
    out = collate_skip_bad(batch)
    if len(out["index"]) == 0:
        return out
    b, n = out["video"].shape[:2]
    out["video"] = out["video"].flatten(0, 1)
    out["label"] = out["label"].repeat_interleave(n)
    out["index"] = out["index"].repeat_interleave(n)
    return out


# ----------------------------------------------------------------------------- image protocols


def image_linear(ctx: EvalContext, *, encoder_path: Path | None = None, table1_col: str | None = None) -> dict:
    """Tables 1, 2, 6: linear classifier on the frozen 2D encoder (ImageNet top-1/top-5)."""
    p, lp = ctx.params, ctx.params.eval.linear
    encoder, meta, digest = ctx.encoder("image", encoder_path)
    train, val = image_index(p, "imagenet", "train"), image_index(p, "imagenet", "val")
    num_classes = len(train.classes)
    if lp.augment:
        train_loader = make_loader(ImageFolderIndex(train, image_train_transform(p.eval.size)), lp.batch_size,
                                   shuffle=True, num_workers=p.data.num_workers, seed=p.eval.seed)
        test_loader = make_loader(ImageFolderIndex(val, image_eval_transform(p.eval.size)), lp.batch_size,
                                  num_workers=p.data.num_workers)
        res = train_linear_probe(encoder, train_loader, test_loader, num_classes, lp.epochs, lp.lr, lp.milestones,
                                 lp.momentum, lp.weight_decay, ctx.device, seed=p.eval.seed, input_key="image")
    else:
        tr, te = image_features(ctx, encoder, digest, train), image_features(ctx, encoder, digest, val)
        res = train_linear_on_features(tr["feats"], tr["labels"], te["feats"], te["labels"], num_classes,
                                       lp.epochs, lp.lr, lp.momentum, lp.weight_decay, lp.milestones,
                                       lp.batch_size, p.eval.seed)
    metrics = classification_metrics(res, "image_linear")
    if table1_col:
        cells = [["table1", ctx.row("table1"), table1_col, mn.IMAGE_LINEAR_TOP1]]
    else:
        cells = [[t, ctx.row(t), "imagenet_top1", mn.IMAGE_LINEAR_TOP1] for t in ("table2", "table6") if ctx.row(t)]
    return record(ctx, "image-linear", "imagenet", metrics, cells, meta=meta, split="val",
                  scale=scale_note(p, "imagenet", train, meta, p.model.image_encoder.name),
                  extra_params={"fast_path": not lp.augment, **({"table1_col": table1_col} if table1_col else {})},
                  extra_tags={"fast_path": str(not lp.augment).lower()})


def table1(ctx: EvalContext) -> None:
    """Table 1: the image linear probe at the epochs standing for the paper's 50/100/200."""
    if ctx.encoders is None:
        raise EvalError("table1 needs pretrained encoders (epoch checkpoints), not --random-init")
    for col, epoch in ctx.params.eval.table1_epochs.items():
        path = ctx.encoders / f"epoch_{epoch:04d}" / "image_encoder.pt"
        if not path.exists():
            raise EvalError(f"{path} missing: add {epoch} to pretrain.keep_epochs for Table 1 column {col}")
        image_linear(ctx, encoder_path=path, table1_col=col)


def _voc_features(ctx: EvalContext) -> tuple[dict, dict, Index, dict]:
    p = ctx.params
    encoder, meta, digest = ctx.encoder("image")
    trainval, test = image_index(p, "voc2007", "trainval"), image_index(p, "voc2007", "test")
    tr = _with_voc_targets(image_features(ctx, encoder, digest, trainval), trainval)
    te = _with_voc_targets(image_features(ctx, encoder, digest, test), test)
    return tr, te, trainval, meta


def _with_voc_targets(feats: dict, index: Index) -> dict:
    """Replace the class labels by the VOC target rows {1, -1, 0} (N, C) of the same samples."""
    return {**feats, "labels": np.array([index.samples[i].targets for i in feats["ids"]], dtype=np.int64)}


def voc_svm(ctx: EvalContext) -> dict:
    """Tables 2, 6: VOC07 linear SVMs on frozen, L2-normalised 2D features (mAP)."""
    p, sp = ctx.params, ctx.params.eval.svm
    tr, te, trainval, meta = _voc_features(ctx)
    res = voc07_svm(tr["feats"], tr["labels"], te["feats"], te["labels"], costs=sp.costs, cv_folds=sp.cv_folds,
                    pos_weight=sp.pos_weight, n_jobs=2, seed=p.eval.seed, class_names=trainval.classes)
    metrics = voc07_svm_metrics(res, trainval.classes)
    cells = [[t, ctx.row(t), "voc07_map", mn.VOC07_SVM_MAP] for t in ("table2", "table6") if ctx.row(t)]
    return record(ctx, "voc-svm", "voc2007", metrics, cells, meta=meta, split="test",
                  scale=scale_note(p, "voc2007", trainval, meta, p.model.image_encoder.name))


def voc_fewshot(ctx: EvalContext) -> dict:
    """Table 3: VOC07 few-shot SVMs, k positives + 19k negatives per class, 5 seeded samples."""
    p, sp = ctx.params, ctx.params.eval.svm
    tr, te, trainval, meta = _voc_features(ctx)
    res = voc07_fewshot(tr["feats"], tr["labels"], te["feats"], te["labels"], ks=tuple(sp.fewshot_ks),
                        samples=sp.fewshot_samples, seed=p.eval.seed, costs=sp.costs, n_jobs=2,
                        class_names=trainval.classes)
    metrics = voc07_fewshot_metrics(res)
    row = ctx.row("table3")
    cells = [["table3", row, f"k{k}", mn.voc07_fewshot_mean(k)] for k in sp.fewshot_ks if row and k in mn.FEWSHOT_KS]
    _write_csv(ctx, "fewshot.csv", ["k", "map_mean", "map_std"],
               [[k, metrics[mn.voc07_fewshot_mean(k)], metrics[mn.voc07_fewshot_std(k)]] for k in sp.fewshot_ks])
    return record(ctx, "voc-fewshot", "voc2007", metrics, cells, meta=meta, split="test",
                  scale=scale_note(p, "voc2007", trainval, meta, p.model.image_encoder.name))


def semisup(ctx: EvalContext) -> None:
    """Table 4: fine-tune the whole 2D encoder + a linear layer on 1% / 10% of ImageNet labels."""
    p, fp = ctx.params, ctx.params.eval.semisup
    full = image_index(p, "imagenet", "train")
    val = image_index(p, "imagenet", "val")
    for pct, given in ((1, p.data.imagenet.subset_1pct), (10, p.data.imagenet.subset_10pct)):
        if given:
            subset = image_index(p, "imagenet", "train", given)
        else:  # the public list format, generated deterministically per class
            keep = set(make_semisup_subset(full, pct / 100, seed=p.eval.seed))
            subset = Index(f"{full.name}-{pct}pct", full.root, full.classes,
                           [s for s in full.samples if Path(s.path).name in keep], [])
        encoder, meta, _ = ctx.encoder("image")
        train_loader = make_loader(ImageFolderIndex(subset, image_train_transform(p.eval.size)),
                                   min(fp.batch_size, len(subset.samples)), shuffle=True,
                                   num_workers=p.data.num_workers, seed=p.eval.seed)
        test_loader = make_loader(ImageFolderIndex(val, image_eval_transform(p.eval.size)), p.eval.batch_size,
                                  num_workers=p.data.num_workers)
        res = finetune_classifier(encoder, encoder.out_dim, len(full.classes), train_loader, test_loader,
                                  fp.epochs, fp.lr, fp.milestones, fp.weight_decay, fp.momentum, ctx.device,
                                  seed=p.eval.seed, input_key="image")
        metrics = classification_metrics(res, "semisup")
        row = ctx.row("table4")
        cells = [["table4", row, f"pct{pct}_top{t}", m] for t, m in ((1, mn.SEMISUP_TOP1), (5, mn.SEMISUP_TOP5))
                 if row]
        record(ctx, "semisup", "imagenet", metrics, cells, meta=meta, split="val",
               scale=scale_note(p, "imagenet", subset, meta, p.model.image_encoder.name),
               extra_params={mn.PARAM_LABEL_PCT: pct}, extra_tags={"label_pct": str(pct)})


# ----------------------------------------------------------------------------- video protocols


def retrieval(ctx: EvalContext) -> None:
    """Table 5: test videos query train videos; R@k on UCF101 and HMDB51."""
    p = ctx.params
    encoder, meta, digest = ctx.encoder("video")
    rows: list[list[Any]] = []
    for dataset, short in (("ucf101", "ucf"), ("hmdb51", "hmdb")):
        train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
        tr = video_features(ctx, encoder, digest, train, "windows")
        te = video_features(ctx, encoder, digest, test, "windows")
        metrics = video_retrieval(tr["feats"], tr["labels"], te["feats"], te["labels"], ks=tuple(p.eval.retrieval.ks))
        row = ctx.row("table5")
        cells = [["table5", row, f"{short}_r{k}", mn.retrieval_recall(k)] for k in (1, 5, 10, 20)
                 if row and k in p.eval.retrieval.ks]
        rows += [[dataset, k, metrics[mn.retrieval_recall(k)]] for k in p.eval.retrieval.ks]
        record(ctx, "retrieval", dataset, metrics, cells, meta=meta, split="test",
               scale=scale_note(p, dataset, train, meta, p.model.video_encoder.name))
    _write_csv(ctx, "retrieval.csv", ["dataset", "k", "recall"], rows)


def _video_cells(ctx: EvalContext, dataset: str, protocol: str, metric: str, table6: bool) -> list[list[str]]:
    cells = []
    row7 = ctx.row("table7", protocol=protocol)
    if row7:
        cells.append(["table7", row7, dataset, metric])
    if table6 and ctx.row("table6") and dataset in ("ucf101", "hmdb51"):
        cells.append(["table6", ctx.row("table6"), f"{dataset}_top1", metric])
    return cells


def video_linear(ctx: EvalContext) -> None:
    """Table 7 (frozen): linear layer on the frozen 3D encoder; clip-level training,
    video-level testing by averaging the scores of ``test_clips`` clips."""
    p, lp = ctx.params, ctx.params.eval.video.linear
    for dataset in p.eval.video.datasets:
        encoder, meta, digest = ctx.encoder("video")
        train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
        num_classes = len(train.classes)
        if lp.augment:
            tl = make_loader(VideoClips(train, p.eval.num_frames, size=p.eval.video_size, mode="train"),
                             lp.batch_size, shuffle=True, num_workers=p.data.num_workers, seed=p.eval.seed)
            vl = _test_clip_loader(p, test)
            res = train_linear_probe(encoder, tl, vl, num_classes, lp.epochs, lp.lr, lp.milestones, lp.momentum,
                                     lp.weight_decay, ctx.device, video_level=True, seed=p.eval.seed,
                                     input_key="video")
        else:  # fast path: clip features of every train clip; test scores averaged per video
            tr = video_features(ctx, encoder, digest, train, "test")
            te = video_features(ctx, encoder, digest, test, "test")
            res = _linear_video_level(tr, te, num_classes, lp, p.eval.seed)
        metrics = classification_metrics(res, "video_linear")
        record(ctx, "video-linear", dataset, metrics, _video_cells(ctx, dataset, "frozen", mn.VIDEO_LINEAR_TOP1, False),
               meta=meta, split="test", scale=scale_note(p, dataset, train, meta, p.model.video_encoder.name),
               extra_params={mn.PARAM_PROTOCOL: "frozen", "fast_path": not lp.augment},
               extra_tags={"fast_path": str(not lp.augment).lower()})


def _linear_video_level(tr: dict, te: dict, num_classes: int, lp, seed: int) -> dict:
    """Linear classifier on clip features; test top-k from clip softmax scores averaged per video."""
    return train_linear_on_features(tr["feats"], tr["labels"], te["feats"], te["labels"], num_classes, lp.epochs,
                                    lp.lr, lp.momentum, lp.weight_decay, lp.milestones, lp.batch_size, seed,
                                    test_index=te["ids"])


def _test_clip_loader(p: Params, index: Index):
    ds = VideoClips(index, p.eval.num_frames, size=p.eval.video_size, mode="test", clips_per_video=p.eval.video.test_clips)
    return torch.utils.data.DataLoader(ds, batch_size=max(1, p.eval.batch_size // p.eval.video.test_clips),
                                       num_workers=p.data.num_workers, collate_fn=flatten_clips)


def video_finetune(ctx: EvalContext) -> None:
    """Tables 6, 7 (fine-tune): the whole 3D encoder + a linear layer; video-level testing."""
    p, fp = ctx.params, ctx.params.eval.video.finetune
    for dataset in p.eval.video.datasets:
        encoder, meta, _ = ctx.encoder("video")
        train, test = video_index(p, dataset, "train"), video_index(p, dataset, "test")
        tl = make_loader(VideoClips(train, p.eval.num_frames, size=p.eval.video_size, mode="train"),
                         min(fp.batch_size, len(train.samples)), shuffle=True, num_workers=p.data.num_workers,
                         seed=p.eval.seed, drop_last=len(train.samples) > fp.batch_size)
        res = finetune_classifier(encoder, encoder.out_dim, len(train.classes), tl, _test_clip_loader(p, test),
                                  fp.epochs, fp.lr, fp.milestones, fp.weight_decay, fp.momentum, ctx.device,
                                  video_level=True, seed=p.eval.seed, input_key="video")
        metrics = classification_metrics(res, "video_finetune")
        record(ctx, "video-finetune", dataset, metrics,
               _video_cells(ctx, dataset, "finetune", mn.VIDEO_FINETUNE_TOP1, True), meta=meta, split="test",
               scale=scale_note(p, dataset, train, meta, p.model.video_encoder.name),
               extra_params={mn.PARAM_PROTOCOL: "finetune"})


# ----------------------------------------------------------------------------- learning check


def probe(ctx: EvalContext) -> dict:
    """Does pretraining learn? Logistic regression on frozen features of the Kinetics train split,
    tested on its val split, for the synthetic motion and appearance classes: the video encoder
    on the centre clip, the image encoder on its middle frame. Not a paper table."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vi2clr.data.datasets import PretrainClips

    p = ctx.params
    metrics: dict[str, float] = {}
    meta: dict[str, Any] = {}
    splits = {s: video_index(p, "kinetics400", s) for s in ("train", "val")}
    for kind in ("video", "image"):
        encoder, meta, digest = ctx.encoder(kind)
        feats = {}
        for split, index in splits.items():
            ds = PretrainClips(index, num_frames=p.pretrain.num_frames, stride=p.pretrain.stride, size=p.pretrain.size,
                               mode="center")
            loader = make_loader(ds, p.eval.batch_size, num_workers=p.data.num_workers)
            key = {"encoder": digest, "index": index.digest(), "transform":
                   f"PretrainClips(center, T={p.pretrain.num_frames}, stride={p.pretrain.stride}, S={p.pretrain.size})"
                   f":{kind}"}
            feats[split] = cached_features(ctx.cache, key, lambda: extract_features(encoder, loader, ctx.device,
                                                                                     input_key=kind))
        for target in ("motion", "appearance"):
            y = {s: np.array([splits[s].samples[i].extra[target] for i in feats[s]["ids"]]) for s in splits}
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
            clf.fit(feats["train"]["feats"], y["train"])
            metrics[f"probe/{kind}_{target}_acc"] = float((clf.predict(feats["val"]["feats"]) == y["val"]).mean())
    return record(ctx, "probe", "kinetics400", metrics, [], meta=meta, split="val",
                  scale=scale_note(p, "kinetics400", splits["train"], meta, p.model.video_encoder.name))


# ----------------------------------------------------------------------------- suites


PROTOCOLS: dict[str, Callable[[EvalContext], Any]] = {
    "image-linear": image_linear,
    "voc-svm": voc_svm,
    "voc-fewshot": voc_fewshot,
    "semisup": semisup,
    "retrieval": retrieval,
    "video-linear": video_linear,
    "video-finetune": video_finetune,
    "table1": table1,
    "probe": probe,
}


def _report_dir(ctx: EvalContext) -> Path:
    return Path("reports") / "eval" / ctx.suite


def _write_csv(ctx: EvalContext, name: str, header: list[str], rows: list[list[Any]]) -> None:
    path = _report_dir(ctx) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))


def make_context(p: Params, *, suite: str | None, encoders: Path | None, random_init: bool,
                 stage: str | None) -> EvalContext:
    """Resolve where the encoders come from and which paper rows the runs fill."""
    if suite is not None:
        spec: EvalSuiteParams | None = p.eval_random if suite == "random" else p.eval_suites.get(suite)
        if spec is None:
            have = ", ".join(["random", *sorted(p.eval_suites)])
            raise EvalError(f"eval_suites.{suite}: no such suite (have: {have})")
        path = None if spec.encoders is None else Path(spec.encoders)
        return EvalContext(p, suite, path, dict(spec.rows), stage)
    if random_init:
        return EvalContext(p, "random", None, dict(p.eval_random.rows), stage)
    if encoders is None:
        raise EvalError("give --encoders DIR (a pretraining's out_dir), --random-init, or --suite NAME")
    # A folder named in a suite fills that suite's rows; any other folder is logged without cells.
    for name, spec in p.eval_suites.items():
        if spec.encoders and Path(spec.encoders).resolve() == encoders.resolve():
            return EvalContext(p, name, encoders, dict(spec.rows), stage)
    return EvalContext(p, encoders.name, encoders, {}, stage)


def run_protocols(ctx: EvalContext, protocols: list[str]) -> dict[str, dict[str, float]]:
    """Run protocols in order; write ``reports/eval/<suite>/metrics.json`` for ``dvc metrics``."""
    if ctx.encoders is not None and not ctx.encoders.is_dir():
        raise EvalError(f"encoders folder {ctx.encoders} does not exist (run `vi2clr pretrain` first)")
    for name in protocols:
        ctx.clock = time.perf_counter()
        PROTOCOLS[name](ctx)
    out = _report_dir(ctx) / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() and len(protocols) == 1 else {}
    previous.update(copy.deepcopy(ctx.results))
    out.write_text(json.dumps(previous, indent=2, sort_keys=True))
    return ctx.results
