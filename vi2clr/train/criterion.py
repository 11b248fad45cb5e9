"""The pretraining criterion of one epoch: L = w_C·L_C + w_V·L_V + w_I·L_I
(:func:`vi2clr.losses.total_loss`), built once per epoch from the loss params and that epoch's
clustering. Terms are named ``video``, ``image``, ``center`` and ``total`` everywhere (losses,
metrics ``epoch/loss_<term>``, history columns ``loss_<term>``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vi2clr.config import LossParams
from vi2clr.losses import LossWeights, total_loss
from vi2clr.train.cluster_pass import ClusterState

TERMS = ("center", "video", "image", "total")


@dataclass(frozen=True)
class Criterion:
    weights: LossWeights
    tau: float
    gather: bool
    num_negatives: int | None
    centroids: torch.Tensor | None  # (K, D) on the training device, None in warm-up
    phi: torch.Tensor | None  # (K,)

    @classmethod
    def for_epoch(cls, lp: LossParams, state: ClusterState, device: torch.device) -> Criterion:
        """Warm-up epochs (``state.centroids is None``) are instance discrimination: CenterNCE is off
        and every sample is its own group; a CenterNCE-only run warms up with both NCE terms, since it
        has no instance term of its own."""
        clustered = state.centroids is not None
        use_video, use_image = lp.video.enabled, lp.image.enabled
        if not clustered and not (use_video or use_image):
            use_video = use_image = True
        weights = LossWeights(center=lp.center.weight, video=lp.video.weight, image=lp.image.weight,
                              use_center=lp.center.enabled and clustered, use_video=use_video, use_image=use_image)
        return cls(weights, lp.tau, lp.gather, lp.center_negatives,
                   state.centroids.to(device) if clustered else None, state.phi.to(device) if clustered else None)

    def __call__(self, z_video: torch.Tensor, z_image: torch.Tensor, z_joint: torch.Tensor, groups: torch.Tensor,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Terms for 2B views stacked as [view 1; view 2]: ``z_*`` (2B, D), ``groups`` (B,) cluster ids."""
        b = z_video.shape[0] // 2
        return total_loss((z_video[:b], z_video[b:]), (z_image[:b], z_image[b:]), (z_joint[:b], z_joint[b:]),
                          self.weights, assignments=groups, centroids=self.centroids, phi=self.phi, tau=self.tau,
                          gather=self.gather, num_negatives=self.num_negatives, generator=generator)
