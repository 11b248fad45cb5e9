"""Full fine-tuning: learns on a tiny CNN, deterministic with a seed, video-level testing."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vi2clr.evaluate.finetune import finetune_classifier
from vi2clr.evaluate.sgd import SGDSettings


def colour_clips(n, seed, clips_per_video=1):
    """Class = bright colour channel; clips (n·clips_per_video, 3, T=2, 6, 6), index = video id."""
    g = torch.Generator().manual_seed(seed)
    video = torch.arange(n).repeat_interleave(clips_per_video)
    y = video % 3
    x = 0.3 * torch.randn(len(video), 3, 2, 6, 6, generator=g)
    x[torch.arange(len(video)), y] += 1.0
    return x, y, video


def tiny_video_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten())


def run(seed=0, video_level=False):
    x, y, vid = colour_clips(60, seed=0)
    xt, yt, vidt = colour_clips(30, seed=1, clips_per_video=3)
    train = DataLoader(TensorDataset(x, y, vid), batch_size=12, shuffle=True)
    test = DataLoader(TensorDataset(xt, yt, vidt), batch_size=16)
    return finetune_classifier(
        tiny_video_cnn(), feat_dim=8, num_classes=3, train_loader=train, test_loader=test,
        sgd=SGDSettings(lr=0.1, epochs=4, milestones=(3,), weight_decay=1e-4, momentum=0.9), device="cpu",
        head_lr_mult=2.0, video_level=video_level, seed=seed,
    )


def test_finetune_learns_and_is_deterministic():
    a, b = run(seed=3), run(seed=3)
    assert a["top1"] > 0.8  # chance is 1/3
    assert a["train_loss"] == b["train_loss"] and a["top1"] == b["top1"]


def test_finetune_video_level_scores_each_video_once():
    out = run(video_level=True)
    assert out["top1"] > 0.8
    # 30 videos: accuracies are multiples of 1/30
    assert abs(out["top1"] * 30 - round(out["top1"] * 30)) < 1e-9
