"""Temporally consistent augmentation: one random draw per clip, applied to the whole clip tensor.

A clip ``(T, H, W, 3)`` uint8 becomes a tensor ``(T, 3, H, W)``. `ClipAugment` draws its
parameters once per call (`ClipAugment.draw`: crop box, flip coin, jitter coin + factors + op
order, grayscale coin, blur coin + sigma) and applies them to all T frames at once with
batched torchvision ``v2.functional`` / torch ops (`ClipAugment.apply`), never frame by frame;
the next call draws fresh parameters. The evaluation transforms use ``v2`` transforms.

Outputs are float32, normalised with the ImageNet mean/std: video ``(3, T, S, S)``, image
``(3, S, S)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import RandomResizedCrop, v2
from torchvision.transforms.v2 import functional as F

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ClipAugment",
    "ClipDraw",
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


@dataclass(frozen=True)
class ClipDraw:
    """One random draw of the clip augmentation, shared by all T frames of a clip.

    ``box``: crop (top, left, height, width) in source pixels; ``flip``: mirror horizontally;
    ``jitter``: ``None`` (not applied) or ``(order, brightness, contrast, saturation, hue)`` with
    ``order`` a permutation of ``(0, 1, 2, 3)`` naming the ops in that sequence; ``grayscale``;
    ``sigma``: Gaussian blur sigma or ``None`` (not applied).
    """

    box: tuple[int, int, int, int]
    flip: bool
    jitter: tuple[tuple[int, ...], float, float, float, float] | None
    grayscale: bool
    sigma: float | None


class ClipAugment:
    """Random spatial augmentation shared by all frames of a clip (SimCLR-style colour, crop area ≥ 0.3).

    One call = one `draw` (torch's CPU RNG) applied to the whole clip tensor ``(T, 3, H, W)`` by
    batched tensor ops, in this order: random resized crop (uint8, antialiased bilinear),
    horizontal flip, then in float32 [0, 1]: colour jitter (its four ops in a random order, as
    ``v2.ColorJitter``), grayscale, separable Gaussian blur, ImageNet normalisation. The draws
    follow torchvision's ``v2`` ops (``RandomResizedCrop.get_params``; jitter factors uniform in
    ``[max(0, 1 - b), 1 + b]`` and hue in ``[-h, h]``; sigma uniform in ``blur_sigma``); unlike
    ``v2`` on uint8, nothing is rounded to uint8 between the colour ops.

    Args:
        size: output side S.
        crop_scale, ratio: RandomResizedCrop area fraction and aspect range.
        flip_p: horizontal flip probability.
        jitter_strength: SimCLR colour strength s → ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s),
            applied with ``jitter_p``; ``jitter`` (brightness, contrast, saturation, hue) overrides it.
        grayscale_p: RandomGrayscale probability.
        blur_p, blur_sigma, blur_kernel_frac: GaussianBlur probability, sigma range and kernel
            size as a fraction of S (rounded up to odd, at least 3).

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
        self.crop_scale, self.ratio = (float(crop_scale[0]), float(crop_scale[1])), (float(ratio[0]), float(ratio[1]))
        self.flip_p, self.jitter_p, self.grayscale_p, self.blur_p = flip_p, jitter_p, grayscale_p, blur_p
        st = jitter_strength
        self.brightness, self.contrast, self.saturation, self.hue = (
            jitter if jitter is not None else (0.8 * st, 0.8 * st, 0.8 * st, 0.2 * st)
        )
        self.blur_sigma = (float(blur_sigma[0]), float(blur_sigma[1]))
        self.kernel_size = _odd_kernel(size, blur_kernel_frac)
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def draw(self, height: int, width: int) -> ClipDraw:
        """One parameter draw for a clip of frames ``height × width`` (torch's CPU RNG)."""
        top, left, h, w = RandomResizedCrop.get_params(torch.empty(1, height, width), list(self.crop_scale), list(self.ratio))
        flip = bool(torch.rand(()) < self.flip_p)
        jitter = None
        if torch.rand(()) < self.jitter_p:
            order = tuple(int(k) for k in torch.randperm(4))
            b, c, s = (float(torch.empty(()).uniform_(max(0.0, 1 - f), 1 + f)) for f in (self.brightness, self.contrast, self.saturation))
            hue = float(torch.empty(()).uniform_(-self.hue, self.hue))
            jitter = (order, b, c, s, hue)
        grayscale = bool(torch.rand(()) < self.grayscale_p)
        sigma = float(torch.empty(()).uniform_(*self.blur_sigma)) if torch.rand(()) < self.blur_p else None
        return ClipDraw((int(top), int(left), int(h), int(w)), flip, jitter, grayscale, sigma)

    def apply(self, video: torch.Tensor, d: ClipDraw) -> torch.Tensor:
        """uint8 ``(T, 3, H, W)`` and a draw → float32 ``(T, 3, S, S)`` in [0, 1], not normalised."""
        top, left, h, w = d.box
        x = F.resized_crop(video, top, left, h, w, [self.size, self.size], antialias=True)
        if d.flip:
            x = x.flip(-1)
        x = x.to(torch.float32).div_(255.0)
        if d.jitter is not None:
            order, b, c, s, hue = d.jitter
            for k in order:
                if k == 0 and b != 1.0:
                    x = F.adjust_brightness(x, b)
                elif k == 1 and c != 1.0:
                    x = F.adjust_contrast(x, c)
                elif k == 2 and s != 1.0:
                    x = F.adjust_saturation(x, s)
                elif k == 3 and hue != 0.0:
                    x = _adjust_hue(x, hue)
        if d.grayscale:
            x = F.rgb_to_grayscale(x, num_output_channels=3)
        if d.sigma is not None:
            x = _separable_blur(x, self.kernel_size, d.sigma)
        return x

    def augment_float(self, clip: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` → augmented float ``(T, 3, S, S)`` in [0, 1] (one parameter draw)."""
        video = to_video_tensor(clip).as_subclass(torch.Tensor)
        return self.apply(video, self.draw(video.shape[-2], video.shape[-1]))

    def augment_uint8(self, clip: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` → augmented uint8 ``(T, 3, S, S)`` (one parameter draw)."""
        return (self.augment_float(clip) * 255.0).round().to(torch.uint8)

    def __call__(self, clip: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` → normalised float ``(3, T, S, S)``: ``(x - mean) / std`` per channel."""
        x = self.augment_float(clip)
        x = (x - self._mean.to(x.device)) / self._std.to(x.device)
        return x.permute(1, 0, 2, 3).contiguous()

    def __repr__(self) -> str:
        return (
            f"ClipAugment(size={self.size}, crop_scale={self.crop_scale}, ratio={self.ratio}, flip_p={self.flip_p}, "
            f"jitter_p={self.jitter_p}, jitter=({self.brightness}, {self.contrast}, {self.saturation}, {self.hue}), "
            f"grayscale_p={self.grayscale_p}, blur_p={self.blur_p}, blur_sigma={self.blur_sigma}, kernel={self.kernel_size})"
        )


def _gaussian_kernel1d(kernel_size: int, sigma: float) -> torch.Tensor:
    """``(k,)`` weights ``exp(-x² / (2 σ²))`` normalised to sum 1, at ``x = -(k-1)/2 … (k-1)/2`` (as torchvision)."""
    x = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
    return torch.softmax(-0.5 * (x / sigma) ** 2, dim=0)


def _separable_blur(x: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Gaussian blur of float ``(N, C, H, W)`` with reflect padding: ``y = k_h * (k_w * x)``.

    Hand-written: torchvision's ``gaussian_blur`` convolves with the full k × k kernel (k² products
    per pixel) and single-channel ``conv2d`` is slow on CPU; here each 1-D pass is k in-place
    multiply-adds of shifted views (2k per pixel). Taps with weight < 1e-6 are skipped (a small
    sigma has few taps that matter), which changes a pixel in [0, 1] by at most k · 1e-6.
    """
    n, c, h, w = x.shape
    weights = _gaussian_kernel1d(kernel_size, sigma).tolist()
    taps = [(i, wt) for i, wt in enumerate(weights) if wt >= 1e-6]
    pad = kernel_size // 2
    y = torch.nn.functional.pad(x.reshape(n * c, h, w), (pad, pad, pad, pad), mode="reflect")
    (i0, w0), rest = taps[0], taps[1:]
    rows = torch.mul(y[:, :, i0 : i0 + w], w0)  # (n c, h + 2 pad, w): blurred along W
    for i, wt in rest:
        rows.add_(y[:, :, i : i + w], alpha=wt)
    out = torch.mul(rows[:, i0 : i0 + h], w0)
    for i, wt in rest:
        out.add_(rows[:, i : i + h], alpha=wt)
    return out.reshape(n, c, h, w)


def _adjust_hue(x: torch.Tensor, hue: float) -> torch.Tensor:
    """HSV hue shift of float ``(N, 3, H, W)`` in [0, 1] by ``hue`` turns, keeping V = max and C = max − min.

    ``H₆ = ((g − b)/C mod 6 | (b − r)/C + 2 | (r − g)/C + 4)`` for max = r | g | b, shifted by
    ``6·hue`` mod 6; then ``r = m + C·clamp(|H₆ − 3| − 1, 0, 1)``, ``g = m + C·clamp(2 − |H₆ − 2|, 0, 1)``,
    ``b = m + C·clamp(2 − |H₆ − 4|, 0, 1)`` with ``m = V − C`` (the textbook HSV → RGB). Hand-written: the same result as
    torchvision's ``adjust_hue`` (tested) without its full RGB → HSV → RGB round trip, which was
    the largest cost of the old augmentation.
    """
    r, g, b = x.unbind(1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    c = maxc - minc
    inv = torch.where(c > 0, c, 1.0).reciprocal_()
    h6 = torch.where(maxc == r, g - b, torch.where(maxc == g, (b - r).add_(c, alpha=2), (r - g).add_(c, alpha=4)))
    h6 = torch.remainder(h6.mul_(inv).add_(6.0 * hue), 6.0)
    # (r, g, b) fractions of the chroma as functions of H₆ ∈ [0, 6): the same as V − C·clamp(min(k, 4 − k), 0, 1)
    out = torch.empty_like(x)
    torch.sub(h6, 3.0, out=out[:, 0]).abs_().sub_(1.0)
    torch.sub(h6, 2.0, out=out[:, 1]).abs_().neg_().add_(2.0)
    torch.sub(h6, 4.0, out=out[:, 2]).abs_().neg_().add_(2.0)
    return out.clamp_(0.0, 1.0).mul_(c.unsqueeze(1)).add_(minc.unsqueeze(1))


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
