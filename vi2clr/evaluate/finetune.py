"""Full fine-tuning of an encoder with a linear classifier: semi-supervised ImageNet on a
1% / 10% label subset (Table 4) and video classification fine-tuning (Table 7 "finetune").

Training is clip-level; testing is clip-level, or video-level by averaging the softmax scores
of all clips of a video (clips identified by the batch's `index`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from vi2clr.evaluate.classify import Progress, accuracy_dict, check_labels, fit_then_predict, multistep_sgd
from vi2clr.evaluate.linear import linear_head
from vi2clr.evaluate.sgd import SGDSettings


class EncoderClassifier(nn.Module):
    """logits = W · f(x) + b, with f trainable: (B, ...) → (B, num_classes)."""

    def __init__(self, encoder: nn.Module, feat_dim: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = linear_head(feat_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def finetune_classifier(
    encoder: nn.Module,
    feat_dim: int,
    num_classes: int,
    train_loader: Iterable[Any],
    test_loader: Iterable[Any],
    *,
    sgd: SGDSettings,
    device: str | torch.device = "cpu",
    head_lr_mult: float = 1.0,
    video_level: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    input_key: str | None = None,
) -> dict[str, Any]:
    """Fine-tune `encoder` (in place, train mode, BatchNorm updating) plus a new linear layer.

    Loss: clip-level cross-entropy for sgd.epochs epochs; SGD(momentum, weight decay) with
    sgd.lr for the encoder and sgd.lr · head_lr_mult for the head (semi-supervised recipes use a
    larger head lr), both × sgd.gamma at the milestone epochs. Test: softmax scores, averaged per video when `video_level`.
    The RNG is forked and seeded (head init, loader shuffling drawn from torch's global RNG,
    dropout), so a run is deterministic on CPU and the caller's RNG state is untouched.
    Returns dict(top1, top5, train_loss: per-epoch list).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EncoderClassifier(encoder, feat_dim, num_classes).to(device)
        groups = [
            {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": sgd.lr},
            {"params": list(model.head.parameters()), "lr": sgd.lr * head_lr_mult},
        ]
        opt, sched = multistep_sgd(groups, sgd)
        scores, labels, losses = fit_then_predict(model, opt, sched, train_loader, test_loader, sgd.epochs, device,
                                                  video_level, progress, input_key)
    check_labels(labels, num_classes, "test")
    return {**accuracy_dict(scores, labels), "train_loss": losses}
