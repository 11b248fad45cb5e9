"""Session fixtures for the data-layer tests: tiny synthetic layouts and a few odd video files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vi2clr.config import SynthParams
from vi2clr.data.encode import encode_video
from vi2clr.data.synthetic import write_synthetic


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Small clip ops run faster single-threaded (as in DataLoader workers); restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    """The tiny synthetic data set (all five layouts), seed 0."""
    root = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic(root, SynthParams.tiny())
    return root


@pytest.fixture(scope="session")
def synth_again(tmp_path_factory) -> Path:
    """A second tiny write with the same seed, elsewhere (for determinism)."""
    root = tmp_path_factory.mktemp("synth_again") / "data"
    write_synthetic(root, SynthParams.tiny(), workers=1)
    return root


@pytest.fixture(scope="session")
def synth_bad(tmp_path_factory) -> Path:
    """Tiny Kinetics only, with one truncated and one zero-length train video."""
    root = tmp_path_factory.mktemp("synth_bad") / "data"
    write_synthetic(root, SynthParams.tiny(corrupt=1, zero_length=1), layouts=("kinetics400",))
    return root


def gray_ramp(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames of uniform grey, frame t at level 16 + 12 t (so decoded frames identify themselves)."""
    levels = (16 + 12 * np.arange(num_frames)).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()


def frame_levels(clip: np.ndarray) -> list[int]:
    """Decoded frame → the t of its grey level (inverse of gray_ramp)."""
    return [int(round((float(f.mean()) - 16) / 12)) for f in clip]


@pytest.fixture(scope="session")
def levels():
    """The function mapping decoded grey-ramp frames back to their frame numbers."""
    return frame_levels


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Grey-ramp videos in every container/codec we read, a 5-frame one, a 320x240 one, and bad files."""
    d = tmp_path_factory.mktemp("videos")
    ramp = gray_ramp(20)
    out = {
        "mp4": encode_video(d / "ramp.mp4", ramp, 25, "libx264"),
        "mkv": encode_video(d / "ramp.mkv", ramp, 25, "libx264"),
        "avi": encode_video(d / "ramp.avi", ramp, 25, "mpeg4"),
        "webm": encode_video(d / "ramp.webm", ramp, 25, "libvpx-vp9"),
        "short": encode_video(d / "short.mp4", gray_ramp(5), 25, "libx264"),
        "qvga": encode_video(d / "qvga.mp4", gray_ramp(8, 240, 320), 25, "libx264"),
        "portrait": encode_video(d / "portrait.mp4", gray_ramp(4, 64, 48), 25, "libx264"),
    }
    data = out["mp4"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (d / "empty.mp4").write_bytes(b"")
    (d / "garbage.avi").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    out.update(truncated=d / "truncated.mp4", empty=d / "empty.mp4", garbage=d / "garbage.avi", absent=d / "absent.mp4")
    return out
