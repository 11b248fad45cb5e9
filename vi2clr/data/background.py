"""Foreground–background merging: a clip's moving foreground pasted onto another video's background.

The augmentation of FAME (Ding et al., CVPR 2022, "Motion-aware Contrastive Video Representation
Learning via Foreground-background Merging"), written here on decoded uint8 clips because it needs
a second video: the two clips (and so the two middle frames) of a training item get backgrounds of
two other videos, so the instance task cannot be solved by the static background they share.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def static_background(frames: np.ndarray | torch.Tensor, max_frames: int = 16) -> torch.Tensor:
    """A video's static background: the per-pixel median over up to ``max_frames`` evenly spaced
    frames, b(p) = median_t x_t(p) (a moving object is at any pixel in few frames, so it drops out).

    ``frames``: uint8 ``(N, H, W, 3)`` → uint8 ``(H, W, 3)``."""
    frames = torch.as_tensor(frames)
    if frames.shape[0] > max_frames:
        frames = frames[torch.linspace(0, frames.shape[0] - 1, max_frames).round().long()]
    return frames.median(dim=0).values


def foreground_mask(clip: np.ndarray | torch.Tensor, background: torch.Tensor, fraction: float,
                    floor: int = 12) -> torch.Tensor:
    """Where a clip differs from its video's static background: m_t(p) = 1 if d_t(p) ≥ max(q, 3 m, floor),
    with d_t(p) = max_c |x_t(p, c) − b_t(p, c)|, b_t the background matched to frame t's lighting
    (per channel, b_t = (b − mean b) · std x_t / std b + mean x_t), q the (1 − ``fraction``)
    quantile and m the median of d over the clip (most pixels are background, so 3 m is above
    their noise); then dilated by one pixel (3 × 3 max-pool) to keep the edges.

    ``clip``: uint8 ``(T, H, W, 3)``, ``background``: uint8 ``(H, W, 3)`` (`static_background` of the
    same video) → bool ``(T, H, W)``. ``floor`` (grey levels) keeps a clip without motion from
    calling its noise foreground."""
    frames, height, width, _ = clip.shape
    # (T, 3, H·W) and (3, H·W), contiguous: the per-channel statistics reduce over the last axis
    x = torch.as_tensor(clip).permute(0, 3, 1, 2).reshape(frames, 3, -1).float()
    b = background.permute(2, 0, 1).reshape(3, -1).float()
    b_mean, b_std = b.mean(dim=-1, keepdim=True), b.std(dim=-1, keepdim=True).clamp_min(1.0)
    x_mean, x_std = x.mean(dim=-1, keepdim=True), x.std(dim=-1, keepdim=True)
    lit = (b - b_mean) * (x_std / b_std) + x_mean  # (T, 3, H·W): the background under each frame's lighting
    d = (x - lit).abs().amax(dim=1).view(frames, height, width)
    flat = d.flatten()[:: max(1, d.numel() // 16384)]  # a subsample bounds the selection
    q = torch.kthvalue(flat, max(1, round((1.0 - fraction) * flat.numel()))).values
    noise = 3.0 * flat.median()  # most pixels are background: their typical d is the noise level
    mask = (d >= max(float(q), float(noise), float(floor))).float()
    return F.max_pool2d(mask[:, None], kernel_size=3, stride=1, padding=1)[:, 0] > 0


def _resized(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(image.shape[:2]) == (height, width):
        return image
    x = F.interpolate(image.permute(2, 0, 1)[None].float(), size=(height, width), mode="bilinear",
                      align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)


def merge_foreground(clip: np.ndarray | torch.Tensor, own: torch.Tensor, other: torch.Tensor,
                     fraction: float) -> torch.Tensor:
    """x̃_t = m_t ⊙ x_t + (1 − m_t) ⊙ b': the clip's foreground (`foreground_mask` against ``own``,
    its video's static background) over ``other``, another video's static background (uint8
    ``(H', W', 3)``, resized bilinearly to the clip's H × W when it differs).

    ``clip``: uint8 ``(T, H, W, 3)`` → uint8 ``(T, H, W, 3)`` (a torch tensor)."""
    x = torch.as_tensor(clip)
    height, width = x.shape[1:3]
    mask = foreground_mask(x, _resized(own, height, width), fraction)[..., None]
    return torch.where(mask, x, _resized(other, height, width)[None])
