"""Encoder checkpoints for evaluation: one file per encoder, loadable with ``weights_only=True``.

File content (format ``vi2clr-encoder/1``)::

    {"format": "vi2clr-encoder/1", "kind": "video"|"image", "name": str, "kwargs": dict,
     "state_dict": dict[str, Tensor], "meta": dict}

``kwargs`` and ``meta`` may hold only plain values (dict/list/tuple/str/int/float/bool/None and
tensors), so the file loads without unpickling arbitrary objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vi2clr.atomic import atomic_write
from vi2clr.models.encoders import build_encoder

FORMAT = "vi2clr-encoder/1"
_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise ValueError(f"{where} has a non-str/int key {k!r}; only plain values can be saved")
            _check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise ValueError(f"{where} holds a {type(value).__name__}; only plain values can be saved")


def save_encoder(path: str | os.PathLike, encoder: nn.Module, name: str, kwargs: dict, meta: dict) -> Path:
    """Write ``encoder`` atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        path: destination file.
        encoder: module with ``.kind`` (built by :func:`build_encoder` with ``name``/``kwargs``).
        name: registry name used to rebuild it.
        kwargs: constructor options used to rebuild it.
        meta: free plain metadata (run id, epoch, config hash, ...).

    Returns:
        The destination path.
    """
    kind = getattr(encoder, "kind", None)
    if kind not in ("video", "image"):
        raise ValueError(f"encoder has no kind 'video'/'image' (got {kind!r}); build it with build_encoder")
    _check_plain(kwargs, "kwargs")
    _check_plain(meta, "meta")
    payload = {
        "format": FORMAT,
        "kind": kind,
        "name": str(name),
        "kwargs": dict(kwargs),
        "state_dict": {k: v.detach().cpu() for k, v in encoder.state_dict().items()},
        "meta": dict(meta),
    }
    path = Path(path)
    with atomic_write(path) as f:
        torch.save(payload, f)
    return path


def load_encoder(path: str | os.PathLike, expect_kind: str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild an encoder saved by :func:`save_encoder` (on CPU, ``weights_only=True``).

    Args:
        path: checkpoint file.
        expect_kind: ``"video"`` or ``"image"`` to refuse the other kind, or None.

    Returns:
        ``(encoder, meta)``.

    Raises:
        ValueError: the file is missing, not a vi2clr encoder, or of the wrong kind.
    """
    if expect_kind not in (None, "video", "image"):
        raise ValueError(f"expect_kind must be 'video', 'image' or None, got {expect_kind!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"checkpoint {path} does not exist") from None
    except Exception as err:  # unpickling / corrupt file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {path} is not a vi2clr encoder file ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not a vi2clr encoder file (no format {FORMAT!r})")
    kind = payload["kind"]
    if expect_kind is not None and kind != expect_kind:
        raise ValueError(f"checkpoint {path} holds a {kind} encoder, but this protocol needs an {expect_kind} encoder"
                         if expect_kind == "image" else
                         f"checkpoint {path} holds an {kind} encoder, but this protocol needs a {expect_kind} encoder")
    encoder = build_encoder(payload["name"], **payload["kwargs"])
    encoder.load_state_dict(payload["state_dict"])
    return encoder, payload["meta"]
