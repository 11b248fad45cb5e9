"""The batch formats evaluation loaders must yield, and their parsing.

A batch is either a dict or a tuple/list.

dict keys:
  * input, exactly one of (or name it with `input_key`):
      "image"   (B, 3, H, W)            images
      "video"   (B, 3, T, H, W)         one clip per item
      "windows" (B, W, 3, T, H, W)      W sliding windows per video (feature extraction)
  * "label" (B,) int class ids, or "targets" (B, C) VOC rows in {1, -1, 0}  (optional)
  * "index" (B,) int: the sample (video) id. Clips of one video share it, which is how
    video-level testing groups them (optional; defaults to the running position).
  * "window_mask" (B, W) bool, True = real window (optional with "windows"; default all True).
    Collate videos with fewer windows by padding and masking, or use one video per batch.

tuple/list: (input, label[, index[, window_mask]]) with the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

INPUT_KEYS = ("windows", "video", "image")


@dataclass
class Batch:
    """A parsed batch; see the module docstring for shapes."""

    inputs: torch.Tensor
    labels: torch.Tensor | None
    index: torch.Tensor | None
    window_mask: torch.Tensor | None

    @property
    def is_windows(self) -> bool:
        return self.inputs.ndim == 6


def parse_batch(batch: Any, input_key: str | None = None) -> Batch:
    """Normalise a loader batch (dict or tuple) into a `Batch`; one-line errors otherwise."""
    if isinstance(batch, dict):
        if input_key is None:
            present = [k for k in INPUT_KEYS if k in batch]
            if len(present) != 1:
                raise ValueError(f"batch must hold exactly one of {INPUT_KEYS} (or pass input_key), found {present or sorted(batch)}")
            input_key = present[0]
        if input_key not in batch:
            raise ValueError(f"batch has no {input_key!r}, keys: {sorted(batch)}")
        labels = batch.get("label", batch.get("targets"))
        parsed = Batch(batch[input_key], labels, batch.get("index"), batch.get("window_mask"))
    elif isinstance(batch, (tuple, list)) and 2 <= len(batch) <= 4:
        parts = list(batch) + [None] * (4 - len(batch))
        parsed = Batch(*parts)
    else:
        raise ValueError(f"batch must be a dict or a (input, label[, index[, window_mask]]) tuple, got {type(batch).__name__}")
    x = parsed.inputs
    if not isinstance(x, torch.Tensor) or x.ndim not in (4, 5, 6):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"batch input must be (B,3,H,W), (B,3,T,H,W) or (B,W,3,T,H,W), got {shape}")
    for name in ("labels", "index", "window_mask"):
        value = getattr(parsed, name)
        if value is not None:
            value = torch.as_tensor(value)
            if value.shape[0] != x.shape[0]:
                raise ValueError(f"batch {name} has {value.shape[0]} rows for {x.shape[0]} inputs")
            setattr(parsed, name, value)
    if parsed.window_mask is not None and parsed.window_mask.shape != x.shape[:2]:
        raise ValueError(f"window_mask must be (B, W) = {tuple(x.shape[:2])}, got {tuple(parsed.window_mask.shape)}")
    return parsed
