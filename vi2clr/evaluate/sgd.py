"""The SGD recipe of a classification protocol, passed as one keyword-only object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SGDSettings:
    """SGD with momentum and a step schedule: lr × gamma at each milestone epoch.

    lr: base learning rate; momentum, weight_decay: SGD's; milestones: epochs (0-based count of
    finished epochs) at which lr is multiplied by ``gamma``; epochs: training epochs; batch_size:
    mini-batch size (used where the protocol batches itself, e.g. on cached features).
    """

    lr: float
    epochs: int
    milestones: tuple[int, ...] = ()
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 256
    gamma: float = 0.1

    @classmethod
    def from_params(cls, params: Any, **override: Any) -> SGDSettings:
        """From a params block with lr, epochs, milestones, momentum, weight_decay, batch_size
        (and optionally gamma), e.g. ``eval.linear``; ``override`` replaces fields."""
        fields = dict(lr=params.lr, epochs=params.epochs, milestones=tuple(params.milestones),
                      momentum=params.momentum, weight_decay=params.weight_decay, batch_size=params.batch_size)
        if hasattr(params, "gamma"):
            fields["gamma"] = params.gamma
        return cls(**{**fields, **override})
