"""Frozen-encoder feature extraction and an on-disk feature cache.

`extract_features` runs an encoder (before any projection head) over a loader yielding the
batches documented in `vi2clr.evaluate.batches`. `FeatureCache` stores the result as `.npz`
keyed by what determines it (checkpoint digest, data index digest, transform description...),
so a second protocol on the same features (e.g. VOC07 SVM then few-shot) does not re-extract.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from vi2clr.atomic import atomic_write
from vi2clr.data.datasets import SkipLog
from vi2clr.evaluate.batches import parse_batch


class Features(NamedTuple):
    """feats (N, D) float32; labels (N,) int64 or (N, C) VOC targets, or None; ids (N,) int64."""

    feats: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray


def _encode(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    f = encoder(x)
    if not isinstance(f, torch.Tensor) or f.ndim != 2 or f.shape[0] != x.shape[0]:
        shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
        raise ValueError(f"encoder must return (B, D) features (before the projection head), got {shape}")
    return f


def extract_features(
    encoder: nn.Module,
    loader: Iterable[Any],
    device: str | torch.device = "cpu",
    reduce_windows: bool = True,
    input_key: str | None = None,
) -> Features:
    """Encoder features of every item of `loader`, in eval mode under `torch.inference_mode`.

    Images (B,3,H,W) and clips (B,3,T,H,W) give one row each. Windows (B,W,3,T,H,W): every
    valid window is encoded; with `reduce_windows` a video's row is the mean over its valid
    windows, f_v = (1/|W_v|) Σ_{w∈W_v} f(x_{v,w}); without, each valid window is a row and
    labels / ids are repeated. The encoder is moved to `device`; its train/eval mode is
    restored afterwards.
    Returns Features(feats (N, D) float32, labels or None, ids (N,) int64).
    """
    was_training = encoder.training
    encoder.eval().to(device)
    feats, labels, ids = [], [], []
    seen = 0
    try:
        with torch.inference_mode():
            for raw in SkipLog().watch(loader):  # one line per unreadable file
                b = parse_batch(raw, input_key)
                n = b.inputs.shape[0]
                index = b.index if b.index is not None else torch.arange(seen, seen + n)
                seen += n
                x = b.inputs.to(device)
                keep = None  # (B, W) mask of the windows kept as rows, when not reduced
                if not b.is_windows:
                    f = _encode(encoder, x)
                else:
                    w = x.shape[1]
                    mask = (b.window_mask if b.window_mask is not None else torch.ones(n, w)).to(device).bool()
                    if not mask.any(dim=1).all():
                        raise ValueError("a video in the batch has no valid window (window_mask all False)")
                    valid = _encode(encoder, x.flatten(0, 1)[mask.flatten()])  # padding windows are not encoded
                    f = valid.new_zeros((n * w, valid.shape[1]))
                    f[mask.flatten()] = valid
                    f = f.view(n, w, -1)  # (B, W, D)
                    if reduce_windows:
                        m = mask.unsqueeze(-1).to(f.dtype)
                        f = (f * m).sum(dim=1) / m.sum(dim=1)
                    else:
                        keep = mask.cpu()
                        f = f[mask]
                feats.append(f.float().cpu())
                if keep is None:
                    ids.append(index.long())
                    labels.append(b.labels)
                else:
                    per_window = keep.sum(dim=1)
                    ids.append(index.long().repeat_interleave(per_window))
                    labels.append(None if b.labels is None else b.labels.repeat_interleave(per_window, dim=0))
    finally:
        encoder.train(was_training)
    if not feats:
        raise ValueError("the loader yielded no batch")
    has_labels = all(lab is not None for lab in labels)
    return Features(
        torch.cat(feats).numpy().astype(np.float32, copy=False),
        torch.cat(labels).numpy() if has_labels else None,
        torch.cat(ids).numpy().astype(np.int64, copy=False),
    )


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (e.g. a checkpoint), streamed."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


class FeatureCache:
    """`.npz` files under `cache_dir`, one per key.

    A key is a flat dict of JSON-serialisable parts, e.g. {"checkpoint": <sha256>,
    "index": Index.digest(), "transform": "center_crop224", "split": "trainval"}; its
    canonical JSON (sorted keys) is hashed into the file name and stored inside the file, and a
    load only hits when the stored key is identical. Writes go to a temporary file in the same
    directory then `os.replace`, so readers never see a partial file. ``common``: parts added to
    every key (the torch thread count, which changes features in their last bits).
    """

    _KEY_FIELD = "__cache_key__"

    def __init__(self, cache_dir: str | os.PathLike, common: Mapping[str, Any] | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.common = dict(common or {})

    def canonical_key(self, key_parts: Mapping[str, Any]) -> str:
        try:
            return json.dumps({**self.common, **key_parts}, sort_keys=True, separators=(",", ":"))
        except TypeError as err:
            raise TypeError(f"feature cache key parts must be JSON-serialisable: {err}") from None

    def path(self, key_parts: Mapping[str, Any]) -> Path:
        digest = hashlib.sha256(self.canonical_key(key_parts).encode()).hexdigest()
        return self.cache_dir / f"features-{digest[:32]}.npz"

    def load(self, key_parts: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
        """The cached arrays, or None on a miss (absent, unreadable, or another key)."""
        path = self.path(key_parts)
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data[self._KEY_FIELD]) != self.canonical_key(key_parts):
                    return None
                return {k: data[k] for k in data.files if k != self._KEY_FIELD}
        except (FileNotFoundError, KeyError, ValueError, OSError, zipfile.BadZipFile):
            return None

    def save(self, key_parts: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Path:
        """Write `arrays` atomically under the key; returns the final path."""
        if self._KEY_FIELD in arrays:
            raise ValueError(f"array name {self._KEY_FIELD!r} is reserved")
        path = self.path(key_parts)
        with atomic_write(path) as fh:
            np.savez(fh, **{self._KEY_FIELD: np.array(self.canonical_key(key_parts))}, **arrays)
        return path


def cached_features(
    cache: FeatureCache | None,
    key_parts: Mapping[str, Any],
    compute: Callable[[], Mapping[str, np.ndarray] | Features],
) -> dict[str, np.ndarray]:
    """`cache.load(key_parts)`, else `compute()` then save. `cache=None` always computes.

    `compute` returns named arrays (a mapping, or a `Features`; None fields are not stored).
    """
    if cache is not None:
        hit = cache.load(key_parts)
        if hit is not None:
            return hit
    result = compute()
    arrays = result._asdict() if isinstance(result, Features) else dict(result)
    arrays = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    if cache is not None:
        cache.save(key_parts, arrays)
    return arrays
