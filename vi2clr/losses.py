"""Contrastive losses of Vi2CLR as pure functions on tensors.

All embeddings are expected to be L2-normalised already (the heads do it); nothing here
normalises. τ defaults to :data:`vi2clr.paper.TAU` (0.08, the paper's).

- :func:`info_nce` — one-directional InfoNCE (positives on the diagonal).
- :func:`multi_positive_nce` — VideoNCE / ImgNCE: two views per sample, every view of a
  sample of the same cluster is a positive (MIL-NCE form), optional cross-rank gathering.
- :func:`center_nce` — CenterNCE: each sample against all (or sampled) cluster centroids,
  with per-cluster temperature φ.
- :class:`LossWeights` / :func:`total_loss` — L = w_C·L_C + w_V·L_V + w_I·L_I with switches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

from vi2clr.paper import TAU


def info_nce(q: torch.Tensor, k: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """InfoNCE with positives on the diagonal.

    L = −(1/B) Σ_i log( exp(q_i·k_i/τ) / Σ_j exp(q_i·k_j/τ) )

    Args:
        q: queries ``(B, D)``.
        k: keys ``(B, D)``; k_i is the positive of q_i, the other k_j its negatives.
        tau: temperature τ.

    Returns:
        Scalar loss.
    """
    _check_pair(q, k)
    logits = q @ k.T / tau
    return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"expected two (B, D) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


class _GatherWithGrad(torch.autograd.Function):
    """Concatenate ``(R, D)`` from all ranks to ``(W·R, D)`` (R equal on every rank); backward sums
    the incoming gradients over ranks (all_reduce) and hands each rank the rows it contributed.

    Hand-written rather than ``torch.distributed.nn.functional.all_gather``: that function is
    deprecated as of torch 2.15 and its replacement lives in a private module
    (``torch.distributed._functional_collectives``); this one is the same math in a few lines
    and runs on gloo and NCCL alike."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = (dist.get_rank() * x.shape[0], (dist.get_rank() + 1) * x.shape[0])
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rows[0] : ctx.rows[1]]


def _gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    return _GatherWithGrad.apply(x)


def _gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def _pad_rows(x: torch.Tensor, rows: int, value: float = 0) -> torch.Tensor:
    """``x`` ``(n, ...)`` padded at the end to ``(rows, ...)`` with ``value`` (keeps the graph)."""
    extra = rows - x.shape[0]
    if extra == 0:
        return x
    return torch.cat([x, x.new_full((extra, *x.shape[1:]), value)], dim=0)


def gather_unequal(
    z1: torch.Tensor, z2: torch.Tensor, groups: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The global batch from every rank's possibly unequal (even empty) local batch.

    Every rank exchanges its size b_r (all_gather), pads its views to max_r b_r (zeros) and its
    group ids (−1), all_gathers the views with gradient and the ids without, and drops the padded
    rows, so the result is exactly the concatenation of the ranks' batches in rank order. Every
    rank runs the same three collectives whatever its b_r, so ranks never fall out of step.

    Args:
        z1, z2: this rank's views ``(b_r, D)``.
        groups: this rank's group ids ``(b_r,)`` long.

    Returns:
        ``(all1, all2, all_groups, sizes)``: ``(N, D)``, ``(N, D)``, ``(N,)`` with N = Σ_r b_r,
        and ``sizes`` ``(W,)`` long (b_r of every rank).
    """
    b = z1.shape[0]
    sizes = _gather_no_grad(torch.tensor([b], device=z1.device, dtype=torch.long))
    longest = int(sizes.max())
    world = sizes.shape[0]
    valid = (torch.arange(longest, device=z1.device)[None, :] < sizes[:, None]).reshape(world * longest)
    all1 = _gather_with_grad(_pad_rows(z1, longest))[valid]
    all2 = _gather_with_grad(_pad_rows(z2, longest))[valid]
    all_groups = _gather_no_grad(_pad_rows(groups, longest, -1))[valid]
    return all1, all2, all_groups, sizes


def multi_positive_nce(
    z1: torch.Tensor,
    z2: torch.Tensor,
    groups: torch.Tensor,
    tau: float = TAU,
    gather: bool = False,
) -> torch.Tensor:
    """Multi-positive (MIL-NCE form) contrastive loss over two views — VideoNCE / ImgNCE.

    The 2B views are ``z = concat(z1, z2)``; view a belongs to sample s(a) with cluster id
    g(s(a)). With self excluded, P(a) = the views b ≠ a with s(b) = s(a) (a's other view,
    always) or g(s(b)) = g(s(a)) ≥ 0; N(a) = all other views b ≠ a. Then

        L = −(1/2B) Σ_a log( Σ_{p∈P(a)} e^{z_a·z_p/τ} / Σ_{b≠a} e^{z_a·z_b/τ} ),

    computed with logsumexp. A negative group id (e.g. −1) means "no cluster": that sample's
    only positive is its own other view. When every sample is its own cluster (all ids
    distinct or −1) this is exactly the symmetric NT-Xent of SimCLR over 2B views,
    i.e. the mean over the 2B rows of cross-entropy of ``z @ z.T / τ`` (diagonal removed)
    with the other view as target.

    Args:
        z1: first views ``(B, D)``.
        z2: second views ``(B, D)`` (row i is the same sample as row i of z1).
        groups: cluster id of each sample ``(B,)`` long; −1 for none.
        tau: temperature τ.
        gather: if True and torch.distributed is initialised, views and groups are gathered
            from all ranks (:func:`gather_unequal`: local batch sizes b_r may differ, and may be
            0), so candidates — positives and negatives — come from the global batch of
            N = Σ_r b_r samples. Rank r returns its share of the global loss,

                L_r = (W / 2N) Σ_{a ∈ rank r's 2b_r anchors} ℓ_a,

            so mean_r L_r = L over the global batch (L_r is the plain local mean when all b_r
            are equal, and 0 for an empty rank). The gradient reaching a rank's views is the sum
            over ranks of their L_r's gradients (an all_reduce in the gather's backward), so
            DDP's averaging over W ranks yields exactly the gradient of the global-batch L.

    Returns:
        Scalar loss.
    """
    _check_pair(z1, z2)
    b = z1.shape[0]
    if groups.shape != (b,):
        raise ValueError(f"groups must have shape ({b},), got {tuple(groups.shape)}")
    groups = groups.to(device=z1.device, dtype=torch.long)
    ids = torch.arange(b, device=z1.device)
    anchors = torch.cat([z1, z2], dim=0)  # (2B, D)
    scale = 1.0 / max(2 * b, 1)  # turns the sum over anchors into the mean
    if gather and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        all1, all2, all_groups, sizes = gather_unequal(z1, z2, groups)
        offset = int(sizes[: dist.get_rank()].sum())
        total = all1.shape[0]
        scale = sizes.shape[0] / max(2 * total, 1)  # W / 2N
        cand = torch.cat([all1, all2], dim=0)  # (2N, D)
        cand_ids = torch.arange(total, device=z1.device).repeat(2)
        cand_groups = all_groups.repeat(2)
        anchor_ids = (ids + offset).repeat(2)
        # position of each anchor among the candidates, to exclude self
        self_pos = torch.cat([ids + offset, ids + offset + total])
    else:
        cand = anchors
        cand_ids = ids.repeat(2)
        cand_groups = groups.repeat(2)
        anchor_ids = ids.repeat(2)
        self_pos = torch.arange(2 * b, device=z1.device)
    anchor_groups = groups.repeat(2)

    logits = anchors @ cand.T / tau  # (2B, C)
    is_self = torch.zeros_like(logits, dtype=torch.bool)
    is_self[torch.arange(2 * b, device=z1.device), self_pos] = True
    same_cluster = (anchor_groups[:, None] == cand_groups[None, :]) & (anchor_groups[:, None] >= 0)
    positive = ((anchor_ids[:, None] == cand_ids[None, :]) | same_cluster) & ~is_self
    logits = logits.masked_fill(is_self, float("-inf"))
    log_pos = torch.logsumexp(logits.masked_fill(~positive, float("-inf")), dim=1)
    log_all = torch.logsumexp(logits, dim=1)
    return (log_all - log_pos).sum() * scale


def center_nce(
    z: torch.Tensor,
    assignments: torch.Tensor,
    centroids: torch.Tensor,
    phi: torch.Tensor,
    num_negatives: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """CenterNCE: contrast each sample with the centroids, cluster k at temperature φ_k.

        L_C = −(1/B) Σ_i log( exp(z_i·c_{s(i)}/φ_{s(i)}) / Σ_k exp(z_i·c_k/φ_k) )

    With ``num_negatives = n`` and K − 1 > n, the sum over k is restricted, per sample and per
    call, to its own centroid plus n negatives drawn uniformly without replacement from the
    other K − 1 centroids using ``generator``.

    Args:
        z: embeddings ``(B, D)``.
        assignments: cluster s(i) of each sample ``(B,)`` long in [0, K).
        centroids: unit-norm centroids ``(K, D)``.
        phi: concentrations φ ``(K,)``, positive.
        num_negatives: number of sampled negative centroids, or None for all.
        generator: random source for the sampling (its device is used to draw).

    Returns:
        Scalar loss.
    """
    if z.ndim != 2 or centroids.ndim != 2 or z.shape[1] != centroids.shape[1]:
        raise ValueError(f"expected z (B, D) and centroids (K, D), got {tuple(z.shape)} and {tuple(centroids.shape)}")
    k = centroids.shape[0]
    if phi.shape != (k,):
        raise ValueError(f"phi must have shape ({k},), got {tuple(phi.shape)}")
    if assignments.shape != (z.shape[0],):
        raise ValueError(f"assignments must have shape ({z.shape[0]},), got {tuple(assignments.shape)}")
    s = assignments.to(device=z.device, dtype=torch.long)
    if s.numel() and (int(s.min()) < 0 or int(s.max()) >= k):
        raise ValueError(f"assignments must lie in [0, {k}), got range [{int(s.min())}, {int(s.max())}]")
    logits = (z @ centroids.T) / phi[None, :]  # (B, K)
    if num_negatives is None or k - 1 <= num_negatives:
        return F.cross_entropy(logits, s)
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1 or None, got {num_negatives}")
    draw_device = generator.device if generator is not None else z.device
    noise = torch.rand(z.shape[0], k - 1, generator=generator, device=draw_device)
    neg = noise.topk(num_negatives, dim=1).indices.to(z.device)  # (B, n) in [0, K-1)
    neg = neg + (neg >= s[:, None]).long()  # skip each sample's own centroid
    picked = torch.cat([s[:, None], neg], dim=1)  # (B, 1 + n); column 0 is the positive
    return F.cross_entropy(logits.gather(1, picked), torch.zeros_like(s))


@dataclass(frozen=True)
class LossWeights:
    """Switch and weight per term: L = w_C·L_C + w_V·L_V + w_I·L_I (disabled terms skipped)."""

    center: float = 1.0
    video: float = 1.0
    image: float = 1.0
    use_center: bool = True
    use_video: bool = True
    use_image: bool = True

    @classmethod
    def ablation(cls, name: str) -> LossWeights:
        """Table 6 rows, named as the ``ablations`` of params.yaml: ``"full"``, ``"image_only"``,
        ``"video_only"``, ``"center_only"`` (that term only)."""
        rows = {
            "full": cls(),
            "image_only": cls(use_center=False, use_video=False),
            "video_only": cls(use_center=False, use_image=False),
            "center_only": cls(use_video=False, use_image=False),
        }
        if name not in rows:
            raise ValueError(f"unknown loss ablation {name!r}; choose one of: {', '.join(rows)}")
        return rows[name]


def total_loss(
    z_v: tuple[torch.Tensor, torch.Tensor],
    z_i: tuple[torch.Tensor, torch.Tensor],
    z_j: tuple[torch.Tensor, torch.Tensor],
    weights: LossWeights = LossWeights(),
    *,
    assignments: torch.Tensor | None = None,
    centroids: torch.Tensor | None = None,
    phi: torch.Tensor | None = None,
    tau: float = TAU,
    gather: bool = False,
    num_negatives: int | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Combine the three Vi2CLR terms.

    - ``video``  = multi_positive_nce(z_V of clip 1, z_V of clip 2, groups = assignments)  (L_V)
    - ``image``  = multi_positive_nce(z_I of frame 1, z_I of frame 2, groups = assignments)  (L_I)
    - ``center`` = ½ (center_nce(z_J of clip 1) + center_nce(z_J of clip 2))  (L_C)
    - ``total`` = Σ of the enabled terms times their weights.

    Args:
        z_v, z_i, z_j: pairs of ``(B, D)`` embeddings for the two clips of each sample.
        weights: switches and weights.
        assignments: cluster of each sample ``(B,)`` long, or None (no clustering yet: every
            sample its own cluster; CenterNCE must then be disabled).
        centroids, phi: ``(K, D)`` and ``(K,)``, required when CenterNCE is enabled.
        tau, gather: passed to :func:`multi_positive_nce`.
        num_negatives, generator: passed to :func:`center_nce`.

    Returns:
        Dict with the enabled terms (unweighted) under ``"video"``, ``"image"``, ``"center"`` (the one
        vocabulary of the loss terms: metrics, history columns and params use the same names) and ``"total"``.
    """
    if not (weights.use_center or weights.use_video or weights.use_image):
        raise ValueError("all loss terms are disabled; enable at least one of center/video/image")
    b = z_v[0].shape[0]
    groups = assignments if assignments is not None else torch.full((b,), -1, dtype=torch.long, device=z_v[0].device)
    out: dict[str, torch.Tensor] = {}
    total = z_v[0].new_zeros(())
    if weights.use_video:
        out["video"] = multi_positive_nce(z_v[0], z_v[1], groups, tau=tau, gather=gather)
        total = total + weights.video * out["video"]
    if weights.use_image:
        out["image"] = multi_positive_nce(z_i[0], z_i[1], groups, tau=tau, gather=gather)
        total = total + weights.image * out["image"]
    if weights.use_center:
        if assignments is None or centroids is None or phi is None:
            raise ValueError("CenterNCE is enabled but assignments, centroids or phi is missing")
        out["center"] = 0.5 * sum(
            center_nce(z, assignments, centroids, phi, num_negatives=num_negatives, generator=generator) for z in z_j
        )
        total = total + weights.center * out["center"]
    out["total"] = total
    return out
