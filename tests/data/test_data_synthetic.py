"""The synthetic data: deterministic from the seed, real layouts, motion and appearance labels."""

from __future__ import annotations

import numpy as np
import pytest

from vi2clr.data.layouts import read_hmdb51, read_imagenet, read_kinetics400, read_ucf101, read_voc2007
from vi2clr.data.render import MOTIONS, SHAPES, TEXTURES, appearance_parts, motion_track
from vi2clr.data.synthetic import KINETICS_LABELS, preset_kwargs, write_synthetic
from vi2clr.data.video import VideoDecodeError, read_clip


def _indices(root):
    return {
        "k400-train": read_kinetics400(root / "kinetics400", split="train"),
        "k400-val": read_kinetics400(root / "kinetics400", split="val"),
        "ucf": read_ucf101(root / "ucf101", 1),
        "hmdb": read_hmdb51(root / "hmdb51", 1),
        "inet": read_imagenet(root / "imagenet", "train"),
        "voc": read_voc2007(root / "voc2007", "trainval"),
    }


def test_same_seed_gives_the_same_data(synth, synth_again):
    a, b = _indices(synth), _indices(synth_again)
    assert {k: v.digest() for k, v in a.items()} == {k: v.digest() for k, v in b.items()}
    texts = sorted(p.relative_to(synth) for p in synth.rglob("*") if p.suffix in {".csv", ".txt", ".json"})
    assert len(texts) > 20
    for rel in texts:  # annotations, split lists, subsets, sidecars, manifest: byte-identical
        assert (synth / rel).read_bytes() == (synth_again / rel).read_bytes(), rel
    for rel in ("imagenet/train/n00000001/n00000001_1.JPEG", "voc2007/VOCdevkit/VOC2007/JPEGImages/000003.jpg"):
        assert (synth / rel).read_bytes() == (synth_again / rel).read_bytes()
    video = a["k400-train"].samples[0].path
    frames_a = read_clip(synth / "kinetics400" / video, 12, start=0)
    assert np.array_equal(frames_a, read_clip(synth_again / "kinetics400" / video, 12, start=0))


def test_another_seed_gives_other_data(synth, tmp_path):
    other = write_synthetic(tmp_path, **preset_kwargs("tiny"), seed=1, layouts=("kinetics400",))
    assert other["layouts"]["kinetics400"]["videos"] == {"train": 8, "val": 4}
    assert read_kinetics400(tmp_path / "kinetics400").digest() != read_kinetics400(synth / "kinetics400").digest()


def test_videos_carry_motion_and_appearance_ids(synth):
    seen = set()
    for name, index in _indices(synth).items():
        if name in ("inet", "voc"):
            continue
        assert all({"motion", "appearance"} <= set(s.extra) for s in index.samples), name
        seen |= {(s.extra["motion"], s.extra["appearance"]) for s in index.samples}
    assert {m for m, _ in seen} == {a for _, a in seen} == set(range(4))
    for s in _indices(synth)["k400-train"].samples:  # the action class is the motion class
        assert s.label_name == KINETICS_LABELS[s.extra["motion"]]


def test_videos_are_real_h264_and_mpeg4_files(synth):
    import av

    k400 = read_kinetics400(synth / "kinetics400")
    ucf = read_ucf101(synth / "ucf101", 1)
    for index, codec, suffix in ((k400, "h264", ".mp4"), (ucf, "mpeg4", ".avi")):
        path = index.resolve(index.samples[0])
        with av.open(str(path)) as c:
            assert c.streams.video[0].codec_context.name == codec and path.suffix == suffix
        assert read_clip(path, 12).shape == (12, 32, 42, 3)


def test_corrupt_and_zero_length_options(synth_bad):
    index = read_kinetics400(synth_bad / "kinetics400")
    errors = []
    for s in index.samples:
        try:
            read_clip(index.resolve(s), 4)
        except VideoDecodeError as exc:
            errors.append(exc.reason)
    assert len(errors) == 2 and any("empty" in e for e in errors)


def test_appearances_are_distinct_shape_texture_pairs():
    pairs = {appearance_parts(a) for a in range(len(SHAPES) * len(TEXTURES))}
    assert len(pairs) == len(SHAPES) * len(TEXTURES)


def test_motion_shows_only_over_time():
    # the same motion class with other nuisance draws moves differently; a still object does not move
    rng = np.random.default_rng(0)
    still = motion_track(MOTIONS.index("still"), 10, 4 / 3, 0, rng)
    assert np.ptp(still.cx) == np.ptp(still.cy) == np.ptp(still.radius) == np.ptp(still.angle) == 0
    for m in range(len(MOTIONS) - 1):
        tr = motion_track(m, 10, 4 / 3, 0, rng)
        assert max(np.ptp(tr.cx), np.ptp(tr.cy), np.ptp(tr.radius), np.ptp(tr.angle)) > 0.05, MOTIONS[m]


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="num_motion must be in 1..10"):
        write_synthetic(tmp_path, num_motion=11)
    with pytest.raises(ValueError, match="unknown layouts"):
        write_synthetic(tmp_path, layouts=("kinetics600",))
    with pytest.raises(ValueError, match="unknown synthetic preset 'huge'"):
        preset_kwargs("huge")


@pytest.mark.slow
def test_default_size_writes_in_well_under_a_minute(tmp_path):
    summary = write_synthetic(tmp_path)
    assert summary["seconds"] < 60
    assert summary["layouts"]["kinetics400"]["videos"] == {"train": 320, "val": 96}
