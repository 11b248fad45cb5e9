"""Everything a pretraining run carries from one epoch to the next, with symmetric
``state_dict()`` / ``load_state_dict()`` (torchvision ``references/`` style): a checkpoint is
exactly ``TrainState.state_dict()`` plus the run's identity (see :mod:`vi2clr.train.outputs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vi2clr.train import checkpoint as ckpt
from vi2clr.train.cluster_pass import ClusterState


class StateMismatch(ValueError):
    """A checkpoint whose bookkeeping contradicts itself (e.g. sampler epoch != epoch)."""


@dataclass
class TrainState:
    """Model, optimiser, LR scheduler, AMP scaler, the current clustering and the counters.

    ``epoch`` counts finished epochs (the next epoch to run is ``epoch``, 0-based). The sampler is
    rebuilt every epoch from ``(sampler_seed, sampler_epoch)``, so these two numbers are its whole
    state; ``sampler_epoch`` equals ``epoch`` in any checkpoint written at an epoch end.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    cluster: ClusterState
    epoch: int = 0
    global_step: int = 0
    nonfinite_total: int = 0
    mlflow_run_id: str | None = None
    sampler_seed: int = 0
    sampler_epoch: int = 0

    def state_dict(self) -> dict[str, Any]:
        """Plain dict of tensors, numbers and strings (loads with ``weights_only=True``); includes
        the Python/NumPy/torch RNG states of this process."""
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "cluster": self.cluster.state_dict(), "rng": ckpt.rng_state(),
            "epoch": self.epoch, "global_step": self.global_step, "nonfinite_total": self.nonfinite_total,
            "mlflow_run_id": self.mlflow_run_id or "",
            "sampler": {"seed": self.sampler_seed, "epoch": self.sampler_epoch},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (restores the RNG states too)."""
        sampler = state["sampler"]
        if int(sampler["epoch"]) != int(state["epoch"]):
            raise StateMismatch(f"sampler epoch {sampler['epoch']} != checkpoint epoch {state['epoch']}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.cluster = ClusterState.from_state_dict(state["cluster"])
        ckpt.set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.nonfinite_total = int(state["nonfinite_total"])
        self.mlflow_run_id = state["mlflow_run_id"] or None
        self.sampler_seed = int(sampler["seed"])
        self.sampler_epoch = int(sampler["epoch"])
