"""Registered encoder names by kind: a light list (no torch import) that params validation reads
and the registry in :mod:`vi2clr.models.encoders` is checked against, so the two cannot drift."""

from __future__ import annotations

VIDEO_ENCODERS: tuple[str, ...] = ("s3d", "r3d_18", "r2plus1d_18", "tiny3d")
IMAGE_ENCODERS: tuple[str, ...] = ("resnet50", "resnet18", "tiny2d")
ENCODERS: dict[str, str] = {**dict.fromkeys(VIDEO_ENCODERS, "video"), **dict.fromkeys(IMAGE_ENCODERS, "image")}
# What a video encoder's convolutions see (``kwargs.frames``): the clip, or its residual frames.
FRAMES: tuple[str, ...] = ("rgb", "residual")
# The integer options (each >= 1) an encoder's constructor takes besides ``frames``; the others take none.
ENCODER_OPTIONS: dict[str, tuple[str, ...]] = {"tiny3d": ("width",), "tiny2d": ("width", "depth")}
