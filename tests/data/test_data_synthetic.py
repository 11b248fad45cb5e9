"""The synthetic data: deterministic from the seed, real layouts, motion and appearance labels."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vi2clr.config import SynthParams
from vi2clr.data.layouts import read_hmdb51, read_imagenet, read_kinetics400, read_ucf101, read_voc2007
from vi2clr.data.render import FAMILIES, MOTIONS, SHAPES, TEXTURES, appearance_parts, motion_track
from vi2clr.data.synthetic import CLASS_NAMES, item_rngs, render_video, write_synthetic
from vi2clr.data.video import VideoDecodeError, read_clip

KINETICS_LABELS = CLASS_NAMES["default"].kinetics


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
    other = write_synthetic(tmp_path, SynthParams.tiny(seed=1), layouts=("kinetics400",))
    assert other["layouts"]["kinetics400"]["videos"] == {"train": 16, "val": 8}
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
    for family in FAMILIES:
        pairs = {appearance_parts(a, family) for a in range(len(SHAPES) * len(TEXTURES))}
        assert len(pairs) == len(SHAPES) * len(TEXTURES)


def test_motion_shows_only_over_time():
    # the same motion class with other nuisance draws moves differently; a still object does not move
    rng, look = np.random.default_rng(0), (("disc", "solid"), np.ones(3))
    still = motion_track("default", MOTIONS.index("still"), *look, 10, 4 / 3, rng, (0.25, 0.35), 1.5)
    assert np.ptp(still.cx) == np.ptp(still.cy) == np.ptp(still.radius) == np.ptp(still.angle) == 0
    for family, f in FAMILIES.items():
        for m, name in enumerate(f.motions):
            if name == "still":
                continue
            tr = motion_track(family, m, *look, 10, 4 / 3, rng, (0.25, 0.35), 1.5)
            assert max(np.ptp(tr.cx), np.ptp(tr.cy), np.ptp(tr.radius), np.ptp(tr.angle)) > 0.05, name


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="num_motion"):
        write_synthetic(tmp_path, num_motion=11)
    with pytest.raises(ValueError, match="unknown layouts"):
        write_synthetic(tmp_path, layouts=("kinetics600",))
    with pytest.raises(ValueError, match="ucf_test_groups"):
        SynthParams(ucf_groups=3, ucf_test_groups=3)
    with pytest.raises(ValueError, match="no train video"):
        SynthParams(hmdb_per_class=10, hmdb_test_per_class=9)


def _tree_digest(root: Path) -> str:
    """sha256 over (relative path, bytes) of every file under ``root``, in sorted path order."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _synth_in_subprocess(root: Path, hash_seed: str, workers: int) -> str:
    code = ("import sys; from vi2clr.config import SynthParams; from vi2clr.data.synthetic import write_synthetic; "
            f"write_synthetic(sys.argv[1], SynthParams.tiny(workers={workers}, size=48, object_radius=(0.3, 0.5)))")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": str(workers)}
    subprocess.run([sys.executable, "-c", code, str(root)], env=env, check=True, timeout=300)
    return _tree_digest(root)


def test_files_are_byte_identical_across_processes_hash_seeds_and_workers(tmp_path):
    # large objects so that circling / bouncing ones leave the frame (the case that once depended on the process)
    a = _synth_in_subprocess(tmp_path / "a", "1", workers=1)
    b = _synth_in_subprocess(tmp_path / "b", "4242", workers=3)
    differ = [p.relative_to(tmp_path / "a") for p in sorted((tmp_path / "a").rglob("*"))
              if p.is_file() and p.read_bytes() != (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes()]
    assert a == b, differ
    assert len([p for p in (tmp_path / "a").rglob("*") if p.is_file()]) > 100


def test_nuisances_do_not_depend_on_the_label():
    # the same item with another motion / appearance class: same background, colour and lighting
    p = SynthParams.tiny()
    clips = [render_video(m, a, 32, 42, 12, item_rngs(p, "kinetics400", "train", 7), p) for m, a in ((0, 0), (3, 2))]
    corner = (slice(None), slice(0, 3), slice(0, 3))  # the objects never reach the top-left corner here
    differs = np.abs(clips[0].astype(int) - clips[1]).max(axis=-1) > 0
    assert differs.any() and not differs[corner].any()


def test_nuisances_are_strong_and_vary_between_videos():
    p = SynthParams()
    clips = np.stack([render_video(0, 0, 64, 86, 32, item_rngs(p, "kinetics400", "train", k), p) for k in range(6)])
    x = clips.astype(float) / 255
    assert x[:, 0].std(axis=(1, 2)).mean() > 0.1  # textured background of real contrast within a frame
    mean_rgb = x.mean(axis=(1, 2, 3))  # (videos, 3): colours differ between videos
    assert np.ptp(mean_rgb, axis=0).max() > 0.15
    brightness = x.mean(axis=(2, 3, 4))  # (videos, T): lighting drifts over each clip
    assert np.abs(brightness[:, -1] - brightness[:, 0]).max() > 0.05


def test_validation_family_has_other_classes_and_loads(tmp_path):
    summary = write_synthetic(tmp_path, SynthParams.tiny(family="validation"))
    default = FAMILIES["default"]
    assert not set(summary["motions"]) & set(default.motions)
    assert not {a.split("_")[0] for a in summary["appearances"]} & set(default.shapes)
    index = _indices(tmp_path)
    assert index["k400-train"].samples[0].label_name in CLASS_NAMES["validation"].kinetics
    assert len(index["ucf"].select("test")) > 0 and len(index["hmdb"].select("test")) > 0
    assert len(index["voc"]) == 80 and len(index["inet"]) == 16


def test_default_test_splits_hold_about_400_items():
    p = SynthParams()
    c = p.num_motion
    assert p.kinetics_val_per_class * c >= 400
    assert p.ucf_test_groups * p.ucf_clips_per_group * c >= 400
    assert p.hmdb_test_per_class * c >= 400
    assert p.imagenet_val_per_class * p.num_appearance >= 400 and p.voc_test >= 400


@pytest.mark.slow
def test_default_size_writes_in_well_under_a_minute(tmp_path):
    summary = write_synthetic(tmp_path)
    assert summary["seconds"] < 180  # 86–101 s measured on the shared 2-vCPU machine under load
    assert summary["layouts"]["kinetics400"]["videos"] == {"train": 320, "val": 400}
