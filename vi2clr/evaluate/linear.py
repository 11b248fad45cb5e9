"""Linear classification on a frozen encoder (Tables 1, 2, 6 images; Table 7 "frozen").

Two entry points:
* `train_linear_on_features`: the fast path on pre-extracted features (no augmentation): one
  `nn.Linear`, cross-entropy, SGD with momentum, ×0.1 at the milestones.
* `train_linear_probe`: the encoder runs in eval mode (BatchNorm statistics frozen, no
  gradient) on every batch of the loader, so the loader's augmentation (random-resized-crop +
  flip, its job) is seen by the linear layer; testing is clip- or video-level.

Both are deterministic for a given seed on CPU: the RNG is forked, so the caller's global
torch RNG state is left untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from vi2clr.evaluate.classify import (
    Progress,
    accuracy_dict,
    ce_epoch,
    check_labels,
    fit_then_predict,
    group_mean_by_index,
    multistep_sgd,
)
from vi2clr.evaluate.sgd import SGDSettings


def linear_head(in_dim: int, num_classes: int) -> nn.Linear:
    """nn.Linear(in_dim, num_classes) with weights ~ N(0, 0.01²) and zero bias (as torchvision /
    MoCo linear evaluation); call under a seeded RNG."""
    head = nn.Linear(in_dim, num_classes)
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    return head


def train_linear_on_features(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    *,
    sgd: SGDSettings,
    seed: int = 0,
    standardize: bool = True,
    progress: Progress | None = None,
    test_index: np.ndarray | None = None,
) -> dict[str, Any]:
    """Logistic regression by SGD on fixed features.

    train_x: (N, D), train_y: (N,) in [0, num_classes); test_x: (M, D), test_y: (M,).
    With `standardize`, features are z-scored with the training mean / std (a fixed affine map,
    so still a linear classifier of the raw features; it only conditions SGD so one lr fits
    encoders of any feature scale). Loss = mean CE(W x + b, y), SGD(momentum, weight decay) as in
    `sgd`, lr × sgd.gamma at each milestone epoch, mini-batches of sgd.batch_size reshuffled every epoch.
    With `test_index` (M,) (the video id of each test clip), softmax scores are averaged per
    video before top-k (video-level testing).
    Returns dict(top1, top5, train_loss: list of per-epoch mean losses).
    """
    xtr = torch.as_tensor(np.asarray(train_x, dtype=np.float32))
    xte = torch.as_tensor(np.asarray(test_x, dtype=np.float32))
    ytr = torch.as_tensor(np.asarray(train_y, dtype=np.int64))
    yte = np.asarray(test_y, dtype=np.int64)
    if xtr.ndim != 2 or xte.ndim != 2 or xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {tuple(xtr.shape)} and {tuple(xte.shape)}")
    if ytr.shape != (xtr.shape[0],) or yte.shape != (xte.shape[0],):
        raise ValueError("one label per feature row is required")
    check_labels(ytr.numpy(), num_classes, "train")
    check_labels(yte, num_classes, "test")
    if standardize:
        mean, std = xtr.mean(dim=0), xtr.std(dim=0).clamp_min(1e-6)
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = linear_head(xtr.shape[1], num_classes)
        gen = torch.Generator().manual_seed(seed)
        opt, sched = multistep_sgd(head.parameters(), sgd)
        losses = []
        for epoch in range(sgd.epochs):
            order = torch.randperm(xtr.shape[0], generator=gen)
            batches = ((xtr[i], ytr[i]) for i in order.split(sgd.batch_size))
            losses.append(ce_epoch(head, batches, opt))
            sched.step()
            if progress is not None:
                progress(epoch, {"train_loss": losses[-1], "lr": opt.param_groups[0]["lr"]})
    with torch.no_grad():
        scores = head(xte).numpy()
    if test_index is not None:
        scores, yte, _ = group_mean_by_index(torch.as_tensor(scores).softmax(dim=1).numpy(), yte,
                                             np.asarray(test_index))
    return {**accuracy_dict(scores, yte), "train_loss": losses}


class _FrozenEncoderLinear(nn.Module):
    """logits = W · f(x) + b with f frozen: no gradient through f, and f kept in eval mode
    even when this module is put in train mode (BatchNorm statistics stay frozen)."""

    def __init__(self, encoder: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def train(self, mode: bool = True) -> _FrozenEncoderLinear:
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            f = self.encoder(x)
        return self.head(f)


def train_linear_probe(
    encoder: nn.Module,
    train_loader: Iterable[Any],
    test_loader: Iterable[Any],
    num_classes: int,
    *,
    sgd: SGDSettings,
    device: str | torch.device = "cpu",
    feat_dim: int | None = None,
    video_level: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    input_key: str | None = None,
) -> dict[str, Any]:
    """Linear probe on a frozen encoder with the loaders' augmentation.

    encoder: (B, ...) → (B, feat_dim) features before the projection head (feat_dim defaults
    to `encoder.out_dim`); loaders yield `vi2clr.evaluate.batches` batches with integer labels.
    Training: clip-level CE on W f(x) + b for sgd.epochs epochs, SGD(momentum, weight decay),
    lr × sgd.gamma at the milestone epochs; only W, b learn. Testing: softmax scores, averaged over the clips of each
    video (grouped by `index`) when `video_level`. The encoder's parameters and mode are left
    as they were. Returns dict(top1, top5, train_loss: per-epoch list).
    """
    feat_dim = feat_dim if feat_dim is not None else getattr(encoder, "out_dim", None)
    if feat_dim is None:
        raise ValueError("feat_dim not given and the encoder has no `out_dim`")
    was_training = encoder.training
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _FrozenEncoderLinear(encoder, linear_head(feat_dim, num_classes)).to(device)
            opt, sched = multistep_sgd(model.head.parameters(), sgd)
            scores, labels, losses = fit_then_predict(model, opt, sched, train_loader, test_loader, sgd.epochs, device,
                                                      video_level, progress, input_key)
    finally:
        encoder.train(was_training)
    check_labels(labels, num_classes, "test")
    return {**accuracy_dict(scores, labels), "train_loss": losses}
