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
