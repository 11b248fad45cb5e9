"""Encoder registry: backbones by name, each returning one pooled feature vector per input.

Every encoder built here is an :class:`Encoder` with two attributes the rest of the project
relies on:

- ``out_dim`` (int): the feature width D of the output ``(B, D)``;
- ``kind`` (``"video"`` or ``"image"``): video encoders take clips ``(B, 3, T, H, W)``,
  image encoders take images ``(B, 3, H, W)``.

Registered names (``list_encoders()``):

========== ====== ===== =========================================================
name       kind   D     backbone
========== ====== ===== =========================================================
s3d        video  1024  torchvision ``s3d(weights=None).features`` + adaptive pool
r3d_18     video  512   torchvision ``r3d_18`` without ``fc``
r2plus1d_18 video 512   torchvision ``r2plus1d_18`` without ``fc``
tiny3d     video  8·w   narrow 3D CNN (default width w=16 → 128), CPU-friendly
resnet50   image  2048  torchvision ``resnet50`` without ``fc``
resnet18   image  512   torchvision ``resnet18`` without ``fc``
tiny2d     image  8·w   narrow 2D CNN (default width w=16 → 128, depth 1), CPU-friendly
========== ====== ===== =========================================================

All weights are randomly initialised (self-supervised pretraining starts from scratch).

Every video encoder also takes ``frames``: ``"rgb"`` (the clip itself, the paper's input) or
``"residual"`` (the clip's residual frames x_{t+1} − x_t, T − 1 of them; Tao et al. 2020,
"Rethinking Motion Representation: Residual Frames with 3D ConvNets"). Residual frames remove
whatever is static in the clip (a scene's background), so a video encoder cannot tell two videos
apart by it; the choice is part of the encoder and is saved with it, so every protocol that
evaluates the encoder feeds it the same input.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torchvision.models import resnet18, resnet50
from torchvision.models.video import r2plus1d_18, r3d_18, s3d

from vi2clr.models.names import ENCODER_OPTIONS, ENCODERS, FRAMES

EncoderKind = Literal["video", "image"]

_INPUT_NDIM = {"video": 5, "image": 4}
_INPUT_SHAPE = {"video": "(B, 3, T, H, W)", "image": "(B, 3, H, W)"}


class Encoder(nn.Module):
    """A backbone that maps an input batch to features ``(B, out_dim)``.

    Args:
        body: module returning a tensor whose elements per sample number ``out_dim``
            (e.g. ``(B, D, 1, 1, 1)`` after adaptive pooling); it is flattened to ``(B, D)``.
        out_dim: feature width D.
        kind: ``"video"`` (input ``(B, 3, T, H, W)``) or ``"image"`` (input ``(B, 3, H, W)``).

    Attribute ``frames`` (set by :func:`build_encoder`): ``"rgb"``, or ``"residual"`` (video only):
    the body then sees the residual frames ``x[:, :, t + 1] − x[:, :, t]``, ``(B, 3, T − 1, H, W)``.
    """

    def __init__(self, body: nn.Module, out_dim: int, kind: EncoderKind) -> None:
        super().__init__()
        if kind not in _INPUT_NDIM:
            raise ValueError(f"encoder kind must be 'video' or 'image', got {kind!r}")
        self.body = body
        self.out_dim = int(out_dim)
        self.kind: EncoderKind = kind
        self.frames = "rgb"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` (video) or ``(B, 3, H, W)`` (image) → ``(B, out_dim)``."""
        if x.ndim != _INPUT_NDIM[self.kind]:
            raise ValueError(
                f"{self.kind} encoder expects input {_INPUT_SHAPE[self.kind]}, "
                f"got shape {tuple(x.shape)}"
            )
        if self.frames == "residual":
            if x.shape[2] < 2:
                raise ValueError(f"residual frames need clips of at least 2 frames, got shape {tuple(x.shape)}")
            x = x[:, :, 1:] - x[:, :, :-1]
        return torch.flatten(self.body(x), 1)


def _conv_bn_relu(conv: type[nn.Module], bn: type[nn.Module], cin: int, cout: int, stride) -> list[nn.Module]:
    return [conv(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False), bn(cout), nn.ReLU(inplace=True)]


def _tiny3d(width: int = 16) -> Encoder:
    """Narrow 3D CNN: 4 blocks Conv3d(3³)-BN-ReLU, widths w, 2w, 4w, 8w, strides
    (1,2,2), (2,2,2), (2,2,2), (2,2,2), then global average pooling → ``(B, 8w)``."""
    if width < 1:
        raise ValueError(f"tiny3d width must be >= 1, got {width}")
    chans = [3, width, 2 * width, 4 * width, 8 * width]
    strides = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)]
    layers: list[nn.Module] = []
    for cin, cout, st in zip(chans[:-1], chans[1:], strides):
        layers += _conv_bn_relu(nn.Conv3d, nn.BatchNorm3d, cin, cout, st)
    layers.append(nn.AdaptiveAvgPool3d(1))
    return Encoder(nn.Sequential(*layers), chans[-1], "video")


def _tiny2d(width: int = 16, depth: int = 1) -> Encoder:
    """Narrow 2D CNN: 4 stages of ``depth`` Conv2d(3×3)-BN-ReLU blocks, widths w, 2w, 4w, 8w, the
    first block of each stage with stride 2 (the rest stride 1), then global average pooling →
    ``(B, 8w)``. ``depth`` 1 is the original 4-layer net."""
    if width < 1:
        raise ValueError(f"tiny2d width must be >= 1, got {width}")
    if depth < 1:
        raise ValueError(f"tiny2d depth must be >= 1, got {depth}")
    chans = [3, width, 2 * width, 4 * width, 8 * width]
    layers: list[nn.Module] = []
    for cin, cout in zip(chans[:-1], chans[1:]):
        layers += _conv_bn_relu(nn.Conv2d, nn.BatchNorm2d, cin, cout, 2)
        for _ in range(depth - 1):
            layers += _conv_bn_relu(nn.Conv2d, nn.BatchNorm2d, cout, cout, 1)
    layers.append(nn.AdaptiveAvgPool2d(1))
    return Encoder(nn.Sequential(*layers), chans[-1], "image")


def _s3d() -> Encoder:
    """S3D trunk (torchvision ``s3d(weights=None).features``, 7,910,048 parameters) followed by
    ``AdaptiveAvgPool3d(1)`` → ``(B, 1024)``; accepts any T, H, W the trunk can stride down
    (e.g. 112 or 128 px). torchvision's S3D builds its BatchNorm layers with momentum 0.001;
    they are reset to the ordinary 0.1 here."""
    body = nn.Sequential(s3d(weights=None).features, nn.AdaptiveAvgPool3d(1))
    for m in body.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.1
    return Encoder(body, 1024, "video")


def _without_fc(model: nn.Module, out_dim: int, kind: EncoderKind) -> Encoder:
    model.fc = nn.Identity()
    return Encoder(model, out_dim, kind)


_REGISTRY: dict[str, tuple[EncoderKind, Callable[..., Encoder]]] = {
    "s3d": ("video", _s3d),
    "r3d_18": ("video", lambda: _without_fc(r3d_18(weights=None), 512, "video")),
    "r2plus1d_18": ("video", lambda: _without_fc(r2plus1d_18(weights=None), 512, "video")),
    "tiny3d": ("video", _tiny3d),
    "resnet50": ("image", lambda: _without_fc(resnet50(weights=None), 2048, "image")),
    "resnet18": ("image", lambda: _without_fc(resnet18(weights=None), 512, "image")),
    "tiny2d": ("image", _tiny2d),
}
# The light name list (read by params validation) and this registry must agree.
if {n: k for n, (k, _) in _REGISTRY.items()} != ENCODERS:
    raise ImportError("vi2clr.models.names.ENCODERS does not match the encoder registry")
if any(tuple(inspect.signature(f).parameters) != ENCODER_OPTIONS.get(n, ()) for n, (_, f) in _REGISTRY.items()):
    raise ImportError("vi2clr.models.names.ENCODER_OPTIONS does not match the encoders' constructors")


def in_channels_last(encoder: Encoder) -> Encoder:
    """``encoder`` (in place) with its convolution weights in channels-last order: ``channels_last_3d``
    (N, D, H, W, C) for a video encoder, ``channels_last`` (N, H, W, C) for an image encoder. Convolutions
    then run in that layout (an input in the default layout is converted by the first one); the
    results equal the default layout's up to float rounding."""
    return encoder.to(memory_format=torch.channels_last_3d if encoder.kind == "video" else torch.channels_last)


def list_encoders(kind: EncoderKind | None = None) -> list[str]:
    """Registered encoder names, optionally only those of one ``kind``."""
    return sorted(n for n, (k, _) in _REGISTRY.items() if kind is None or k == kind)


def encoder_kind(name: str) -> EncoderKind:
    """Kind (``"video"``/``"image"``) of a registered encoder, without building it."""
    return _lookup(name)[0]


def _lookup(name: str) -> tuple[EncoderKind, Callable[..., Encoder]]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; choose one of: {', '.join(list_encoders())}") from None


def build_encoder(name: str, **kwargs) -> Encoder:
    """Build a randomly initialised encoder by registered name.

    Args:
        name: one of :func:`list_encoders`.
        **kwargs: constructor options: ``width`` for ``tiny3d``/``tiny2d``, ``depth`` for ``tiny2d``; ``frames``
            (``"rgb"``, the default, or ``"residual"``) for every video encoder.

    Returns:
        An :class:`Encoder` with ``.out_dim``, ``.kind`` and ``.frames``; output ``(B, out_dim)``.
    """
    kind, factory = _lookup(name)
    kwargs = dict(kwargs)
    frames = kwargs.pop("frames", "rgb")
    if frames not in FRAMES or (kind == "image" and frames != "rgb"):
        raise ValueError(f"encoder {name!r}: frames must be one of {FRAMES} ('residual' for video encoders only), "
                         f"got {frames!r}")
    try:
        encoder = factory(**kwargs)
    except TypeError as err:
        raise ValueError(f"encoder {name!r} does not accept options {sorted(kwargs)}: {err}") from None
    encoder.frames = frames
    return encoder
