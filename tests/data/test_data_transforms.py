"""Augmentation: one draw of parameters per clip, shared by all its frames; fresh draws per call."""

from __future__ import annotations

import dataclasses

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
    assert (aug.brightness, aug.contrast, aug.saturation, aug.hue) == pytest.approx((0.4, 0.4, 0.4, 0.1))


def test_each_op_probability_is_honoured_over_many_draws():
    aug = ClipAugment(size=32, flip_p=0.5, jitter_p=0.8, grayscale_p=0.2, blur_p=0.5)
    torch.manual_seed(0)
    draws = [aug.draw(40, 56) for _ in range(4000)]
    # binomial sd at n = 4000 is <= 0.008; 0.03 is > 3.5 sd
    assert np.mean([d.flip for d in draws]) == pytest.approx(0.5, abs=0.03)
    assert np.mean([d.jitter is not None for d in draws]) == pytest.approx(0.8, abs=0.03)
    assert np.mean([d.grayscale for d in draws]) == pytest.approx(0.2, abs=0.03)
    assert np.mean([d.sigma is not None for d in draws]) == pytest.approx(0.5, abs=0.03)
    sigmas = [d.sigma for d in draws if d.sigma is not None]
    assert 0.1 <= min(sigmas) and max(sigmas) <= 2.0
    factors = np.array([d.jitter[1:] for d in draws if d.jitter is not None])
    assert factors[:, :3].min() >= 0.6 and factors[:, :3].max() <= 1.4
    assert np.abs(factors[:, 3]).max() <= 0.1 and len({d.jitter[0] for d in draws if d.jitter}) == 24
    areas = [d.box[2] * d.box[3] / (40 * 56) for d in draws]
    assert 0.28 <= min(areas)  # box sides are rounded to whole pixels
    assert max(areas) <= 1.0


def test_probabilities_zero_and_one_switch_ops_off_and_on():
    torch.manual_seed(1)
    off = [ClipAugment(size=8, flip_p=0, jitter_p=0, grayscale_p=0, blur_p=0).draw(16, 16) for _ in range(50)]
    assert not any(d.flip or d.jitter or d.grayscale or d.sigma for d in off)
    on = [ClipAugment(size=8, flip_p=1, jitter_p=1, grayscale_p=1, blur_p=1).draw(16, 16) for _ in range(50)]
    assert all(d.flip and d.jitter and d.grayscale and d.sigma for d in on)


def test_grayscale_draw_gives_equal_channels_and_flip_mirrors():
    clip = _frames(3, 4)
    aug = ClipAugment(size=32, crop_scale=(1.0, 1.0), ratio=(56 / 40, 56 / 40))
    d = aug.draw(40, 56)
    video = torch.from_numpy(clip).permute(0, 3, 1, 2)
    gray = aug.apply(video, dataclasses.replace(d, flip=False, jitter=None, grayscale=True, sigma=None))
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    plain = aug.apply(video, dataclasses.replace(d, flip=False, jitter=None, grayscale=False, sigma=None))
    flipped = aug.apply(video, dataclasses.replace(d, flip=True, jitter=None, grayscale=False, sigma=None))
    assert torch.equal(flipped, plain.flip(-1))


def test_separable_blur_matches_torchvision_gaussian_blur():
    from torchvision.transforms.v2 import functional as F

    from vi2clr.data.transforms import _separable_blur

    x = torch.rand(3, 3, 20, 24)
    assert torch.allclose(_separable_blur(x, 7, 1.3), F.gaussian_blur(x, [7, 7], [1.3, 1.3]), atol=1e-5)


@pytest.mark.parametrize("size,frames,grayscale_p", [(24, 5, 0.0), (48, 8, 1.0)])
def test_output_shape_dtype_and_range(size, frames, grayscale_p):
    torch.manual_seed(2)
    aug = ClipAugment(size=size, jitter_p=1.0, grayscale_p=grayscale_p, blur_p=1.0)
    clip = _frames(4, frames)
    u8 = aug.augment_uint8(clip)
    assert u8.shape == (frames, 3, size, size) and u8.dtype == torch.uint8
    f = aug.augment_float(clip)
    assert f.dtype == torch.float32 and f.min() >= 0.0 and f.max() <= 1.0
    out = aug(clip)
    lo = ((0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)).min()
    hi = ((1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)).max()
    assert out.shape == (3, frames, size, size) and out.dtype == torch.float32
    assert lo - 1e-5 <= out.min() and out.max() <= hi + 1e-5


def test_bad_probability_and_shape_are_rejected():
    with pytest.raises(ValueError, match="blur_p must be in"):
        ClipAugment(blur_p=1.5)
    with pytest.raises(ValueError, match=r"expected a clip of shape \(T, H, W, 3\)"):
        ClipAugment(size=8)(np.zeros((4, 8, 8), np.uint8))


def test_image_eval_transform_gives_a_plain_tensor():
    from PIL import Image

    out = image_eval_transform(32)(Image.fromarray(_frames(0, 1)[0]))
    assert type(out) is torch.Tensor and out.shape == (3, 32, 32)


@pytest.mark.parametrize("hue", [0.05, -0.1, 0.5])
def test_hue_shift_equals_torchvision_adjust_hue(hue):
    from torchvision.transforms.v2 import functional as F

    from vi2clr.data.transforms import _adjust_hue

    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    x[0, :, 0, 0] = 0.5  # grey pixel: zero chroma
    x[1, :, 0, 0] = torch.tensor([0.2, 0.7, 0.7])  # tie between two maxima
    assert torch.allclose(_adjust_hue(x, hue), F.adjust_hue(x, hue), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_augmentation_on_the_gpu_matches_the_cpu_for_the_same_draw():
    aug = ClipAugment(size=32, jitter_p=1.0, grayscale_p=0.0, blur_p=1.0)
    video = torch.from_numpy(_frames(5, 4)).permute(0, 3, 1, 2)
    torch.manual_seed(3)
    d = aug.draw(40, 56)
    cpu, gpu = aug.apply(video, d), aug.apply(video.cuda(), d)
    assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, atol=2e-2)
