"""Shared pieces of the classification protocols (linear probe, fine-tuning).

Clip-level training epochs with cross-entropy, and testing that optionally averages the
softmax scores of all clips of a video (video-level testing, clips grouped by `index`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from vi2clr.evaluate.batches import parse_batch
from vi2clr.evaluate.errors import EvalError
from vi2clr.evaluate.metrics import topk_accuracy
from vi2clr.evaluate.sgd import SGDSettings

Forward = Callable[[torch.Tensor], torch.Tensor]  # inputs (B, ...) -> logits (B, K)
Progress = Callable[[int, dict[str, float]], None]  # (epoch, {"train_loss": ..., "lr": ...})


def _class_labels(labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None or labels.ndim != 1:
        shape = None if labels is None else tuple(labels.shape)
        raise ValueError(f"classification batches need integer labels (B,), got {shape}")
    return labels.long()


def ce_epoch(
    forward: Forward, pairs: Iterable[tuple[torch.Tensor, torch.Tensor]], optimizer: torch.optim.Optimizer
) -> float:
    """One pass of cross-entropy steps over (inputs, labels (B,)) pairs; returns the
    sample-weighted mean loss."""
    total, count = 0.0, 0
    for x, y in pairs:
        loss = nn.functional.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * y.shape[0]
        count += y.shape[0]
    if count == 0:
        raise ValueError("the training loader yielded no batch")
    return total / count


def train_epoch(
    forward: Forward,
    loader: Iterable[Any],
    optimizer: torch.optim.Optimizer,
    device: str | torch.device,
    input_key: str | None = None,
) -> float:
    """`ce_epoch` over a loader of `vi2clr.evaluate.batches` batches (images or clips)."""

    def pairs() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for raw in loader:
            b = parse_batch(raw, input_key)
            if b.is_windows:
                raise ValueError("training batches must be images or clips, not (B, W, ...) windows")
            yield b.inputs.to(device), _class_labels(b.labels).to(device)

    return ce_epoch(forward, pairs(), optimizer)


def group_mean_by_index(
    scores: np.ndarray, labels: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average clip scores per video.

    scores: (N, K) per-clip softmax scores, labels: (N,), index: (N,) video id of each clip.
    Returns (video_scores (V, K), video_labels (V,), video_ids (V,) sorted), with
    video_scores[v] = mean of scores over the clips whose index is video_ids[v].
    Raises ValueError when clips of one video carry different labels.
    """
    ids, inverse = np.unique(index, return_inverse=True)
    sums = np.zeros((len(ids), scores.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, scores)
    counts = np.bincount(inverse, minlength=len(ids))
    video_labels = np.full(len(ids), -1, dtype=np.int64)
    video_labels[inverse] = labels
    mismatch = video_labels[inverse] != labels
    if mismatch.any():
        bad = ids[inverse[np.flatnonzero(mismatch)[0]]]
        raise ValueError(f"clips of video {int(bad)} carry different labels")
    return sums / counts[:, None], video_labels, ids


@torch.no_grad()
def predict(
    forward: Forward,
    loader: Iterable[Any],
    device: str | torch.device,
    video_level: bool = False,
    input_key: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax scores and labels over `loader`: (N, K), (N,) per clip, or per video
    (clips averaged by `group_mean_by_index`) when `video_level`; then requires `index`."""
    scores, labels, index = [], [], []
    for raw in loader:
        b = parse_batch(raw, input_key)
        if b.is_windows:
            raise ValueError("test batches must be images or clips, not (B, W, ...) windows")
        labels.append(_class_labels(b.labels))
        scores.append(forward(b.inputs.to(device)).float().softmax(dim=1).cpu())
        if video_level:
            if b.index is None:
                raise ValueError("video-level testing needs the video id as `index` in every batch")
            index.append(b.index.long())
    if not scores:
        raise ValueError("the test loader yielded no batch")
    s, y = torch.cat(scores).numpy(), torch.cat(labels).numpy()
    if video_level:
        s, y, _ = group_mean_by_index(s, y, torch.cat(index).numpy())
    return s, y


def accuracy_dict(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """{"top1": ..., "top5": ..., "n_test": N} from (N, K) scores and (N,) labels (N items scored:
    images, clips, or videos when clip scores were averaged per video)."""
    return {**{f"top{k}": v for k, v in topk_accuracy(scores, labels, ks).items()}, "n_test": float(len(labels))}


def multistep_sgd(
    params: Iterable[Any], sgd: SGDSettings
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.MultiStepLR]:
    """SGD(momentum, weight decay) at ``sgd.lr`` (param groups may set their own lr), each group's
    lr × ``sgd.gamma`` at the milestone epochs (scheduler stepped per epoch)."""
    opt = torch.optim.SGD(params, lr=sgd.lr, momentum=sgd.momentum, weight_decay=sgd.weight_decay)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(sgd.milestones), gamma=sgd.gamma)


def check_labels(labels: np.ndarray, num_classes: int, what: str) -> None:
    """One-line error when class ids fall outside [0, num_classes)."""
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        raise EvalError(f"{what} labels span [{lo}, {hi}], outside [0, {num_classes})")


def set_epoch(loader: Iterable[Any], epoch: int) -> None:
    """Advance the loader's per-epoch randomness (augmentation draws of our datasets, the order of a
    DistributedSampler) before ``epoch``: without it every epoch sees the same crops and flips."""
    for part in (getattr(loader, "dataset", None), getattr(loader, "sampler", None),
                 getattr(loader, "batch_sampler", None)):
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


def fit_then_predict(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    train_loader: Iterable[Any],
    test_loader: Iterable[Any],
    epochs: int,
    device: str | torch.device,
    video_level: bool,
    progress: Progress | None,
    input_key: str | None,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Train ``epochs`` clip-level CE epochs (`set_epoch` on the loader first, scheduler stepped per
    epoch), then test: (scores (N, K), labels (N,), per-epoch train losses). ``progress`` gets the
    epoch's loss and the lr of every parameter group (``lr``, ``lr/group1``, ...)."""
    losses = []
    for epoch in range(epochs):
        set_epoch(train_loader, epoch)
        model.train()
        losses.append(train_epoch(model, train_loader, optimizer, device, input_key))
        lrs = {"lr" if i == 0 else f"lr/group{i}": g["lr"] for i, g in enumerate(optimizer.param_groups)}
        scheduler.step()
        if progress is not None:
            progress(epoch, {"train_loss": losses[-1], **lrs})
    model.eval()
    scores, labels = predict(model, test_loader, device, video_level, input_key)
    return scores, labels, losses
