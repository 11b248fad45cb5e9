"""Encoders (registry by name), projection heads, the joint Vi2CLR module, encoder export."""

from vi2clr.models.encoders import Encoder, build_encoder, encoder_kind, list_encoders
from vi2clr.models.export import load_encoder, save_encoder
from vi2clr.models.heads import ProjectionHead, Vi2CLR

__all__ = [
    "Encoder",
    "ProjectionHead",
    "Vi2CLR",
    "build_encoder",
    "encoder_kind",
    "list_encoders",
    "load_encoder",
    "save_encoder",
]
