"""Learning curves: a cheap frozen probe at the end of every k-th pretraining epoch, so a user sees
whether each clustering epoch helps (``pretrain.curve``).

The probe reads a fixed subset of the Kinetics *validation* split (never the test sets the tables
report), extracts the backbone features of the video encoder (centre clip) and of the image encoder
(the clip's middle frame) in eval mode, and scores a k-nearest-neighbour classifier by stratified
5-fold cross-validation on that subset:

- video → motion (the synthetic motion class, else the action label);
- image → appearance (the synthetic appearance class, else the action label).

Cluster quality against the same labels (NMI) is logged by the clustering pass (``cluster/*_nmi``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import DataLoader

from vi2clr.config import Params
from vi2clr.data.datasets import PretrainClips, SkipLog, decoded_cache_for, make_loader, workers_for
from vi2clr.data.index import Index

log = logging.getLogger(__name__)


def knn_cv_accuracy(feats: np.ndarray, labels: np.ndarray, k: int, folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of a cosine k-NN classifier (majority vote of the k nearest training rows) under
    stratified ``folds``-fold cross-validation; ``feats`` (N, D), ``labels`` (N,)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    counts = np.bincount(np.unique(labels, return_inverse=True)[1])
    folds = int(min(folds, counts.min())) if counts.size else 0
    if folds < 2 or counts.size < 2:
        return float("nan")
    clf = KNeighborsClassifier(n_neighbors=min(k, len(labels) - len(labels) // folds - 1), metric="cosine")
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, feats, labels, cv=cv).mean())


def probe_subset(index: Index, size: int, seed: int = 0) -> Index:
    """A fixed, seeded subset of ``size`` samples (all if fewer), the same at every epoch."""
    if len(index.samples) <= size:
        return index
    keep = sorted(np.random.default_rng(seed).permutation(len(index.samples))[:size].tolist())
    return replace(index, samples=[index.samples[i] for i in keep])


def _targets(index: Index) -> dict[str, np.ndarray]:
    """Label arrays (N,) per probe: ``video`` → motion (or label), ``image`` → appearance (or label)."""
    def labels(key: str) -> np.ndarray:
        values = [s.extra.get(key) for s in index.samples]
        if all(v is not None for v in values):
            return np.array(values)
        return np.array([s.label for s in index.samples])
    return {"video": labels("motion"), "image": labels("appearance")}


@dataclass
class CurveProbe:
    """Features of the fixed validation subset → k-NN accuracy per stream. Call it with the model."""

    loader: DataLoader
    targets: dict[str, np.ndarray]
    names: dict[str, str]
    k: int
    device: torch.device

    @torch.inference_mode()
    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        feats: dict[str, list[torch.Tensor]] = {"video": [], "image": []}
        rows: list[torch.Tensor] = []
        for batch in SkipLog().watch(self.loader):
            if len(batch.get("index", [])) == 0:
                continue
            feats["video"].append(model.video_encoder(batch["video"].to(self.device)).float().cpu())
            feats["image"].append(model.image_encoder(batch["image"].to(self.device)).float().cpu())
            rows.append(batch["index"])
        model.train(was_training)
        if not rows:
            return {}
        idx = torch.cat(rows).numpy()
        out = {}
        for stream in ("video", "image"):
            x = torch.cat(feats[stream]).numpy()
            out[f"curve/{stream}_{self.names[stream]}_knn"] = knn_cv_accuracy(x, self.targets[stream][idx], self.k)
        return out


def build_curve_probe(p: Params, device: torch.device) -> CurveProbe | None:
    """The probe of ``pretrain.curve`` on the Kinetics validation split, or None when it is off or
    the split is absent (a warning says so; pretraining goes on)."""
    from vi2clr.data.catalog import read_dataset

    cfg = p.pretrain.curve
    if cfg.every == 0:
        return None
    try:
        index = read_dataset(p.data, "kinetics400", cfg.split)
    except Exception as exc:  # the probe is a diagnostic: a missing val split must not stop training
        log.warning("learning curve off: no Kinetics %s split (%s)", cfg.split, str(exc).splitlines()[0])
        return None
    if len(index.samples) < 10:
        log.warning("learning curve off: the Kinetics %s split has %d videos", cfg.split, len(index.samples))
        return None
    index = probe_subset(index, cfg.videos, seed=0)
    t = p.pretrain
    cache = decoded_cache_for(index, p.data.decoded_cache_mb * 2**20, p.data.decoder, store=p.data.decoded_store)
    ds = PretrainClips(index, num_frames=t.num_frames, stride=t.stride, size=t.size, mode="center", seed=t.seed,
                       decoder=p.data.decoder, cache=cache)
    loader = make_loader(ds, t.batch_size, num_workers=workers_for(cache, p.data.num_workers), seed=t.seed)
    extra = index.samples[0].extra
    names = {"video": "motion" if "motion" in extra else "label",
             "image": "appearance" if "appearance" in extra else "label"}
    return CurveProbe(loader, _targets(index), names, cfg.k, device)
