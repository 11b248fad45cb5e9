"""Vectorised numpy rendering of the synthetic scenes: textured shapes moving over a textured background.

Coordinates are in units of the frame's short side (y in [0, 1], x in [0, W/H] for landscape).
An object is an *appearance* (shape × texture, plus a small white marker that makes rotation
visible) with a nuisance colour, following a *track* — per-frame centre, angle and radius ``(T,)``.
A *motion* class is a family of tracks (slide, rotate, zoom, circle, bounce, ...) with nuisance
speed, direction, start position, angle and scale, so it is visible only over time.

Two *families* share the code and the layouts but not the classes: ``default`` (the embedded data)
and ``validation`` (other shapes, textures and motions; for choosing defaults, never for the
test numbers). Every function takes its knobs as arguments without defaults: the one place that
sets them is `vi2clr.config.SynthParams`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FAMILIES",
    "Family",
    "MOTIONS",
    "SHAPES",
    "TEXTURES",
    "Track",
    "appearance_parts",
    "appearance_names",
    "motion_track",
    "static_track",
    "random_colour",
    "textured_background",
    "lighting_drift",
    "render",
]


@dataclass(frozen=True)
class Family:
    """The class vocabulary of one data family: motion classes (videos), shapes × textures (images)."""

    motions: tuple[str, ...]
    shapes: tuple[str, ...]
    textures: tuple[str, ...]


FAMILIES: dict[str, Family] = {
    "default": Family(
        motions=("slide_horizontal", "slide_up", "slide_down", "rotate", "zoom_in",
                 "zoom_out", "circle", "bounce", "shake", "still"),
        shapes=("disc", "square", "triangle", "cross", "ring", "diamond"),
        textures=("solid", "stripes", "checker", "dots"),
    ),
    "validation": Family(
        motions=("diagonal_down", "diagonal_up", "figure_eight", "spiral_out", "pulse",
                 "pendulum", "wobble", "hop_sideways", "shake_vertical", "zigzag"),
        shapes=("star", "hexagon", "ellipse", "crescent", "semicircle", "bowtie"),
        textures=("plain", "rings", "grid", "diagonals"),
    ),
}  # fmt: skip
MOTIONS = FAMILIES["default"].motions
SHAPES = FAMILIES["default"].shapes
TEXTURES = FAMILIES["default"].textures


@dataclass(frozen=True)
class Track:
    """One object over T frames: shape and texture names, RGB colour in [0, 1] ``(3,)``, and ``(T,)``
    arrays ``cx``, ``cy`` (centre), ``angle`` (radians), ``radius`` (short-side units)."""

    shape: str
    texture: str
    colour: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    radius: np.ndarray


def appearance_parts(appearance: int, family: str) -> tuple[str, str]:
    """(shape, texture) of an appearance id; distinct for ids < len(shapes) * len(textures)."""
    f = FAMILIES[family]
    n_shapes, n_tex = len(f.shapes), len(f.textures)
    if not 0 <= appearance < n_shapes * n_tex:
        raise ValueError(f"appearance must be in 0..{n_shapes * n_tex - 1}, got {appearance}")
    q, r = divmod(appearance, n_shapes)
    return f.shapes[r], f.textures[(r + q) % n_tex]


def appearance_names(n: int, family: str) -> list[str]:
    """``shape_texture`` names of appearance ids 0..n-1."""
    return ["_".join(appearance_parts(a, family)) for a in range(n)]


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] ``(...)`` → RGB ``(..., 3)``: c = v − v·s·clip(min(k, 4 − k), 0, 1), k = (n + 6h) mod 6, n = 5, 3, 1."""
    k = (np.array([5.0, 3.0, 1.0]) + np.asarray(h)[..., None] * 6) % 6
    v, s = np.asarray(v)[..., None], np.asarray(s)[..., None]
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """An object colour ``(3,)`` from the full palette: hue, saturation ~ U(0, 1), value ~ U(0.3, 1)."""
    return _hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.3, 1.0))


def _interpolation_matrix(n: int, cells: int) -> np.ndarray:
    """Bilinear upsampling of ``cells + 1`` grid points to ``n`` samples as a matrix ``(n, cells + 1)``."""
    y = np.linspace(0, cells, n)
    y0 = np.minimum(y.astype(int), cells - 1)
    m = np.zeros((n, cells + 1), np.float32)
    m[np.arange(n), y0] = 1 - (y - y0)
    m[np.arange(n), y0 + 1] = y - y0
    return m


def _value_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int) -> np.ndarray:
    """Smooth noise ``(h, w, channels)`` in [−1, 1]: a U(−1, 1) grid of ``cells`` rows bilinearly upsampled,
    as Wy · grid · Wxᵀ with the interpolation matrices (separable, so two small matrix products)."""
    cells_x = int(np.ceil(cells * w / h))
    grid = rng.uniform(-1, 1, size=(cells + 1, cells_x + 1, channels)).astype(np.float32)
    out = _interpolation_matrix(h, cells) @ grid.transpose(2, 0, 1) @ _interpolation_matrix(w, cells_x).T  # (c, h, w)
    return out.transpose(1, 2, 0)


def textured_background(rng: np.random.Generator, h: int, w: int, contrast: float) -> np.ndarray:
    """A per-video textured background ``(h, w, 3)`` in [0, 1].

    base (random hue, saturation U(0, 1), value U(0.2, 0.8)) + contrast · (0.25 · coarse colour
    noise (4 cells) + 0.25 · fine grey noise (cells ≈ h / 5) + 0.15 · stripes of random period and
    orientation), clipped. ``contrast`` 1 spans about ±0.5 grey levels of the unit range.
    """
    base = _hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.2, 0.8)).astype(np.float32)
    coarse = _value_noise(rng, h, w, 4, 3)
    fine = _value_noise(rng, h, w, max(4, h // 5), 1)
    theta, period, phase = rng.uniform(0, np.pi), rng.uniform(0.08, 0.25), rng.uniform(0, 2 * np.pi)
    ys, xs = (np.arange(h, dtype=np.float32) / min(h, w))[:, None], (np.arange(w, dtype=np.float32) / min(h, w))[None, :]
    stripes = np.sin(np.float32(2 * np.pi / period) * (xs * np.float32(np.cos(theta)) + ys * np.float32(np.sin(theta)))
                     + np.float32(phase))[..., None]
    return np.clip(base + np.float32(contrast) * (0.25 * coarse + 0.25 * fine + 0.15 * stripes), 0, 1)


def lighting_drift(rng: np.random.Generator, num_frames: int, drift: float) -> tuple[np.ndarray, np.ndarray]:
    """Global lighting over a clip: gain and offset ``(T,)``, each a linear ramp between two draws.

    gain_t = g0 + (g1 − g0)·t/(T−1), g ~ U(1 − drift, 1 + drift); offset likewise with U(−drift/2,
    drift/2). `render` maps a pixel x to (x − 0.5)·gain_t + 0.5 + offset_t (contrast and brightness).
    For one frame (an image) this is one random global contrast and brightness.
    """
    tau = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    g0, g1 = rng.uniform(1 - drift, 1 + drift, size=2)
    b0, b1 = rng.uniform(-drift / 2, drift / 2, size=2)
    return g0 + (g1 - g0) * tau, b0 + (b1 - b0) * tau


def motion_track(
    family: str,
    motion: int,
    shape_texture: tuple[str, str],
    colour: np.ndarray,
    num_frames: int,
    aspect: float,
    rng: np.random.Generator,
    radius_range: tuple[float, float],
    speed_scale: float,
) -> Track:
    """A random track of motion class ``motion`` (index into the family's motions) over ``num_frames``.

    ``rng`` draws only the geometry (speed, direction, start radius, angle and place);
    ``radius_range``: the start radius (short-side units); ``speed_scale`` multiplies the nuisance
    speed (how far the object moves / turns / grows over the clip).
    """
    name = FAMILIES[family].motions[motion]
    tau = np.linspace(0.0, 1.0, num_frames)
    speed = rng.uniform(0.75, 1.25) * speed_scale
    sign = rng.choice([-1.0, 1.0])
    r0 = rng.uniform(*radius_range)
    theta0 = rng.uniform(0, 2 * np.pi)
    cx0, cy0 = aspect / 2 + rng.uniform(-0.1, 0.1) * aspect, 0.5 + rng.uniform(-0.08, 0.08)
    one = np.ones(num_frames)
    cx, cy, angle, radius = cx0 * one, cy0 * one, theta0 * one, r0 * one
    # default family
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
    # validation family
    elif name in ("diagonal_down", "diagonal_up"):
        cx = cx0 + sign * speed * 0.3 * aspect * (tau - 0.5)
        cy = cy0 + (1 if name == "diagonal_down" else -1) * speed * 0.35 * (tau - 0.5)
    elif name == "figure_eight":
        phase = 2 * np.pi * 0.6 * speed * tau + theta0
        cx, cy = cx0 + sign * 0.25 * np.sin(phase), cy0 + 0.12 * np.sin(2 * phase)
    elif name == "spiral_out":
        phase = theta0 + sign * 2 * np.pi * 0.8 * speed * tau
        cx, cy = cx0 + 0.25 * tau * np.cos(phase), cy0 + 0.25 * tau * np.sin(phase)
    elif name == "pulse":
        radius = r0 * (0.75 + 0.3 * np.sin(2 * np.pi * 1.5 * speed * tau + theta0))
    elif name == "pendulum":
        swing = 0.6 * np.sin(2 * np.pi * speed * tau + theta0)
        cx, cy = cx0 + 0.35 * np.sin(swing), cy0 + 0.1 + 0.35 * (np.cos(swing) - 1)
        angle = theta0 + swing
    elif name == "wobble":
        angle = theta0 + 0.7 * np.sin(2 * np.pi * 2 * speed * tau)
    elif name == "hop_sideways":
        cx = cx0 + sign * speed * 0.4 * aspect * (tau - 0.5)
        cy = 0.65 - 0.3 * np.abs(np.sin(2 * np.pi * 1.5 * speed * tau))
    elif name == "shake_vertical":
        cy = cy0 + 0.1 * np.sin(2 * np.pi * 3 * speed * tau + theta0)
    elif name == "zigzag":
        tri = 2 * np.abs((2 * speed * tau + theta0 / (2 * np.pi)) % 1 - 0.5) - 0.5
        cx, cy = cx0 + sign * speed * 0.4 * aspect * (tau - 0.5), cy0 + 0.25 * tri
    return Track(*shape_texture, colour, cx, cy, angle, radius)


def static_track(shape_texture: tuple[str, str], colour: np.ndarray, cx: float, cy: float, radius: float,
                 rng: np.random.Generator) -> Track:
    """A one-frame object (for images) at a given place and size, with a random angle."""
    a = np.array([rng.uniform(0, 2 * np.pi)])
    return Track(*shape_texture, colour, np.array([cx]), np.array([cy]), a, np.array([radius]))


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
    if shape == "star":  # 5 points: radius 0.55 + 0.4 cos(5 θ)
        return (np.hypot(u, v) - 0.55 - 0.4 * np.cos(5 * np.arctan2(v, u))) * 0.6
    if shape == "hexagon":
        angles = np.deg2rad(np.arange(0, 360, 60.0))
        return np.max([u * np.cos(a) + v * np.sin(a) for a in angles], axis=0) - 0.8
    if shape == "ellipse":
        return (np.hypot(u, v / 0.5) - 0.95) * 0.5
    if shape == "crescent":
        return np.maximum(np.hypot(u, v) - 0.95, 0.7 - np.hypot(u - 0.45, v))
    if shape == "semicircle":
        return np.maximum(np.hypot(u, v) - 0.95, -v - 0.1)
    if shape == "bowtie":
        return np.maximum(np.abs(v) - 0.85 * np.abs(u) - 0.1, np.abs(u) - 0.9)
    raise ValueError(f"unknown shape {shape!r}")


def _texture(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """1 where the object shows its main colour, 0 where its dark second colour."""
    if texture in ("solid", "plain"):
        return np.ones_like(u)
    if texture == "stripes":
        return (np.sin(u * 2.2 * np.pi) > 0).astype(u.dtype)
    if texture == "checker":
        return ((np.floor(u / 0.55) + np.floor(v / 0.55)) % 2).astype(u.dtype)
    if texture == "dots":
        fu, fv = (u / 0.6) % 1 - 0.5, (v / 0.6) % 1 - 0.5
        return (np.hypot(fu, fv) > 0.3).astype(u.dtype)
    if texture == "rings":
        return (np.sin(np.hypot(u, v) * 3.0 * np.pi) > 0).astype(u.dtype)
    if texture == "grid":
        return ((np.abs((u / 0.5) % 1 - 0.5) > 0.15) & (np.abs((v / 0.5) % 1 - 0.5) > 0.15)).astype(u.dtype)
    if texture == "diagonals":
        return (np.sin((u + v) * 2.0 * np.pi) > 0).astype(u.dtype)
    raise ValueError(f"unknown texture {texture!r}")


def render(
    height: int,
    width: int,
    background: np.ndarray,
    tracks: list[Track],
    lighting: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Composite ``tracks`` (in order) over ``background`` ``(H, W, 3)``, light it → uint8 ``(T, H, W, 3)``.

    Each object is computed only inside a square window around it that moves with it (arrays
    ``(T, win, win)``), then blended frame by frame into a canvas padded on each side just enough
    that every window lies inside it (never clipped indices: repeated indices in a fancy-index
    write leave the result to numpy's iteration order, which made files depend on the process).
    Edges are anti-aliased: alpha = clip(0.5 − d·r·short, 0, 1) with d the shape distance; a pixel
    becomes p + alpha·(fill − p). ``lighting`` = (gain, offset) ``(T,)`` from `lighting_drift`:
    x → (x − 0.5)·gain + 0.5 + offset.
    """
    short = min(height, width)
    num_frames = len(tracks[0].cx) if tracks else len(lighting[0])
    half = max([int(np.ceil(float(tr.radius.max()) * short)) + 2 for tr in tracks] + [1])
    win = 2 * half
    origins = [(np.floor(tr.cx * short).astype(int) - half, np.floor(tr.cy * short).astype(int) - half)
               for tr in tracks]
    left = max([0] + [int(-ox.min()) for ox, _ in origins])
    right = max([0] + [int(ox.max()) + win - width for ox, _ in origins])
    top = max([0] + [int(-oy.min()) for _, oy in origins])
    bottom = max([0] + [int(oy.max()) + win - height for _, oy in origins])
    canvas = np.empty((num_frames, top + height + bottom, left + width + right, 3), np.float32)
    canvas[:] = np.pad(background.astype(np.float32), ((top, bottom), (left, right), (0, 0)))
    offsets = np.arange(win)
    for tr, (ox, oy) in zip(tracks, origins):
        cols, rows = ox[:, None] + offsets, oy[:, None] + offsets  # (T, win), image pixels
        xs = ((cols + 0.5) / short).astype(np.float32)[:, None, :]
        ys = ((rows + 0.5) / short).astype(np.float32)[:, :, None]
        dx, dy = xs - tr.cx[:, None, None].astype(np.float32), ys - tr.cy[:, None, None].astype(np.float32)
        c = np.cos(tr.angle).astype(np.float32)[:, None, None]
        s = np.sin(tr.angle).astype(np.float32)[:, None, None]
        r = tr.radius.astype(np.float32)[:, None, None]
        u, v = (c * dx + s * dy) / r, (-s * dx + c * dy) / r
        alpha = np.clip(0.5 - _shape_distance(tr.shape, u, v) * r * short, 0.0, 1.0)[..., None]
        tex = _texture(tr.texture, u, v)[..., None]
        colour = tr.colour.astype(np.float32)
        fill = tex * colour + (1 - tex) * (0.3 * colour)
        fill = np.where((np.hypot(u - 0.55, v) < 0.17)[..., None], np.float32(0.97), fill)
        for t in range(num_frames):  # a basic-slicing view per frame: faster than one fancy-index scatter
            y0, x0 = oy[t] + top, ox[t] + left
            view = canvas[t, y0 : y0 + win, x0 : x0 + win]
            view += alpha[t] * (fill[t] - view)
    out = canvas[:, top : top + height, left : left + width]
    gain, offset = (np.asarray(x, np.float32)[:, None, None, None] for x in lighting)
    out = out * (255 * gain) + (255 * (0.5 - 0.5 * gain + offset))  # 255 · ((x − 0.5)·gain + 0.5 + offset)
    return np.clip(np.rint(out, out=out), 0, 255, out=out).astype(np.uint8)
