"""Constants of the paper that more than one layer reads, in one place. Torch-free, so params
validation (:mod:`vi2clr.config`) imports them before torch is loaded."""

from __future__ import annotations

TAU: float = 0.08
"""τ, the temperature of VideoNCE, ImgNCE and (mode ``shared``) CenterNCE: 0.08 as in the paper."""
