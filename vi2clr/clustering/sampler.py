"""Cluster-aware batches: every batch is made of groups of M samples from one cluster."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class ClusterAwareBatchSampler(Sampler[list[int]]):
    """Batch sampler whose batches are ``batch_size / M`` groups of M samples, most from one cluster.

    Per epoch (deterministic in ``(seed, epoch)``, set with :meth:`set_epoch`):

    1. the members of every cluster with at least M members are shuffled and cut into groups of
       M; a last group with fewer than M is padded with *other* members of its cluster (without
       replacement);
    2. clusters with fewer than M members (singletons included) are shuffled as whole pieces,
       concatenated and cut into mixed groups of M (a piece stays whole unless it straddles a
       cut). Nothing is padded by repeating an item: the dataset's per-item RNG
       ``(seed, epoch, index)`` would make a repeat a bit-identical view, a false positive pair;
    3. the groups are shuffled and packed into batches; batch b goes to rank
       ``b mod num_replicas``. With ``drop_last=True`` the groups that do not fill a whole round
       of ``num_replicas`` batches are dropped; otherwise the group list wraps around to fill it;
    4. a batch never holds an index twice (:meth:`_complete`): a repeat (a padding member whose
       own group is in the same batch, or wrap-around) is replaced by another member of the same
       cluster not yet in the batch, and a batch short of ``batch_size`` (the last, partial mixed
       group) is filled with clustered items not yet in it.

    Items with a negative assignment (left out of clustering: undecodable) are never drawn.

    Args:
        assignments: cluster id of every dataset index ``(N,)``, integers; negative = excluded.
        batch_size: samples per batch per rank; a multiple of ``group_size``; at most the
            number of clustered items.
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
        if a.size == 0 or not np.issubdtype(a.dtype, np.integer) or not (a >= 0).any():
            raise ValueError("assignments must be a (N,) integer array with at least one non-negative cluster id")
        if group_size < 1 or batch_size < 1 or batch_size % group_size:
            raise ValueError(f"batch_size ({batch_size}) must be a positive multiple of group_size ({group_size})")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        valid = np.flatnonzero(a >= 0)
        if batch_size > valid.size:
            raise ValueError(f"batch_size ({batch_size}) exceeds the {valid.size} clustered items")
        order = valid[np.argsort(a[valid], kind="stable")]
        _, starts = np.unique(a[order], return_index=True)
        self._clusters = np.split(order, starts[1:])
        self._valid = valid
        self._cluster_of = {int(i): c for c, members in enumerate(self._clusters) for i in members}
        self.batch_size = int(batch_size)
        self.group_size = int(group_size)
        self.groups_per_batch = self.batch_size // self.group_size
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        m = self.group_size
        pooled = sum(len(c) for c in self._clusters if len(c) < m)
        self._num_groups = sum(math.ceil(len(c) / m) for c in self._clusters if len(c) >= m) + math.ceil(pooled / m)
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
        groups, pieces = [], []
        for members in self._clusters:
            perm = rng.permutation(members)
            if len(perm) < m:
                pieces.append(perm)
                continue
            for start in range(0, len(perm), m):
                g = perm[start : start + m]
                if len(g) < m:  # pad with other members of the cluster, each at most once
                    g = np.concatenate([g, rng.choice(perm[:start], m - len(g), replace=False)])
                groups.append(g)
        if pieces:
            pool = np.concatenate([pieces[i] for i in rng.permutation(len(pieces))])
            groups.extend(pool[start : start + m] for start in range(0, len(pool), m))
        return [groups[i] for i in rng.permutation(len(groups))]

    def _complete(self, batch: np.ndarray, rng: np.random.Generator) -> list[int]:
        """Make ``batch`` hold ``batch_size`` distinct items: a repeat is replaced by a member of
        the same cluster not yet in the batch (any clustered item if the cluster is exhausted),
        and a short batch is filled with clustered items not yet in it."""
        out: list[int] = []
        present: set[int] = set()
        for i in batch.tolist():
            if i in present:
                members = self._clusters[self._cluster_of[i]]
                free = members[~np.isin(members, list(present))]
                if not free.size:
                    free = self._valid[~np.isin(self._valid, list(present))]
                i = int(rng.choice(free))
            out.append(i)
            present.add(i)
        missing = self.batch_size - len(out)
        if missing > 0:
            pool = self._valid[~np.isin(self._valid, out)]
            out.extend(rng.choice(pool, missing, replace=False).tolist())
        return out

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        groups = self._groups(rng)
        need = self._batches_per_rank * self.num_replicas * self.groups_per_batch
        while len(groups) < need:
            groups = groups + groups[: need - len(groups)]
        groups = groups[:need]
        gpb = self.groups_per_batch
        for b in range(self._batches_per_rank * self.num_replicas):
            # every rank completes every batch so the shared rng stays in step across ranks
            batch = self._complete(np.concatenate(groups[b * gpb : (b + 1) * gpb]), rng)
            if b % self.num_replicas == self.rank:
                yield batch
