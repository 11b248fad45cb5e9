"""Connected components of an undirected graph as torch ops, on any device.

Hand-written because neither torch nor torchvision has graph components; scipy's
``connected_components`` runs on the host only. The algorithm is min-label hooking with full
pointer jumping (Shiloach–Vishkin style):

    parent(v) = v
    repeat
        for every edge (u, v): r_u = parent(u), r_v = parent(v)
            parent(max(r_u, r_v)) ← min(parent(max(r_u, r_v)), min(r_u, r_v))   (scatter amin)
        parent ← parent(parent) until it no longer changes                       (pointer jumping)
    until parent no longer changes

``parent(v) ≤ v`` always holds, so every tree's root is its smallest node and, at the fixed
point, every edge has both ends under one root: the roots are the components' smallest nodes.
Labels are the ranks of those roots, i.e. components are numbered in order of their smallest
node — the order scipy's ``connected_components`` uses, so even the label values agree.
"""

from __future__ import annotations

import torch


def _compress(parent: torch.Tensor) -> torch.Tensor:
    while True:
        nxt = parent[parent]
        if torch.equal(nxt, parent):
            return parent
        parent = nxt


def connected_components(n: int, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Components of the undirected graph on ``n`` nodes with edges ``rows[e] — cols[e]``.

    Args:
        n: number of nodes.
        rows, cols: ``(E,)`` int64 node indices on the device to compute on.

    Returns:
        ``(labels (n,) int64 on that device, number of components)``; components are numbered
        0 … k−1 in increasing order of their smallest node.
    """
    device = rows.device
    parent = torch.arange(n, device=device)
    rows = rows.to(torch.long)
    cols = cols.to(device=device, dtype=torch.long)
    while True:
        ru, rv = parent[rows], parent[cols]
        lo, hi = torch.minimum(ru, rv), torch.maximum(ru, rv)
        new = parent.scatter_reduce(0, hi, lo, reduce="amin")
        new = _compress(new)
        if torch.equal(new, parent):
            break
        parent = new
    roots, labels = torch.unique(parent, sorted=True, return_inverse=True)
    return labels, int(roots.numel())
