"""The clustering pass: clean inputs (undecodable items left out), per-stream features, φ modes,
CenterNCE diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vi2clr.clustering import center_nce_diagnostics, cluster_concentration, finch, select_partition
from vi2clr.config import ClusteringParams
from vi2clr.losses import center_nce
from vi2clr.models import Vi2CLR, build_encoder
from vi2clr.train.cluster_pass import cluster_features, extract_features

TAU = 0.08


def blobs(n=300, k=6, d=16, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((k, d))
    return torch.from_numpy((c[rng.integers(0, k, n)] + 0.4 * rng.standard_normal((n, d))).astype(np.float32))


# ---------------------------------------------------------------- clean inputs


@pytest.mark.parametrize("method", ["finch", "kmeans"])
def test_undecodable_rows_stay_out_of_clustering(method):
    z = blobs()
    bad = torch.tensor([5, 40, 41, 200, 299])
    dirty = z.clone()
    dirty[bad] = 0  # what extraction writes for a video nobody could decode
    cfg = ClusteringParams(method=method, group_size=4)
    state = cluster_features(dirty, cfg, tau=TAU, seed=0)
    assert (state.assignments[bad] == -1).all()
    good = torch.ones(len(z), dtype=torch.bool)
    good[bad] = False
    assert (state.assignments[good] >= 0).all()
    # exactly the clustering of the decodable rows alone: no cluster of zero rows, same centroids and φ
    clean = cluster_features(z[good], cfg, tau=TAU, seed=0)
    torch.testing.assert_close(state.assignments[good], clean.assignments)
    torch.testing.assert_close(state.centroids, clean.centroids)
    torch.testing.assert_close(state.phi, clean.phi)
    # an explicit mask gives the same, and the device path too
    explicit = cluster_features(z, cfg, tau=TAU, seed=0, valid=good, device="cpu")
    torch.testing.assert_close(explicit.assignments, state.assignments)


def test_zero_rows_used_to_form_their_own_cluster():
    # the failure this guards against: FINCH on zero rows puts them all in one cluster
    z = blobs()
    z[:8] = 0
    labels = select_partition(finch(F.normalize(z, dim=1)), 1)
    assert len(set(labels[:8].tolist())) == 1


def test_kmeans_torch_and_sklearn_impls_agree_on_separated_data():
    z = blobs(n=240, k=4, seed=3)
    a = cluster_features(z, ClusteringParams(method="kmeans", kmeans_k=4), tau=TAU, seed=0).assignments.numpy()
    b = cluster_features(z, ClusteringParams(method="kmeans", kmeans_k=4, kmeans_impl="sklearn"), tau=TAU,
                         seed=0).assignments.numpy()
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(a, b) == 1.0


# ---------------------------------------------------------------- per-stream extraction


class _Loader:
    """Centre-pass batches of a 7-video dataset in which video 3 could not be decoded."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.batches = []
        idx = [i for i in range(7) if i != 3]
        for chunk in (idx[:4], idx[4:]):
            self.batches.append({"video": torch.randn(len(chunk), 3, 4, 16, 16, generator=g),
                                 "image": torch.randn(len(chunk), 3, 16, 16, generator=g),
                                 "index": torch.tensor(chunk)})
        self.batches.append({"index": torch.zeros(0, dtype=torch.long)})  # a batch emptied at collate

    def __iter__(self):
        return iter(self.batches)


@pytest.mark.parametrize("stream", ["joint", "video", "image"])
def test_extract_features_returns_the_stream_and_a_valid_mask(stream):
    torch.manual_seed(0)
    model = Vi2CLR(build_encoder("tiny3d", width=4), build_encoder("tiny2d", width=4), proj_dim=8)
    loader = _Loader()
    z, valid = extract_features(model, loader, torch.device("cpu"), 7, stream)
    assert z.shape == (7, 8) and valid.tolist() == [True, True, True, False, True, True, True]
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        for b in loader.batches[:2]:
            want = model(b["video"], b["image"])[{"video": 0, "image": 1, "joint": 2}[stream]]
            torch.testing.assert_close(z[b["index"]], want)
    torch.testing.assert_close(z[valid].norm(dim=1), torch.ones(6))
    assert (z[3] == 0).all()
    if stream == "joint":
        torch.testing.assert_close(extract_features(model, loader, torch.device("cpu"), 7, "joint")[0], z)
    with pytest.raises(ValueError, match="stream must be"):
        extract_features(model, loader, torch.device("cpu"), 7, "audio")


# ---------------------------------------------------------------- φ modes


def test_concentration_modes():
    torch.manual_seed(0)
    z = F.normalize(blobs(n=400, k=8, seed=1), dim=1)
    s = torch.from_numpy(np.random.default_rng(0).integers(0, 12, 400))
    pcl = cluster_concentration(z, s, 12, tau=TAU)
    assert pcl.mean().item() == pytest.approx(TAU, rel=1e-5)
    torch.testing.assert_close(cluster_concentration(z, s, 12, tau=TAU, mode="shared"), torch.full((12,), TAU))
    for r in (1.05, 1.5, 2.0):
        b = cluster_concentration(z, s, 12, tau=TAU, mode="pcl_bounded", bound=r)
        torch.testing.assert_close(b, pcl.clamp(TAU / r, TAU * r))
        assert (b >= TAU / r - 1e-7).all() and (b <= TAU * r + 1e-7).all()
    # the bound binds on spread-out φ: tight vs loose clusters
    tight = torch.cat([F.normalize(torch.randn(1, 16) + 0.01 * torch.randn(50, 16), dim=1),
                       F.normalize(torch.randn(50, 16), dim=1)])
    ss = torch.cat([torch.zeros(50, dtype=torch.long), torch.ones(50, dtype=torch.long)])
    free = cluster_concentration(tight, ss, 2, tau=TAU)
    assert free.max() / free.min() > 6
    b = cluster_concentration(tight, ss, 2, tau=TAU, mode="pcl_bounded", bound=2.0)
    assert b.max() / b.min() <= 4 + 1e-5
    with pytest.raises(ValueError, match="concentration mode"):
        cluster_concentration(z, s, 12, mode="vmf")
    with pytest.raises(ValueError, match="bound"):
        cluster_concentration(z, s, 12, mode="pcl_bounded", bound=0.5)


def test_cluster_features_uses_the_concentration_param():
    z = blobs()
    shared = cluster_features(z, ClusteringParams(concentration="shared"), tau=TAU, seed=0)
    torch.testing.assert_close(shared.phi, torch.full_like(shared.phi, TAU))
    bounded = cluster_features(z, ClusteringParams(concentration="pcl_bounded", concentration_bound=1.25),
                               tau=TAU, seed=0)
    assert bounded.phi.min() >= TAU / 1.25 - 1e-7 and bounded.phi.max() <= TAU * 1.25 + 1e-7


# ---------------------------------------------------------------- CenterNCE diagnostics


def test_center_nce_diagnostics_match_the_loss_and_a_loop():
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(50, 8, generator=g), dim=1)
    c = F.normalize(torch.randn(5, 8, generator=g), dim=1)
    s = torch.randint(0, 5, (50,), generator=g)
    phi = torch.rand(5, generator=g) * 0.2 + 0.03
    d = center_nce_diagnostics(z, s, c, phi, block=7)
    assert d["center_loss_over_logk"] == pytest.approx(center_nce(z, s, c, phi).item() / math.log(5), rel=1e-5)
    logits = (z @ c.T) / phi
    loop = sum(int(logits[i].argmax()) == int(s[i]) for i in range(50)) / 50
    assert d["center_top1"] == pytest.approx(loop)
    assert (d["phi_min"], d["phi_max"]) == (pytest.approx(phi.min().item()), pytest.approx(phi.max().item()))
    assert d["phi_median"] == pytest.approx(phi.median().item())
    # the failure mode: one tiny φ pulls every sample's top logit to its centroid
    phi_bad = torch.full((5,), 0.08)
    phi_bad[0] = 0.01
    z_own = F.normalize(c[s] + 0.05 * torch.randn(50, 8, generator=g), dim=1)
    good = center_nce_diagnostics(z_own, s, c, torch.full((5,), 0.08))
    bad = center_nce_diagnostics(z_own, s, c, phi_bad)
    assert good["center_top1"] == 1.0 and good["center_loss_over_logk"] < 0.5
    assert bad["center_top1"] < good["center_top1"]
    # excluded items (−1) are skipped
    s2 = s.clone()
    s2[:10] = -1
    torch.testing.assert_close(torch.tensor(center_nce_diagnostics(z, s2, c, phi)["center_loss_over_logk"]),
                               torch.tensor(center_nce(z[10:], s[10:], c, phi).item() / math.log(5)))
