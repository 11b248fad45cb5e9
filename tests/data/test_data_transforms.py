"""Augmentation: one draw of parameters per clip, shared by all its frames; fresh draws per call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vi2clr.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipAugment, ClipEval, image_eval_transform

# every op on, so a per-frame draw anywhere would show
ALL_ON = dict(flip_p=0.5, jitter_p=1.0, grayscale_p=0.5, blur_p=1.0)


def _frames(seed: int, num_frames: int, height: int = 40, width: int = 56) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_identical_frames_stay_identical_after_augmentation(seed):
    frame = _frames(seed, 1)
    clip = np.repeat(frame, 8, axis=0)
    torch.manual_seed(seed)
    out = ClipAugment(size=32, **ALL_ON).augment_uint8(clip)
    assert out.shape == (8, 3, 32, 32)
    assert all(torch.equal(out[0], out[t]) for t in range(1, 8))


@pytest.mark.parametrize("seed", range(4))
def test_crop_box_and_colour_shared_across_different_frames(seed):
    # frames 0 and 2 equal, frame 1 different: if the crop (or any colour op) were drawn per frame,
    # outputs 0 and 2 would differ
    a, b = _frames(seed, 2)
    clip = np.stack([a, b, a])
    torch.manual_seed(seed)
    out = ClipAugment(size=32, **ALL_ON).augment_uint8(clip)
    assert torch.equal(out[0], out[2]) and not torch.equal(out[0], out[1])


def test_fresh_parameters_per_call():
    clip = np.repeat(_frames(0, 1), 4, axis=0)
    aug = ClipAugment(size=32)
    outs = [aug(clip) for _ in range(4)]
    assert not any(torch.equal(outs[0], o) for o in outs[1:])


def test_output_is_normalised_channels_first_time_second():
    clip = np.full((5, 40, 56, 3), 128, dtype=np.uint8)
    out = ClipAugment(size=24, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)(clip)
    assert out.shape == (3, 5, 24, 24) and out.dtype == torch.float32
    expected = (128 / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), expected, atol=1e-3)


def test_eval_transform_is_deterministic_centre_crop():
    clip = _frames(1, 3)
    ev = ClipEval(size=24)
    out = ev(clip)
    assert out.shape == (3, 3, 24, 24) and torch.equal(out, ev(clip))


def test_colour_strength_follows_simclr():
    aug = ClipAugment(size=16, crop_scale=(0.3, 1.0), jitter_strength=0.5)
    jitter = aug.spatial.transforms[2].transforms[0]
    assert jitter.brightness == (0.6, 1.4) and jitter.hue == (-0.1, 0.1)


def test_bad_probability_and_shape_are_rejected():
    with pytest.raises(ValueError, match="blur_p must be in"):
        ClipAugment(blur_p=1.5)
    with pytest.raises(ValueError, match=r"expected a clip of shape \(T, H, W, 3\)"):
        ClipAugment(size=8)(np.zeros((4, 8, 8), np.uint8))


def test_image_eval_transform_gives_a_plain_tensor():
    from PIL import Image

    out = image_eval_transform(32)(Image.fromarray(_frames(0, 1)[0]))
    assert type(out) is torch.Tensor and out.shape == (3, 32, 32)
