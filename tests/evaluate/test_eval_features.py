"""Feature extraction (images, window averaging) and the on-disk feature cache."""

import os

import numpy as np
import pytest
import torch
from torch import nn

from vi2clr.evaluate.features import FeatureCache, Features, cached_features, extract_features


class MeanEncoder(nn.Module):
    """(B, 3, ...) -> (B, 3): per-channel mean; has a BatchNorm so eval mode matters."""

    out_dim = 3

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(3, affine=False)

    def forward(self, x):
        return self.bn(x.flatten(2).mean(dim=2))


def test_image_batches_dicts_and_tuples_give_rows_in_order():
    enc = MeanEncoder().train()
    x = torch.randn(5, 3, 4, 4)
    loader = [
        {"image": x[:3], "label": torch.tensor([0, 1, 2]), "index": torch.tensor([10, 11, 12])},
        (x[3:], torch.tensor([1, 0]), torch.tensor([13, 14])),
    ]
    out = extract_features(enc, loader)
    assert isinstance(out, Features) and out.feats.dtype == np.float32
    np.testing.assert_allclose(out.feats, x.flatten(2).mean(2).numpy(), atol=1e-4)  # eval BN: identity
    assert out.labels.tolist() == [0, 1, 2, 1, 0] and out.ids.tolist() == [10, 11, 12, 13, 14]
    assert enc.training  # mode restored


def test_windows_are_averaged_over_valid_windows_only():
    enc = MeanEncoder()
    windows = torch.randn(2, 3, 3, 2, 4, 4)  # (B=2 videos, W=3 windows, 3, T, H, W)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    per_window = windows.flatten(3).mean(3)  # (2, 3, 3)
    out = extract_features(enc, [{"windows": windows, "window_mask": mask, "label": torch.tensor([4, 5])}])
    np.testing.assert_allclose(out.feats[0], per_window[0, :2].mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(out.feats[1], per_window[1].mean(0).numpy(), atol=1e-5)
    flat = extract_features(enc, [{"windows": windows, "window_mask": mask, "label": torch.tensor([4, 5])}], reduce_windows=False)
    assert flat.feats.shape == (5, 3) and flat.ids.tolist() == [0, 0, 1, 1, 1] and flat.labels.tolist() == [4, 4, 5, 5, 5]


def test_batch_format_errors_are_one_line():
    enc = MeanEncoder()
    with pytest.raises(ValueError, match="exactly one of"):
        extract_features(enc, [{"video": torch.zeros(1, 3, 2, 4, 4), "image": torch.zeros(1, 3, 4, 4)}])
    out = extract_features(enc, [{"video": torch.zeros(1, 3, 2, 4, 4), "image": torch.ones(1, 3, 4, 4)}], input_key="image")
    assert out.feats.shape == (1, 3)


def test_cache_hit_skips_compute_and_other_key_recomputes(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    calls = []

    def compute():
        calls.append(1)
        return Features(np.ones((2, 3), np.float32), np.array([0, 1]), np.array([7, 8]))

    key = {"checkpoint": "abc", "index": "def", "transform": "center_crop112", "split": "train"}
    first = cached_features(cache, key, compute)
    second = cached_features(cache, dict(reversed(list(key.items()))), compute)  # key order irrelevant
    assert len(calls) == 1
    for name in ("feats", "labels", "ids"):
        np.testing.assert_array_equal(first[name], second[name])
    cached_features(cache, {**key, "checkpoint": "xyz"}, compute)
    assert len(calls) == 2
    cached_features(None, key, compute)
    assert len(calls) == 3


def test_cache_write_is_atomic_and_corrupt_files_are_misses(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    key = {"checkpoint": "a"}

    def failing_savez(fh, **arrays):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        cache.save(key, {"feats": np.zeros(2)})
    assert os.listdir(tmp_path) == []  # neither the final file nor a temporary one
    monkeypatch.undo()

    path = cache.save(key, {"feats": np.arange(3)})
    assert os.listdir(tmp_path) == [path.name]
    np.testing.assert_array_equal(cache.load(key)["feats"], np.arange(3))
    path.write_bytes(b"not a zip")
    assert cache.load(key) is None


def test_padded_windows_are_never_encoded_and_a_batch_equals_one_video_at_a_time():
    """`pad_windows` batches videos of different window counts; the features equal those of one
    video per batch, and the encoder never sees a padding window."""
    from vi2clr.commands.evaluate.inputs import pad_windows
    from vi2clr.data.datasets import SkippedItem

    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.AdaptiveAvgPool3d(1), nn.Flatten())
    seen = []
    enc.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    items = [{"video": torch.randn(w, 3, 2, 4, 4), "label": lab, "index": i}
             for i, (w, lab) in enumerate([(2, 0), (3, 1), (1, 0)])]
    batch = pad_windows([items[0], SkippedItem(9, "bad.mp4", "truncated"), items[1], items[2]])
    assert batch["video"].shape == (3, 3, 3, 2, 4, 4) and batch["skipped"] == 1
    assert batch["window_mask"].tolist() == [[True, True, False], [True, True, True], [True, False, False]]
    assert batch["video"][0, 2].abs().sum() == 0
    for reduce in (True, False):
        seen.clear()
        together = extract_features(enc, [batch], reduce_windows=reduce, input_key="video")
        assert seen == [6]  # 2 + 3 + 1 real windows, no padding
        alone = [extract_features(enc, [pad_windows([it])], reduce_windows=reduce, input_key="video") for it in items]
        np.testing.assert_allclose(together.feats, np.concatenate([a.feats for a in alone]), rtol=1e-5, atol=1e-6)
        assert together.ids.tolist() == [i for a in alone for i in a.ids.tolist()]
        assert together.labels.tolist() == [lab for a in alone for lab in a.labels.tolist()]
