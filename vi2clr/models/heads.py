"""Projection heads and the joint Vi2CLR module.

Heads are ``Linear(d_in, d_hidden) → ReLU → Linear(d_hidden, d_out)`` followed by L2
normalisation (plain two-layer MLP, no BatchNorm: it behaves the same for any batch size and
in eval mode, which the per-epoch clustering pass uses). Heads are discarded for evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """``z = normalise(W2 · relu(W1 · h + b1) + b2)``: ``(B, d_in)`` → ``(B, d_out)``, ‖z‖₂ = 1."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(inplace=True), nn.Linear(d_hidden, d_out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(h), dim=1)


class Vi2CLR(nn.Module):
    """Video encoder f_V, image encoder f_I, and three heads.

    - g_V: D_V → D_V → proj_dim   (1024 → 1024 → 128 for S3D)
    - g_I: D_I → D_I → proj_dim   (2048 → 2048 → 128 for ResNet-50)
    - g_J: 2·proj_dim → 2·proj_dim → proj_dim over ``concat(z_V, z_I)`` (256 → 256 → 128),
      fed with the normalised z_V and z_I.

    The hidden width of g_V / g_I follows the encoder width. ``forward(video, image)`` with
    video ``(B, 3, T, H, W)`` and image ``(B, 3, H, W)`` returns ``(z_V, z_I, z_J)``, each
    ``(B, proj_dim)`` with unit L2 norm.
    """

    def __init__(self, video_encoder: nn.Module, image_encoder: nn.Module, proj_dim: int = 128) -> None:
        super().__init__()
        for enc, want in ((video_encoder, "video"), (image_encoder, "image")):
            if getattr(enc, "kind", None) != want:
                raise ValueError(f"Vi2CLR needs a {want} encoder, got kind={getattr(enc, 'kind', None)!r}")
        self.video_encoder = video_encoder
        self.image_encoder = image_encoder
        self.proj_dim = int(proj_dim)
        d_v, d_i = int(video_encoder.out_dim), int(image_encoder.out_dim)
        self.video_head = ProjectionHead(d_v, d_v, proj_dim)
        self.image_head = ProjectionHead(d_i, d_i, proj_dim)
        self.joint_head = ProjectionHead(2 * proj_dim, 2 * proj_dim, proj_dim)

    def forward(self, video: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """video ``(B, 3, T, H, W)``, image ``(B, 3, H, W)`` → ``(z_V, z_I, z_J)``, each ``(B, proj_dim)``."""
        if video.shape[0] != image.shape[0]:
            raise ValueError(f"video and image batches differ in size: {video.shape[0]} vs {image.shape[0]}")
        z_v = self.video_head(self.video_encoder(video))
        z_i = self.image_head(self.image_encoder(image))
        z_j = self.joint_head(torch.cat([z_v, z_i], dim=1))
        return z_v, z_i, z_j
