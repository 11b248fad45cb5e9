"""Vectorised numpy rendering of the synthetic scenes: textured shapes moving over a background.

Coordinates are in units of the frame's short side (y in [0, 1], x in [0, W/H] for landscape).
An object is an *appearance* (shape × texture, plus a small white marker that makes rotation
visible) with a nuisance colour, following a *track* — per-frame centre, angle and radius ``(T,)``.
A *motion* class is a family of tracks (slide, rotate, zoom, circle, bounce, ...) with nuisance
speed, direction, start position, angle and scale, so it is visible only over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MOTIONS",
    "SHAPES",
    "TEXTURES",
    "Track",
    "appearance_parts",
    "appearance_names",
    "motion_track",
    "static_track",
    "random_colour",
    "palette",
    "draw_colour",
    "smooth_background",
    "render",
]

MOTIONS = (
    "slide_horizontal", "slide_up", "slide_down", "rotate", "zoom_in",
    "zoom_out", "circle", "bounce", "shake", "still",
)  # fmt: skip
SHAPES = ("disc", "square", "triangle", "cross", "ring", "diamond")
TEXTURES = ("solid", "stripes", "checker", "dots")


@dataclass(frozen=True)
class Track:
    """One object over T frames: appearance id, RGB colour in [0, 1] ``(3,)``, and ``(T,)`` arrays
    ``cx``, ``cy`` (centre), ``angle`` (radians), ``radius`` (short-side units)."""

    appearance: int
    colour: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    radius: np.ndarray


def appearance_parts(appearance: int) -> tuple[str, str]:
    """(shape, texture) of an appearance id; distinct for ids < len(SHAPES) * len(TEXTURES)."""
    n_shapes, n_tex = len(SHAPES), len(TEXTURES)
    if not 0 <= appearance < n_shapes * n_tex:
        raise ValueError(f"appearance must be in 0..{n_shapes * n_tex - 1}, got {appearance}")
    q, r = divmod(appearance, n_shapes)
    return SHAPES[r], TEXTURES[(r + q) % n_tex]


def appearance_names(n: int) -> list[str]:
    """``shape_texture`` names of appearance ids 0..n-1."""
    return ["_".join(appearance_parts(a)) for a in range(n)]


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated, bright RGB colour ``(3,)`` in [0, 1] (random hue)."""
    h, s, v = rng.uniform(0, 1), rng.uniform(0.55, 1.0), rng.uniform(0.8, 1.0)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def palette(size: int) -> np.ndarray:
    """``size`` fixed saturated colours ``(size, 3)`` (evenly spaced hues), shared by all classes."""
    h = (np.arange(size) + 0.5) / size
    k = (np.array([5.0, 3.0, 1.0])[None, :] + h[:, None] * 6) % 6
    return 0.95 - 0.95 * 0.8 * np.clip(np.minimum(k, 4 - k), 0, 1)


def draw_colour(rng: np.random.Generator, palette_size: int = 0) -> np.ndarray:
    """An object colour ``(3,)``: `random_colour` if ``palette_size`` is 0, else one of `palette`."""
    if palette_size <= 0:
        return random_colour(rng)
    return palette(palette_size)[int(rng.integers(0, palette_size))]


def smooth_background(
    rng: np.random.Generator, h: int, w: int, cells: int = 4, contrast: float = 1.0, palette_size: int = 0
) -> np.ndarray:
    """Dim, low-saturation smooth noise ``(h, w, 3)`` in [0, 1]: a random grid bilinearly upsampled.

    ``contrast`` scales the grid's variation around its base colour (1 = ±0.12 grey, ±0.04 per
    channel); with ``palette_size`` > 0 the base is a dim tint of one of the `palette` colours
    (so many videos of every class share it), else a random dim colour.
    """
    gh, gw = cells + 1, int(np.ceil(cells * w / h)) + 1
    if palette_size > 0:
        base = 0.18 + 0.22 * palette(palette_size)[int(rng.integers(0, palette_size))]
    else:
        base = rng.uniform(0.15, 0.45, size=3)
    grid = base + contrast * (rng.uniform(-0.12, 0.12, size=(gh, gw, 1)) + rng.uniform(-0.04, 0.04, size=(gh, gw, 3)))
    y = np.linspace(0, gh - 1, h)
    x = np.linspace(0, gw - 1, w)
    y0, x0 = np.minimum(y.astype(int), gh - 2), np.minimum(x.astype(int), gw - 2)
    fy, fx = (y - y0)[:, None, None], (x - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return np.clip(top * (1 - fy) + bottom * fy, 0, 1)


def motion_track(
    motion: int,
    num_frames: int,
    aspect: float,
    appearance: int,
    rng: np.random.Generator,
    radius_range: tuple[float, float] = (0.25, 0.35),
    speed_scale: float = 1.0,
    palette_size: int = 0,
) -> Track:
    """A random track of motion class ``motion`` (index into MOTIONS) over ``num_frames`` frames.

    ``radius_range``: range of the object's start radius (short-side units); ``speed_scale`` multiplies
    the nuisance speed (how far it moves / turns / grows over the clip); ``palette_size``: see
    `draw_colour`.
    """
    name = MOTIONS[motion]
    tau = np.linspace(0.0, 1.0, num_frames)
    speed = rng.uniform(0.75, 1.25) * speed_scale
    sign = rng.choice([-1.0, 1.0])
    r0 = rng.uniform(*radius_range)
    theta0 = rng.uniform(0, 2 * np.pi)
    cx0, cy0 = aspect / 2 + rng.uniform(-0.1, 0.1) * aspect, 0.5 + rng.uniform(-0.08, 0.08)
    one = np.ones(num_frames)
    cx, cy, angle, radius = cx0 * one, cy0 * one, theta0 * one, r0 * one
    if name == "slide_horizontal":
        cx = cx0 + sign * speed * 0.45 * aspect * (tau - 0.5)
    elif name == "slide_up":
        cy = cy0 - speed * 0.5 * (tau - 0.5)
    elif name == "slide_down":
        cy = cy0 + speed * 0.5 * (tau - 0.5)
    elif name == "rotate":
        angle = theta0 + sign * speed * 1.5 * np.pi * tau
    elif name == "zoom_in":
        radius = r0 * (0.5 + 0.9 * speed * tau)
    elif name == "zoom_out":
        radius = r0 * (0.5 + 0.9 * speed * (1 - tau))
    elif name == "circle":
        phase = theta0 + sign * 2 * np.pi * 0.8 * speed * tau
        cx, cy = cx0 + 0.2 * np.cos(phase), cy0 + 0.2 * np.sin(phase)
    elif name == "bounce":
        cy = 0.75 - 0.45 * np.abs(np.sin(2 * np.pi * speed * tau))
    elif name == "shake":
        cx = cx0 + 0.12 * np.sin(2 * np.pi * 3 * speed * tau + theta0)
    return Track(appearance, draw_colour(rng, palette_size), cx, cy, angle, radius)


def static_track(
    appearance: int, cx: float, cy: float, radius: float, rng: np.random.Generator, palette_size: int = 0
) -> Track:
    """A one-frame object (for images) at a given place and size, random angle and colour."""
    a = np.array([rng.uniform(0, 2 * np.pi)])
    return Track(appearance, draw_colour(rng, palette_size), np.array([cx]), np.array([cy]), a, np.array([radius]))


def _shape_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance-like field of a shape of radius 1 in local coords (< 0 inside)."""
    if shape == "disc":
        return np.hypot(u, v) - 0.95
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.75
    if shape == "triangle":
        angles = np.deg2rad([90.0, 210.0, 330.0])
        return np.max([u * np.cos(a) + v * np.sin(a) for a in angles], axis=0) - 0.55
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return np.minimum(np.maximum(au - 0.95, av - 0.3), np.maximum(au - 0.3, av - 0.95))
    if shape == "ring":
        return np.abs(np.hypot(u, v) - 0.7) - 0.25
    if shape == "diamond":
        return (np.abs(u) + np.abs(v)) / np.sqrt(2) - 0.68
    raise ValueError(f"unknown shape {shape!r}")


def _texture(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """1 where the object shows its main colour, 0 where its dark second colour."""
    if texture == "solid":
        return np.ones_like(u)
    if texture == "stripes":
        return (np.sin(u * 2.2 * np.pi) > 0).astype(u.dtype)
    if texture == "checker":
        return ((np.floor(u / 0.55) + np.floor(v / 0.55)) % 2).astype(u.dtype)
    if texture == "dots":
        fu, fv = (u / 0.6) % 1 - 0.5, (v / 0.6) % 1 - 0.5
        return (np.hypot(fu, fv) > 0.3).astype(u.dtype)
    raise ValueError(f"unknown texture {texture!r}")


def render(height: int, width: int, background: np.ndarray, tracks: list[Track]) -> np.ndarray:
    """Composite ``tracks`` (in order) over ``background`` ``(H, W, 3)`` → uint8 ``(T, H, W, 3)``.

    Each object is computed only inside a square window around it that moves with it (arrays
    ``(T, win, win)``), then written into a padded canvas by fancy indexing. Edges are
    anti-aliased: alpha = clip(0.5 − d·r·short, 0, 1) with d the shape distance.
    """
    short = min(height, width)
    num_frames = len(tracks[0].cx) if tracks else 1
    half = max([int(np.ceil(float(tr.radius.max()) * short)) + 2 for tr in tracks] + [1])
    win = 2 * half
    canvas = np.zeros((num_frames, height + 2 * win, width + 2 * win, 3), np.float32)
    canvas[:, win : win + height, win : win + width] = background.astype(np.float32)
    frame_ids = np.arange(num_frames)[:, None, None]
    offsets = np.arange(win)
    for tr in tracks:
        # integer window origin per frame (in padded canvas pixels), then pixel centres in short-side units
        ox = np.floor(tr.cx * short).astype(int) - half + win
        oy = np.floor(tr.cy * short).astype(int) - half + win
        cols, rows = ox[:, None] + offsets, oy[:, None] + offsets  # (T, win)
        xs = ((cols - win + 0.5) / short).astype(np.float32)[:, None, :]
        ys = ((rows - win + 0.5) / short).astype(np.float32)[:, :, None]
        dx, dy = xs - tr.cx[:, None, None].astype(np.float32), ys - tr.cy[:, None, None].astype(np.float32)
        c = np.cos(tr.angle).astype(np.float32)[:, None, None]
        s = np.sin(tr.angle).astype(np.float32)[:, None, None]
        r = tr.radius.astype(np.float32)[:, None, None]
        u, v = (c * dx + s * dy) / r, (-s * dx + c * dy) / r
        shape, texture = appearance_parts(tr.appearance)
        alpha = np.clip(0.5 - _shape_distance(shape, u, v) * r * short, 0.0, 1.0)[..., None]
        tex = _texture(texture, u, v)[..., None]
        colour = tr.colour.astype(np.float32)
        fill = tex * colour + (1 - tex) * (0.3 * colour)
        fill = np.where((np.hypot(u - 0.55, v) < 0.17)[..., None], np.float32(0.97), fill)
        rr = np.clip(rows, 0, canvas.shape[1] - 1)[:, :, None]
        cc = np.clip(cols, 0, canvas.shape[2] - 1)[:, None, :]
        patch = canvas[frame_ids, rr, cc]
        canvas[frame_ids, rr, cc] = patch * (1 - alpha) + alpha * fill
    out = canvas[:, win : win + height, win : win + width]
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
