"""Linear classification: fast path on features, probe on a frozen tiny CNN, video-level testing."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vi2clr.evaluate.classify import group_mean_by_index, predict
from vi2clr.evaluate.linear import train_linear_on_features, train_linear_probe
from vi2clr.evaluate.sgd import SGDSettings


def colour_images(n, seed, size=8):
    """Class c = the bright colour channel c (3 classes), plus noise: (n, 3, size, size)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.2 * torch.randn(n, 3, size, size, generator=g)
    x[torch.arange(n), y] += 1.0
    return x, y


def tiny_cnn(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    net.out_dim = 16
    return net


def test_linear_on_separable_features_reaches_100_percent():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(5, 10))
    y, yt = rng.integers(0, 5, 300), rng.integers(0, 5, 200)
    x, xt = centres[y] + rng.normal(size=(300, 10)), centres[yt] + rng.normal(size=(200, 10))
    out = train_linear_on_features(x, y, xt, yt, num_classes=5,
                                   sgd=SGDSettings(lr=0.1, epochs=20, milestones=(12, 16), batch_size=64))
    assert out["top1"] >= 0.99 and out["top5"] == 1.0
    assert len(out["train_loss"]) == 20 and out["train_loss"][-1] < out["train_loss"][0]


def test_linear_probe_on_frozen_tiny_cnn_learns_and_leaves_the_encoder_untouched():
    x, y = colour_images(96, seed=0)
    xt, yt = colour_images(48, seed=1)
    enc = tiny_cnn()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    train = DataLoader(TensorDataset(x, y, torch.arange(96)), batch_size=16, shuffle=True)
    test = DataLoader(TensorDataset(xt, yt, torch.arange(48)), batch_size=16)
    epochs_seen = []
    out = train_linear_probe(
        enc, train, test, num_classes=3, sgd=SGDSettings(lr=0.5, epochs=8, milestones=(6,)),
        progress=lambda epoch, m: epochs_seen.append(epoch),
    )
    assert out["top1"] > 0.8  # chance is 1/3
    assert epochs_seen == list(range(8))
    for k, v in enc.state_dict().items():  # weights and BatchNorm running stats frozen
        assert torch.equal(v, before[k]), k


def test_group_mean_by_index_averages_the_clips_of_each_video():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.8]])
    labels = np.array([0, 1, 0, 1])
    index = np.array([7, 3, 7, 3])
    s, y, ids = group_mean_by_index(scores, labels, index)
    assert ids.tolist() == [3, 7] and y.tolist() == [1, 0]
    np.testing.assert_allclose(s, [[0.1, 0.9], [0.75, 0.25]])
    with pytest.raises(ValueError, match="clips of video 7 carry different labels"):
        group_mean_by_index(scores, np.array([0, 1, 1, 1]), index)


def test_video_level_testing_averages_softmax_scores_across_batches():
    """Video 0: two clips mildly for class 1, one clip strongly for class 0; the averaged
    softmax picks class 0 (a clip-majority vote would pick 1). Clips are spread over batches."""
    logits = torch.tensor([[0.0, 0.3], [9.0, 0.0], [0.0, 5.0], [0.0, 0.3], [0.0, 6.0]])
    clips = logits[:, :, None, None, None].expand(5, 2, 1, 1, 1).contiguous()  # (B, C=2, T, H, W)
    labels = torch.tensor([0, 0, 1, 0, 1])
    index = torch.tensor([0, 0, 1, 0, 1])
    loader = [{"video": clips[:2], "label": labels[:2], "index": index[:2]},
              {"video": clips[2:], "label": labels[2:], "index": index[2:]}]
    forward = lambda v: v[:, :, 0, 0, 0]  # noqa: E731
    s, y = predict(forward, loader, "cpu", video_level=True)
    assert s.shape == (2, 2) and y.tolist() == [0, 1] and s.argmax(1).tolist() == [0, 1]
    clip_scores, _ = predict(forward, loader, "cpu", video_level=False)
    assert clip_scores.shape == (5, 2)
