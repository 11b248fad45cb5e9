"""Foreground–background merging (FAME): masks, the merge, and its use in pretraining pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vi2clr.data.background import foreground_mask, merge_foreground, static_background
from vi2clr.data.datasets import PretrainClips
from vi2clr.data.layouts import read_kinetics400

T, S = 8, 24


def moving_square(background: np.ndarray, gains: list[float], side: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A bright square sliding right over ``background`` under a per-frame lighting gain → (clip, where)."""
    frames, where = [], []
    h, w, _ = background.shape
    for t, g in enumerate(gains):
        f = np.clip(background.astype(np.float32) * g, 0, 255)
        m = np.zeros((h, w), bool)
        m[10:10 + side, 4 + 3 * t:4 + 3 * t + side] = True
        f[m] = (250, 20, 20)
        frames.append(f.round().astype(np.uint8))
        where.append(m)
    return np.stack(frames), np.stack(where)


@pytest.fixture
def textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:48]
    stripes = 60 * np.sin((xx + 2 * yy) / 2.0)[..., None]
    return np.clip(120 + stripes + rng.normal(0, 4, (32, 48, 3)), 0, 255).astype(np.uint8)


def test_static_background_drops_the_moving_object(textured):
    clip, _ = moving_square(textured, [1.0] * 12)
    bg = static_background(clip)
    assert bg.shape == textured.shape and bg.dtype == torch.uint8
    assert (bg.int() - torch.from_numpy(textured).int()).abs().max() <= 1


def test_mask_finds_the_mover_under_a_lighting_ramp_not_the_texture(textured):
    """Lighting changes by ±25 % over the clip; the mask still covers the square (its 1-pixel
    dilation aside) and almost none of the striped background."""
    gains = list(np.linspace(0.75, 1.25, T))
    clip, where = moving_square(textured, gains)
    bg = static_background(moving_square(textured, [1.0] * T)[0])
    mask = foreground_mask(clip, bg, fraction=0.15).numpy()
    assert mask[where].mean() > 0.99
    assert mask[~where].mean() < 0.06  # the dilation ring of each square, nothing else


def test_merge_puts_the_foreground_on_the_other_background(textured):
    clip, where = moving_square(textured, [1.0] * T)
    own = static_background(clip)
    other = torch.full((16, 24, 3), 7, dtype=torch.uint8)  # another size: resized to the clip's
    merged = merge_foreground(clip, own, other, fraction=0.15)
    assert merged.shape == clip.shape and merged.dtype == torch.uint8
    assert torch.equal(merged[torch.from_numpy(where)], torch.from_numpy(clip[where]))
    mask = foreground_mask(clip, own, 0.15)
    assert (merged[~mask] == 7).all()


@pytest.fixture(scope="module")
def k400(synth):
    return read_kinetics400(synth / "kinetics400", split="train")


def test_pretraining_pairs_with_swapped_backgrounds(k400):
    """p = 0 leaves the items bit-identical to a dataset without the option; p = 1 changes both
    clips; items stay reproducible per seed; an unreadable other video leaves the clip as it is."""
    plain = PretrainClips(k400, num_frames=T, size=S, seed=0)[3]
    off = PretrainClips(k400, num_frames=T, size=S, seed=0, background_swap=0.0)[3]
    assert all(torch.equal(plain[k], off[k]) for k in ("video1", "video2"))
    swapped = PretrainClips(k400, num_frames=T, size=S, seed=0, background_swap=1.0)
    item = swapped[3]
    assert not torch.equal(item["video1"], plain["video1"]) and not torch.equal(item["video2"], plain["video2"])
    again = PretrainClips(k400, num_frames=T, size=S, seed=0, background_swap=1.0)[3]
    assert torch.equal(item["video1"], again["video1"]) and torch.equal(item["image2"], again["image2"])
    assert len(swapped._backgrounds) == 3  # its own + one other per clip (or the same other twice)


def test_unreadable_other_video_leaves_the_clip_unchanged(synth_bad):
    index = read_kinetics400(synth_bad / "kinetics400", split="train")
    ds = PretrainClips(index, num_frames=T, size=S, seed=0, background_swap=1.0)
    items = [ds[i] for i in range(len(ds))]  # no exception: bad others are skipped, bad items are SkippedItems
    assert sum(isinstance(it, dict) for it in items) == len(ds) - 2


def test_an_unreadable_own_background_leaves_the_clip_as_it_is(k400):
    """A truncated video can give its clip and still fail on the frames its median background needs:
    the swap is then skipped, the item is kept, nothing is raised."""
    from vi2clr.data.video import VideoDecodeError

    ds = PretrainClips(k400, num_frames=T, size=S, seed=0, background_swap=1.0)
    plain = PretrainClips(k400, num_frames=T, size=S, seed=0)[3]
    own_path, open_video = str(k400.resolve(k400.samples[3])), ds._open

    class TruncatedPastTheClip:  # its clips decode, the frames its background needs do not
        def __init__(self, video):
            self.video = video

        def __getattr__(self, name):
            return getattr(self.video, name)

        def frames(self, indices):
            raise VideoDecodeError(own_path, "truncated past the clip")

    def open_all_but_own(path):
        video = open_video(path)
        return TruncatedPastTheClip(video) if str(path) == own_path else video

    ds._open = open_all_but_own
    item = ds[3]
    assert isinstance(item, dict)
    assert torch.equal(item["video1"], plain["video1"]) and torch.equal(item["video2"], plain["video2"])
