"""Encoders (registry by name), projection heads, the joint Vi2CLR module, encoder export.

Attributes load lazily (PEP 562) so ``vi2clr.models.names`` can be imported, e.g. by params
validation, without importing torch."""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "Encoder": "encoders", "build_encoder": "encoders", "encoder_kind": "encoders", "list_encoders": "encoders",
    "in_channels_last": "encoders",
    "load_encoder": "export", "save_encoder": "export", "ProjectionHead": "heads", "Vi2CLR": "heads",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
