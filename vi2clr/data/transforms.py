"""Temporally consistent augmentation on torchvision.transforms.v2.

A clip ``(T, H, W, 3)`` uint8 is wrapped as a ``tv_tensors.Video`` ``(T, 3, H, W)``. Every v2 op
used here draws its random parameters once per call in ``make_params`` (checked against
torchvision 0.29: RandomResizedCrop's box, RandomHorizontalFlip's and RandomGrayscale's coin,
RandomApply's coin, ColorJitter's factors *and* its random order ``fn_idx``, GaussianBlur's
sigma) and applies them to all T frames; the next call draws fresh parameters. The tests check
this behaviourally (a clip of identical frames stays a clip of identical frames).

Outputs are float32, normalised with the ImageNet mean/std: video ``(3, T, S, S)``, image
``(3, S, S)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ClipAugment",
    "ClipEval",
    "light_clip_augment",
    "image_train_transform",
    "image_eval_transform",
    "to_video_tensor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_video_tensor(clip: np.ndarray | torch.Tensor) -> tv_tensors.Video:
    """uint8 ``(T, H, W, 3)`` array or tensor → ``tv_tensors.Video`` ``(T, 3, H, W)``."""
    t = torch.from_numpy(np.ascontiguousarray(clip)) if isinstance(clip, np.ndarray) else clip
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected a clip of shape (T, H, W, 3), got {tuple(t.shape)}")
    return tv_tensors.Video(t.permute(0, 3, 1, 2))


def _normalise() -> v2.Transform:
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def _odd_kernel(size: int, fraction: float) -> int:
    k = max(3, int(round(size * fraction)))
    return k if k % 2 == 1 else k + 1


class ClipAugment:
    """Random spatial augmentation shared by all frames of a clip (SimCLR-style colour, crop area ≥ 0.3).

    Args:
        size: output side S.
        crop_scale, ratio: RandomResizedCrop area fraction and aspect range.
        flip_p: horizontal flip probability.
        jitter_strength: SimCLR colour strength s → ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s),
            applied with ``jitter_p``; ``jitter`` (brightness, contrast, saturation, hue) overrides it.
        grayscale_p: RandomGrayscale probability.
        blur_p, blur_sigma, blur_kernel_frac: GaussianBlur probability, sigma range and kernel
            size as a fraction of S (rounded up to odd).

    Call: uint8 ``(T, H, W, 3)`` → float ``(3, T, S, S)``; `augment_uint8` stops before
    normalisation and returns uint8 ``(T, 3, S, S)``.
    """

    def __init__(
        self,
        size: int = 128,
        crop_scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        jitter_strength: float = 0.5,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.5,
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        blur_kernel_frac: float = 0.1,
        jitter: tuple[float, float, float, float] | None = None,
    ) -> None:
        for name, p in (("flip_p", flip_p), ("jitter_p", jitter_p), ("grayscale_p", grayscale_p), ("blur_p", blur_p)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        self.size = size
        st = jitter_strength
        b, c, s, h = jitter if jitter is not None else (0.8 * st, 0.8 * st, 0.8 * st, 0.2 * st)
        self.spatial = v2.Compose(
            [
                v2.RandomResizedCrop(size, scale=tuple(crop_scale), ratio=tuple(ratio), antialias=True),
                v2.RandomHorizontalFlip(flip_p),
                v2.RandomApply([v2.ColorJitter(b, c, s, h)], p=jitter_p),
                v2.RandomGrayscale(grayscale_p),
                v2.RandomApply([v2.GaussianBlur(_odd_kernel(size, blur_kernel_frac), sigma=blur_sigma)], p=blur_p),
            ]
        )
        self.normalise = _normalise()

    def augment_uint8(self, clip: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` → augmented uint8 ``(T, 3, S, S)`` (one parameter draw)."""
        return self.spatial(to_video_tensor(clip)).as_subclass(torch.Tensor)

    def __call__(self, clip: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` → normalised float ``(3, T, S, S)``."""
        out = self.normalise(tv_tensors.Video(self.augment_uint8(clip)))
        return out.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()

    def __repr__(self) -> str:
        return f"ClipAugment({self.spatial})"


class ClipEval:
    """Deterministic: resize the short side to ``resize`` (default S), centre-crop S, normalise.

    Call: uint8 ``(T, H, W, 3)`` → float ``(3, T, S, S)``.
    """

    def __init__(self, size: int = 128, resize: int | None = None) -> None:
        self.size = size
        self.spatial = v2.Compose([v2.Resize(resize or size, antialias=True), v2.CenterCrop(size)])
        self.normalise = _normalise()

    def __call__(self, clip: np.ndarray | torch.Tensor) -> torch.Tensor:
        out = self.normalise(self.spatial(to_video_tensor(clip)))
        return out.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()


def light_clip_augment(size: int = 128) -> ClipAugment:
    """Light augmentation for supervised clip training: crop (area ≥ 0.5) + flip only."""
    return ClipAugment(size, crop_scale=(0.5, 1.0), jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)


def image_train_transform(size: int = 224, scale: tuple[float, float] = (0.08, 1.0)) -> v2.Transform:
    """PIL image → float ``(3, S, S)``: RandomResizedCrop + flip + normalise (linear/semi-sup training)."""
    return v2.Compose(
        [
            v2.ToImage(),
            v2.RandomResizedCrop(size, scale=scale, antialias=True),
            v2.RandomHorizontalFlip(),
            _normalise(),
            v2.ToPureTensor(),
        ]
    )


def image_eval_transform(size: int = 224, resize: int | None = None) -> v2.Transform:
    """PIL image → float ``(3, S, S)``: resize short side to ``resize`` (default ⌊S·8/7⌋), centre crop, normalise."""
    return v2.Compose(
        [v2.ToImage(), v2.Resize(resize or int(size * 8 / 7), antialias=True), v2.CenterCrop(size), _normalise(), v2.ToPureTensor()]
    )
