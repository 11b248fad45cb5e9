"""Readers of the official layouts → one uniform index; the index's own guarantees."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vi2clr.config import SynthParams
from vi2clr.data.catalog import read_dataset
from vi2clr.data.index import Index, LayoutError, Sample
from vi2clr.data.layouts import VOC_CLASSES, read_hmdb51, read_imagenet, read_kinetics400, read_ucf101, read_voc2007
from vi2clr.data.subsets import make_kinetics_subset, make_semisup_subset
from vi2clr.errors import UserError

# ----------------------------------------------------------------------------- Kinetics-400

TINY = SynthParams.tiny()  # what the `synth` fixture wrote


def test_kinetics_nested_layout_with_quoted_labels_and_a_missing_video(synth):
    index = read_kinetics400(synth / "kinetics400", split="train")
    assert len(index) == TINY.num_motion * TINY.kinetics_train_per_class and len(index.missing) == 1
    assert index.classes == sorted(index.classes) and "spinning, in place" in index.classes
    assert all(index.resolve(s).is_file() for s in index.samples)
    assert all(s.path.startswith(f"train/{s.label_name}/") for s in index.samples)
    assert '"spinning, in place"' in (synth / "kinetics400/annotations/train.csv").read_text()
    val = read_kinetics400(synth / "kinetics400", synth / "kinetics400/annotations/val.csv", "val")
    assert len(val) == TINY.num_motion * TINY.kinetics_val_per_class and val.classes == index.classes
    assert read_kinetics400(synth / "kinetics400", synth / "kinetics400/annotations", "val").digest() == val.digest()


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("label,youtube_id,time_start,time_end,split,is_cc\n" + "".join(r + "\n" for r in rows))
    return path


def test_kinetics_flat_and_bare_ytid_layouts_in_mkv_and_webm(tmp_path, videos):
    shutil.copy(videos["mkv"], tmp_path / "abcdefghijk_000010_000020.mkv")
    shutil.copy(videos["webm"], tmp_path / "-bcdefghijk.webm")  # bare <ytid>.<ext>, as in some mirrors
    ann = _write_csv(tmp_path / "k.csv", ['"air drumming",abcdefghijk,10,20,train,0',
                                          '"abseiling, rock",-bcdefghijk,0.0,10.0,train,1',
                                          "archery,zzzzzzzzzzz,5,15,train,0", "archery,yyyyyyyyyyy,5,15,val,0"])
    index = read_kinetics400(tmp_path, ann, "train")
    assert index.classes == ["abseiling, rock", "air drumming", "archery"]
    assert [(s.path, s.label) for s in index.samples] == [("abcdefghijk_000010_000020.mkv", 1), ("-bcdefghijk.webm", 0)]
    assert index.missing == ["zzzzzzzzzzz_000005_000015"]


def test_kinetics_label_folders_with_underscores(tmp_path, videos):
    (tmp_path / "train" / "air_drumming").mkdir(parents=True)
    shutil.copy(videos["mp4"], tmp_path / "train/air_drumming/abcdefghijk_000010_000020.mp4")
    ann = _write_csv(tmp_path / "train.csv", ['"air drumming",abcdefghijk,10,20,train,0'])
    index = read_kinetics400(tmp_path, split="train")
    assert index.samples[0].path == "train/air_drumming/abcdefghijk_000010_000020.mp4" and ann.is_file()


def test_kinetics_bad_structure_fails_in_one_line(tmp_path):
    with pytest.raises(LayoutError, match=r"expected annotations/train.csv"):
        read_kinetics400(tmp_path, split="train")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(LayoutError, match="expected header label,youtube_id"):
        read_kinetics400(tmp_path, bad, "train")


# ----------------------------------------------------------------------------- UCF101 / HMDB51


def test_ucf101_splits_from_crlf_lists_and_labels_from_folders(synth):
    lists = synth / "ucf101/ucfTrainTestlist"
    assert b"\r\n" in (lists / "trainlist01.txt").read_bytes() and b"\r\n" in (lists / "classInd.txt").read_bytes()
    for split_no in (1, 2, 3):
        index = read_ucf101(synth / "ucf101", split_no)
        counts = index.counts()
        assert sum(counts["train"].values()) == 8 and sum(counts["test"].values()) == 4 and not index.missing
    odd = [s for s in index.samples if "/v_Riseup_" in s.path]  # file spelled differently from its folder
    assert odd and all(s.label_name == "RiseUp" and index.classes[s.label] == "RiseUp" for s in odd)
    assert index.classes == ["SlideSideways", "RiseUp", "FallDown", "SpinInPlace"]  # classInd order


def test_ucf101_missing_class_index_is_named(tmp_path):
    (tmp_path / "ucfTrainTestlist").mkdir()
    (tmp_path / "UCF-101").mkdir()
    with pytest.raises(LayoutError, match=rf"UCF101 root {tmp_path}: expected ucfTrainTestlist/classInd.txt$"):
        read_ucf101(tmp_path)


def test_hmdb51_tags_train_test_and_unused(synth):
    index = read_hmdb51(synth / "hmdb51", split_no=1)
    counts = index.counts()
    # 3 videos per class: one each tagged 1 (train), 2 (test) and 0 (unused)
    assert all(n == 1 for n in counts["train"].values()) and all(n == 1 for n in counts["test"].values())
    split_file = synth / "hmdb51/testTrainMulti_7030_splits" / f"{index.classes[0]}_test_split1.txt"
    unused = [line.split()[0] for line in split_file.read_text().splitlines() if line.split()[1] == "0"]
    assert unused and not any(s.path.endswith(unused[0]) for s in index.samples)
    with pytest.raises(LayoutError, match="expected folder testTrainMulti_7030_splits/"):
        read_hmdb51(synth / "ucf101")


# ----------------------------------------------------------------------------- ImageNet


def test_imagenet_splits_and_public_subset_lists(synth):
    train, val = read_imagenet(synth / "imagenet", "train"), read_imagenet(synth / "imagenet", "val")
    assert len(train) == 16 and len(val) == 8 and train.classes == val.classes == [f"n{a:08d}" for a in range(1, 5)]
    sub = read_imagenet(synth / "imagenet", "train", synth / "imagenet/subsets/10percent.txt")
    assert len(sub) == 4 and set(s.label for s in sub.samples) == {0, 1, 2, 3} and not sub.missing
    names = make_semisup_subset(train, 0.5, seed=3)
    assert names == make_semisup_subset(train, 0.5, seed=3) and len(names) == 8
    assert all(n.startswith(n.split("_")[0] + "_") and n.endswith(".JPEG") for n in names)
    assert names != make_semisup_subset(train, 0.5, seed=4)


def test_imagenet_subset_name_without_class_is_an_error(synth, tmp_path):
    bad = tmp_path / "sub.txt"
    bad.write_text("n99999999_1.JPEG\n")
    with pytest.raises(LayoutError, match="no class folder n99999999/"):
        read_imagenet(synth / "imagenet", "train", bad)
    with pytest.raises(LayoutError, match="expected folder train/<wnid>/"):
        read_imagenet(tmp_path, "train")


# ----------------------------------------------------------------------------- VOC2007


def test_voc_multilabel_targets_keep_difficult_distinct(synth):
    index = read_voc2007(synth / "voc2007", "trainval")
    assert len(index) == TINY.voc_trainval and index.classes == sorted(index.classes)  # synthetic class names: sorted
    targets = np.array([s.targets for s in index.samples])
    assert targets.shape == (TINY.voc_trainval, TINY.num_appearance) and set(np.unique(targets)) <= {-1, 0, 1}
    assert (targets >= 0).any(axis=1).all()  # every image holds at least one object
    test = np.array([s.targets for s in read_voc2007(synth / "voc2007", "test").samples])
    assert (np.concatenate([targets, test]) == 0).any()  # some small objects are marked difficult
    assert all(s.label == -1 for s in index.samples)


def _fake_voc(root: Path, classes: tuple[str, ...]) -> None:
    main = root / "VOCdevkit/VOC2007/ImageSets/Main"
    main.mkdir(parents=True)
    jpegs = root / "VOCdevkit/VOC2007/JPEGImages"
    jpegs.mkdir(parents=True)
    for image_id in ("000005", "000007"):
        Image.new("RGB", (8, 6)).save(jpegs / f"{image_id}.jpg")
    for k, name in enumerate(classes):
        rows = {0: "000005  1\n000007  0\n", 1: "000005 -1\n000007  1\n"}.get(k, "000005 -1\n000007 -1\n")
        (main / f"{name}_test.txt").write_text(rows)


def test_voc_standard_class_order_and_two_space_lines(tmp_path):
    _fake_voc(tmp_path, tuple(reversed(VOC_CLASSES)))
    index = read_voc2007(tmp_path, "test")
    assert index.classes == list(VOC_CLASSES)
    by_id = {s.path[-10:-4]: s.targets for s in index.samples}
    tv, sofa = VOC_CLASSES.index("tvmonitor"), VOC_CLASSES.index("train")  # reversed: tvmonitor first
    assert by_id["000005"][tv] == 1 and by_id["000007"][tv] == 0 and by_id["000007"][sofa] == 1


# ----------------------------------------------------------------------------- dispatch, subsets


def test_catalog_reads_each_dataset_by_name_from_params(synth):
    from vi2clr.config import DataParams

    data = DataParams(ucf101={"root": str(synth / "ucf101"), "split_no": 2},
                      kinetics400={"root": str(synth / "kinetics400")})
    test = read_dataset(data, "ucf101", "test")
    assert test.name == "ucf101-split2" and {s.split for s in test.samples} == {"test"}
    assert read_dataset(data, "kinetics400", "val").samples[0].split == "val"
    with pytest.raises(LayoutError, match="unknown dataset 'k700'"):
        read_dataset(data, "k700", "train")
    assert issubclass(LayoutError, UserError)


def test_kinetics_subset_is_deterministic_and_relabelled(synth):
    index = read_kinetics400(synth / "kinetics400", split="train")
    sub = make_kinetics_subset(index, num_classes=2, per_class=1, seed=7)
    assert sub.digest() == make_kinetics_subset(index, 2, 1, seed=7).digest()
    assert len(sub) == 2 and sub.classes == sorted(sub.classes) and [s.label for s in sub.samples] == [0, 1]
    assert all(sub.classes[s.label] == s.label_name for s in sub.samples)


# ----------------------------------------------------------------------------- the index itself


def _index(root: Path, *paths: str) -> Index:
    return Index("t", root, ["a"], [Sample(p, 0, "a", "train") for p in paths])


def test_resolve_rejects_paths_that_escape_the_root_lexically(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (root / "ok.mp4").write_bytes(b"x")
    index = _index(root, "ok.mp4", "../secret.mp4", str(tmp_path / "secret.mp4"), "a/../../secret.mp4")
    assert index.resolve(index.samples[0]) == root.absolute() / "ok.mp4"
    for sample in index.samples[1:]:
        with pytest.raises(LayoutError, match=rf"index entry .* root {root}") as info:
            index.resolve(sample)
        assert "\n" not in str(info.value)


def test_symlinked_files_and_folders_outside_the_root_are_data(tmp_path, videos):
    """Clusters keep data on other storage and link it in: a file or a class folder that is a symlink
    to somewhere outside the root is indexed, resolved and read like any other."""
    store = tmp_path / "store"
    (store / "folder").mkdir(parents=True)
    shutil.copy(videos["mp4"], store / "clip.mp4")
    shutil.copy(videos["mp4"], store / "folder" / "abcdefghijk_000010_000020.mp4")
    root = tmp_path / "k400"
    (root / "train" / "a").mkdir(parents=True)
    (root / "train" / "a" / "bcdefghijkl_000000_000010.mp4").symlink_to(store / "clip.mp4")
    (root / "train" / "b").symlink_to(store / "folder", target_is_directory=True)
    _write_csv(root / "train.csv", ["a,bcdefghijkl,0,10,train,0", "b,abcdefghijk,10,20,train,0"])
    index = read_kinetics400(root, split="train")
    assert sorted(s.path for s in index.samples) == ["train/a/bcdefghijkl_000000_000010.mp4",
                                                      "train/b/abcdefghijk_000010_000020.mp4"]
    from vi2clr.data.datasets import VideoClips

    ds = VideoClips(index, num_frames=4, size=16, mode="test", clips_per_video=1)
    assert all(ds[i]["video"].shape == (1, 3, 4, 16, 16) for i in range(len(ds)))
    loaded = Index.load(index.save(tmp_path / "idx" / "k.jsonl"))
    assert all(loaded.resolve(s).is_file() for s in loaded.samples)


def test_an_index_file_naming_a_path_outside_the_root_is_rejected_when_read(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    path = _index(root, "ok.mp4", "../x.mp4").save(tmp_path / "idx.jsonl")
    with pytest.raises(LayoutError, match=r"index entry '\.\./x\.mp4' is not a relative path"):
        Index.load(path)


def test_kinetics_csv_with_a_utf8_bom_is_read(tmp_path, videos):
    (tmp_path / "train" / "cat").mkdir(parents=True)
    shutil.copy(videos["mp4"], tmp_path / "train/cat/abcdefghijk_000010_000020.mp4")
    ann = tmp_path / "train.csv"
    ann.write_bytes("\ufefflabel,youtube_id,time_start,time_end,split,is_cc\ncat,abcdefghijk,10,20,train,0\n"
                    .encode("utf-8"))
    assert [s.label_name for s in read_kinetics400(tmp_path, split="train").samples] == ["cat"]


def test_save_load_roundtrip_with_relative_root_and_override(synth, tmp_path):
    index = read_ucf101(synth / "ucf101", 1)
    path = index.save(tmp_path / "idx" / "ucf.jsonl")
    header = path.read_text().splitlines()[0]
    assert str(tmp_path) not in header  # no absolute paths in the versioned file
    loaded = Index.load(path)
    assert loaded.root == (synth / "ucf101").resolve() and loaded.digest() == index.digest()
    assert loaded.samples[0].extra == index.samples[0].extra
    assert Index.load(path, root=tmp_path).root == tmp_path


def test_digest_is_stable_and_sensitive(synth):
    a, b = read_hmdb51(synth / "hmdb51", 1), read_hmdb51(synth / "hmdb51", 1)
    assert a.digest() == b.digest() and a.digest() != read_hmdb51(synth / "hmdb51", 2).digest()
    b.samples[0].label = 1 - b.samples[0].label
    assert a.digest() != b.digest()
    b = read_hmdb51(synth / "hmdb51", 1)
    b.samples[0].extra["num_frames"] = 99  # probed facts are not part of the identity
    assert a.digest() == b.digest()


def test_select_and_counts(synth):
    index = read_ucf101(synth / "ucf101", 1)
    test = index.select("test")
    assert {s.split for s in test.samples} == {"test"} and test.classes == index.classes
    assert index.counts()["test"] == test.counts()["test"]
