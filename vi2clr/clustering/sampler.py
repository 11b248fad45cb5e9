"""Cluster-aware batches: every batch is made of groups of M samples from one cluster."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class ClusterAwareBatchSampler(Sampler[list[int]]):
    """Batch sampler whose batches are ``batch_size / M`` groups of M same-cluster samples.

    Per epoch (deterministic in ``(seed, epoch)``, set with :meth:`set_epoch`):

    1. the members of every cluster are shuffled and cut into groups of M; a last group with
       fewer than M members is **padded by resampling from its own cluster** (without
       repetition when the cluster has at least M members, with repetition otherwise — a
       singleton cluster yields M copies of its sample), so every sample is visited once per
       epoch plus the padding;
    2. the groups are shuffled and packed into batches;
    3. batch b goes to rank ``b mod num_replicas``. With ``drop_last=True`` the groups that do
       not fill a whole round of ``num_replicas`` batches are dropped; otherwise the group
       list wraps around to fill it. Every rank gets the same number of full batches, and the
       ranks' batches are disjoint within an epoch (up to padding / wrap-around).

    Args:
        assignments: cluster id of every dataset index ``(N,)``, non-negative ints.
        batch_size: samples per batch per rank; a multiple of ``group_size``.
        group_size: M, samples per cluster group (M = 1 gives plain shuffled batches).
        num_replicas, rank: the DDP world size and this process's rank.
        seed: base seed shared by all ranks.
        drop_last: see step 3.
    """

    def __init__(
        self,
        assignments: np.ndarray | torch.Tensor,
        batch_size: int,
        group_size: int,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        if isinstance(assignments, torch.Tensor):
            assignments = assignments.detach().cpu().numpy()
        a = np.asarray(assignments).reshape(-1)
        if a.size == 0 or not np.issubdtype(a.dtype, np.integer) or a.min() < 0:
            raise ValueError("assignments must be a non-empty (N,) array of non-negative integer cluster ids")
        if group_size < 1 or batch_size < 1 or batch_size % group_size:
            raise ValueError(f"batch_size ({batch_size}) must be a positive multiple of group_size ({group_size})")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        order = np.argsort(a, kind="stable")
        _, starts = np.unique(a[order], return_index=True)
        self._clusters = np.split(order, starts[1:])
        self.batch_size = int(batch_size)
        self.group_size = int(group_size)
        self.groups_per_batch = self.batch_size // self.group_size
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self._num_groups = sum(math.ceil(len(c) / self.group_size) for c in self._clusters)
        per_round = self.groups_per_batch * self.num_replicas
        rounds = self._num_groups // per_round if drop_last else math.ceil(self._num_groups / per_round)
        if rounds == 0:
            raise ValueError(
                f"only {self._num_groups} groups of {self.group_size}: not enough for one batch of {self.batch_size} "
                f"on each of {self.num_replicas} rank(s); lower batch_size or use drop_last=False"
            )
        self._batches_per_rank = rounds

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; the batches are a function of ``(seed, epoch)``."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.seed = int(state["seed"])

    def __len__(self) -> int:
        return self._batches_per_rank

    def _groups(self, rng: np.random.Generator) -> list[np.ndarray]:
        m = self.group_size
        groups = []
        for members in self._clusters:
            perm = rng.permutation(members)
            for start in range(0, len(perm), m):
                g = perm[start : start + m]
                if len(g) < m:
                    if len(members) >= m:
                        pad = rng.choice(perm[:start], m - len(g), replace=False)
                    else:
                        pad = rng.choice(members, m - len(g), replace=True)
                    g = np.concatenate([g, pad])
                groups.append(g)
        return [groups[i] for i in rng.permutation(len(groups))]

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        groups = self._groups(rng)
        need = self._batches_per_rank * self.num_replicas * self.groups_per_batch
        while len(groups) < need:
            groups = groups + groups[: need - len(groups)]
        groups = groups[:need]
        gpb = self.groups_per_batch
        for b in range(self.rank, self._batches_per_rank * self.num_replicas, self.num_replicas):
            yield np.concatenate(groups[b * gpb : (b + 1) * gpb]).tolist()
