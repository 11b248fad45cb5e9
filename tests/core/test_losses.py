"""Losses against plain Python loops (values and gradients), invariances, special cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vi2clr.losses import LossWeights, center_nce, info_nce, multi_positive_nce, total_loss

TAU = 0.08


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


# ---------------------------------------------------------------- loop references


def loop_info_nce(q, k, tau):
    total = 0.0
    for i in range(q.shape[0]):
        den = sum(torch.exp(q[i] @ k[j] / tau) for j in range(k.shape[0]))
        total = total - torch.log(torch.exp(q[i] @ k[i] / tau) / den)
    return total / q.shape[0]


def loop_multi_positive(z1, z2, groups, tau):
    b = z1.shape[0]
    views = [z1[i] for i in range(b)] + [z2[i] for i in range(b)]
    sample = list(range(b)) * 2
    total = 0.0
    for a in range(2 * b):
        pos, den = 0.0, 0.0
        for c in range(2 * b):
            if c == a:
                continue
            e = torch.exp(views[a] @ views[c] / tau)
            den = den + e
            ga, gc = int(groups[sample[a]]), int(groups[sample[c]])
            if sample[c] == sample[a] or (ga >= 0 and ga == gc):
                pos = pos + e
        total = total - torch.log(pos / den)
    return total / (2 * b)


def loop_center_nce(z, s, c, phi):
    total = 0.0
    for i in range(z.shape[0]):
        den = sum(torch.exp(z[i] @ c[k] / phi[k]) for k in range(c.shape[0]))
        total = total - torch.log(torch.exp(z[i] @ c[s[i]] / phi[s[i]]) / den)
    return total / z.shape[0]


def grads(fn, *tensors):
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    return value.detach(), torch.autograd.grad(value, leaves)


def assert_same_value_and_grad(fn, ref, *tensors):
    v1, g1 = grads(fn, *tensors)
    v2, g2 = grads(ref, *tensors)
    torch.testing.assert_close(v1, v2, rtol=1e-10, atol=1e-10)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------- InfoNCE


@pytest.mark.parametrize("seed", [0, 1])
def test_info_nce_matches_loop(seed):
    q, k = unit(6, 5, seed=seed), unit(6, 5, seed=seed + 10)
    assert_same_value_and_grad(lambda a, b: info_nce(a, b, TAU), lambda a, b: loop_info_nce(a, b, TAU), q, k)


def test_info_nce_permutation_invariant():
    q, k = unit(8, 4), unit(8, 4, seed=3)
    p = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(info_nce(q, k), info_nce(q[p], k[p]))


# ---------------------------------------------------------------- multi-positive NCE


@pytest.mark.parametrize(
    "groups",
    [
        [0, 0, 1, 1, 1, 2],  # clusters of 2, 3, 1
        [-1, 3, 3, -1, 5, -1],  # -1 = no cluster
        [0, 1, 2, 3, 4, 5],  # every sample alone
        [7, 7, 7, 7, 7, 7],  # one cluster
    ],
)
def test_multi_positive_nce_matches_loop(groups):
    g = torch.tensor(groups)
    z1, z2 = unit(6, 5, seed=1), unit(6, 5, seed=2)
    assert_same_value_and_grad(
        lambda a, b: multi_positive_nce(a, b, g, TAU), lambda a, b: loop_multi_positive(a, b, g, TAU), z1, z2
    )


def test_multi_positive_nce_permutation_invariant():
    z1, z2 = unit(10, 4, seed=4), unit(10, 4, seed=5)
    g = torch.tensor([0, 0, 1, 2, 2, 2, -1, 3, 3, 4])
    p = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(multi_positive_nce(z1, z2, g), multi_positive_nce(z1[p], z2[p], g[p]))


def test_multi_positive_nce_singletons_is_nt_xent():
    """Every sample in its own cluster ⇒ exactly SimCLR's NT-Xent over the 2B views:
    mean over rows of CE(z @ z.T / τ with the diagonal removed, target = the other view)."""
    b = 7
    z1, z2 = unit(b, 6, seed=6), unit(b, 6, seed=7)
    z = torch.cat([z1, z2])
    logits = (z @ z.T / TAU).masked_fill(torch.eye(2 * b, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    nt_xent = F.cross_entropy(logits, target)
    for groups in (torch.arange(b), torch.full((b,), -1)):
        torch.testing.assert_close(multi_positive_nce(z1, z2, groups), nt_xent)


def test_multi_positive_nce_is_stable_at_small_tau():
    z1, z2 = unit(4, 3, seed=8).float(), unit(4, 3, seed=9).float()
    assert math.isfinite(float(multi_positive_nce(z1, z2, torch.tensor([0, 0, 1, 1]), tau=1e-3)))


# ---------------------------------------------------------------- CenterNCE


def _center_inputs(b=6, k=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    z, c = unit(b, d, seed=seed), unit(k, d, seed=seed + 1)
    s = torch.randint(0, k, (b,), generator=g)
    phi = 0.05 + 0.1 * torch.rand(k, generator=g, dtype=torch.float64)
    return z, s, c, phi


def test_center_nce_matches_loop():
    z, s, c, phi = _center_inputs()
    assert_same_value_and_grad(
        lambda zz, cc, pp: center_nce(zz, s, cc, pp), lambda zz, cc, pp: loop_center_nce(zz, s, cc, pp), z, c, phi
    )


def test_center_nce_equal_phi_is_cross_entropy():
    z, s, c, _ = _center_inputs(seed=2)
    phi = torch.full((c.shape[0],), TAU, dtype=torch.float64)
    torch.testing.assert_close(center_nce(z, s, c, phi), F.cross_entropy(z @ c.T / TAU, s))


def test_center_nce_permutation_invariant():
    z, s, c, phi = _center_inputs(b=9, seed=3)
    p = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(center_nce(z, s, c, phi), center_nce(z[p], s[p], c, phi))


def test_center_nce_sampled_negatives():
    z, s, c, phi = _center_inputs(b=16, k=40, seed=4)
    full = center_nce(z, s, c, phi)
    # enough negatives requested ⇒ all centroids are used
    torch.testing.assert_close(center_nce(z, s, c, phi, num_negatives=39), full)
    sub = lambda seed: center_nce(z, s, c, phi, num_negatives=5, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(sub(0), sub(0))  # reproducible
    assert not torch.equal(sub(0), sub(1))  # a fresh draw per generator state
    # a subset of the denominator (own centroid always kept) can only lower the loss
    assert float(sub(0)) < float(full)


def test_center_nce_rejects_bad_assignments():
    z, s, c, phi = _center_inputs()
    with pytest.raises(ValueError, match="assignments must lie in"):
        center_nce(z, s + 10, c, phi)


# ---------------------------------------------------------------- total loss / ablations


def test_total_loss_ablation_rows():
    b = 6
    zs = {name: (unit(b, 8, seed=i), unit(b, 8, seed=i + 10)) for i, name in enumerate("vij")}
    s = torch.tensor([0, 0, 1, 1, 2, 2])
    c, phi = unit(3, 8, seed=20), torch.full((3,), TAU, dtype=torch.float64)
    kw = dict(assignments=s, centroids=c, phi=phi)
    full = total_loss(zs["v"], zs["i"], zs["j"], LossWeights.ablation("full"), **kw)
    assert set(full) == {"video", "image", "center", "total"}
    torch.testing.assert_close(full["total"], full["video"] + full["image"] + full["center"])
    expect_c = 0.5 * (center_nce(zs["j"][0], s, c, phi) + center_nce(zs["j"][1], s, c, phi))
    torch.testing.assert_close(full["center"], expect_c)
    torch.testing.assert_close(full["video"], multi_positive_nce(*zs["v"], s))
    for row, key in [("image_only", "image"), ("video_only", "video"), ("center_only", "center")]:
        out = total_loss(zs["v"], zs["i"], zs["j"], LossWeights.ablation(row), **kw)
        assert set(out) == {key, "total"}
        torch.testing.assert_close(out["total"], full[key])
    weighted = total_loss(zs["v"], zs["i"], zs["j"], LossWeights(center=2.0, video=0.5, image=0.0), **kw)
    torch.testing.assert_close(weighted["total"], 2 * full["center"] + 0.5 * full["video"])


def test_total_loss_needs_clustering_for_center_term():
    z = (unit(4, 3), unit(4, 3, seed=1))
    with pytest.raises(ValueError, match="CenterNCE is enabled"):
        total_loss(z, z, z, LossWeights())
    out = total_loss(z, z, z, LossWeights(use_center=False))  # warm-up: instance discrimination
    torch.testing.assert_close(out["video"], multi_positive_nce(*z, torch.arange(4)))
