"""Clip reading: codecs, resizing at decode, temporal indexing, loop padding, bad files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from vi2clr.data.video import (
    VideoDecodeError,
    VideoFile,
    center_start,
    clip_indices,
    middle_frame_index,
    probe_video,
    random_start,
    read_clip,
    resized_size,
    sliding_window_starts,
    torchcodec_available,
    uniform_starts,
)


@pytest.mark.parametrize("kind", ["mp4", "mkv", "avi", "webm"])
def test_every_container_and_codec_decodes_with_decord(videos, levels, kind):
    # H.264 mp4/mkv, MPEG-4 Part 2 avi and VP9 webm all decode with decord (no PyAV fallback needed)
    clip = read_clip(videos[kind], num_frames=4, stride=3, start=2)
    assert clip.dtype == np.uint8 and clip.shape == (4, 48, 64, 3)
    assert levels(clip) == [2, 5, 8, 11]


def test_probe_reports_frames_fps_and_size(videos):
    info = probe_video(videos["mp4"])
    assert (info.num_frames, info.width, info.height) == (20, 64, 48)
    assert info.fps == pytest.approx(25.0)


def test_short_side_is_resized_at_decode_keeping_aspect(videos):
    assert read_clip(videos["qvga"], 2, short_side=32).shape == (2, 32, 43, 3)
    assert read_clip(videos["portrait"], 2, short_side=30).shape == (2, 40, 30, 3)
    # decord cannot resize to a few widths (24 among them): one pixel wider instead
    assert read_clip(videos["portrait"], 2, short_side=24).shape == (2, 32, 25, 3)
    assert resized_size(320, 240, None) == (320, 240)


def test_centre_clip_is_the_default_start(videos, levels):
    assert levels(read_clip(videos["mp4"], num_frames=4, stride=2)) == [6, 8, 10, 12]


def test_short_video_is_padded_by_looping(videos, levels):
    clip = read_clip(videos["short"], num_frames=12, stride=1)
    assert clip.shape[0] == 12
    assert levels(clip) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]


def test_two_clips_from_one_decode_pass(videos, levels):
    first, second = VideoFile(videos["mp4"]).clips([0, 15], num_frames=3, stride=2)
    assert levels(first) == [0, 2, 4] and levels(second) == [15, 17, 19]


@pytest.mark.parametrize("kind, reason", [("truncated", "truncated|unreadable|corrupt"), ("empty", "empty file"),
                                          ("garbage", "unreadable|corrupt|truncated"), ("absent", "no such file")])
def test_bad_files_raise_video_decode_error_naming_the_file(videos, kind, reason):
    with pytest.raises(VideoDecodeError, match=reason) as info:
        read_clip(videos[kind], 4)
    assert str(videos[kind]) in str(info.value) and "\n" not in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))  # crosses DataLoader worker boundaries
    assert (again.path, again.reason) == (info.value.path, info.value.reason)


def test_clip_indices_and_starts():
    assert clip_indices(3, 4, 2, 100).tolist() == [3, 5, 7, 9]
    assert clip_indices(0, 5, 1, 3).tolist() == [0, 1, 2, 0, 1]
    assert center_start(20, 4, 2) == 6 and center_start(5, 8, 1) == 0
    rng = np.random.default_rng(0)
    starts = {random_start(20, 4, 2, rng) for _ in range(300)}
    assert starts == set(range(0, 14))  # span 7 → starts 0..13
    assert random_start(5, 8, 1, rng) == 0
    assert sliding_window_starts(20, 4, 1, 4) == [0, 4, 8, 12, 16]
    assert sliding_window_starts(3, 4, 1, 4) == [0]
    assert uniform_starts(20, 4, 1, 3) == [0, 8, 16]
    assert middle_frame_index(32) == 16 and middle_frame_index(5) == 2


# ---------------------------------------------------------------- torchcodec backend

_NO_TORCHCODEC = torchcodec_available()
needs_torchcodec = pytest.mark.skipif(_NO_TORCHCODEC is not None, reason=str(_NO_TORCHCODEC))


@pytest.fixture(scope="module")
def textured(tmp_path_factory) -> dict[str, object]:
    """A moving colour texture (40 frames, 64x48) as H.264 mp4, MPEG-4 avi and VP9 webm."""
    from vi2clr.data.encode import encode_video

    t, y, x = np.arange(40)[:, None, None], np.arange(48)[None, :, None], np.arange(64)[None, None, :]
    frames = np.stack([(128 + 100 * np.sin((x + 3 * t) / 7 + c) * np.cos(y / 9)).astype(np.uint8) for c in range(3)], -1)
    d = tmp_path_factory.mktemp("textured")
    return {ext: encode_video(d / f"tex.{ext}", frames, 25, codec)
            for ext, codec in [("mp4", "libx264"), ("avi", "mpeg4"), ("webm", "libvpx-vp9")]}


@needs_torchcodec
@pytest.mark.parametrize("kind", ["mp4", "avi", "webm"])
def test_torchcodec_returns_the_same_frames_as_decord(textured, kind):
    idx = [0, 5, 17, 39, 3, 5]
    a, b = VideoFile(textured[kind], decoder="decord"), VideoFile(textured[kind], decoder="torchcodec")
    assert (a.num_frames, a.fps, a.width, a.height) == (b.num_frames, b.fps, b.width, b.height) == (40, 25.0, 64, 48)
    fa, fb = a.frames(idx), b.frames(idx)
    assert fb.dtype == np.uint8 and fb.shape == fa.shape == (6, 48, 64, 3)
    assert np.abs(fa.astype(np.int16) - fb).max() <= 1  # same FFmpeg decoder, same colour conversion


@needs_torchcodec
@pytest.mark.parametrize("kind", ["mp4", "avi", "webm"])
def test_torchcodec_resize_at_decode_matches_decord_closely(textured, kind):
    a, b = VideoFile(textured[kind], 32, "decord"), VideoFile(textured[kind], 32, "torchcodec")
    fa, fb = a.clip(3, 8, 2), b.clip(3, 8, 2)
    assert fa.shape == fb.shape == (8, 32, 43, 3)
    diff = np.abs(fa.astype(np.int16) - fb)
    # swscale with different filters (bilinear vs bicubic): small on average, larger at sharp edges
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 8


@needs_torchcodec
def test_torchcodec_clips_loop_and_bad_files_raise(videos, levels):
    v = VideoFile(videos["short"], decoder="torchcodec")
    assert levels(v.clip(3, 4, 1)) == [3, 4, 0, 1]
    c1, c2 = VideoFile(videos["mp4"], decoder="torchcodec").clips([0, 10], 4, 2)
    assert levels(c1) == [0, 2, 4, 6] and levels(c2) == [10, 12, 14, 16]
    with pytest.raises(VideoDecodeError, match="truncated|unreadable|corrupt|frames"):
        v = VideoFile(videos["truncated"], decoder="torchcodec")
        v.frames(range(v.num_frames))


def test_unknown_decoder_is_rejected(videos):
    with pytest.raises(ValueError, match="decoder must be one of"):
        VideoFile(videos["mp4"], decoder="pyav")


def test_a_decoder_the_machine_cannot_run_is_a_user_error(videos, monkeypatch):
    import vi2clr.data.video as video_module
    from vi2clr.errors import UserError

    monkeypatch.setattr(video_module, "torchcodec_available", lambda: "torchcodec unusable (ImportError: no module)")
    with pytest.raises(UserError, match="data.decoder=torchcodec: torchcodec unusable") as info:
        VideoFile(videos["mp4"], decoder="torchcodec")
    assert info.value.exit_code == 2
    monkeypatch.setattr(video_module, "torchcodec_available", lambda: None)
    monkeypatch.setattr(video_module.torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA device"):
        VideoFile(videos["mp4"], decoder="torchcodec-cuda")


@pytest.mark.skipif(_NO_TORCHCODEC is not None or not __import__("torch").cuda.is_available(),
                    reason="needs torchcodec, FFmpeg's libraries and a CUDA device (NVDEC)")
@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_nvdec_returns_the_frames_the_cpu_decoder_returns(textured, kind):
    idx = [0, 5, 17, 39]
    cpu = VideoFile(textured[kind], decoder="torchcodec").frames(idx)
    gpu = VideoFile(textured[kind], decoder="torchcodec-cuda").frames(idx)
    assert gpu.device.type == "cuda" and gpu.shape == cpu.shape
    # NVDEC's YUV -> RGB conversion may differ from swscale's by a few levels
    assert np.abs(gpu.cpu().numpy().astype(np.int16) - cpu).mean() < 3.0
