"""torch Datasets: pretraining pairs, centre clips, evaluation clips, images, bad files, loader."""

from __future__ import annotations

import pytest
import torch

from vi2clr.data.datasets import (
    ImageFolderIndex,
    PretrainClips,
    SkipLog,
    SkippedItem,
    VideoClips,
    collate_skip_bad,
    make_loader,
)
from vi2clr.data.layouts import read_imagenet, read_kinetics400, read_ucf101, read_voc2007
from vi2clr.data.transforms import image_eval_transform
from vi2clr.data.video import torchcodec_available

T, S = 8, 24


@pytest.fixture(scope="module")
def k400(synth):
    return read_kinetics400(synth / "kinetics400", split="train")


def test_pretrain_item_has_two_augmented_clips_and_their_middle_frames(k400):
    item = PretrainClips(k400, num_frames=T, size=S, seed=0)[3]
    assert set(item) == {"video1", "video2", "image1", "image2", "index"} and item["index"] == 3
    assert item["video1"].shape == item["video2"].shape == (3, T, S, S)
    assert item["image1"].shape == (3, S, S) and item["image1"].dtype == torch.float32
    assert torch.equal(item["image1"], item["video1"][:, T // 2])
    assert torch.equal(item["image2"], item["video2"][:, T // 2])
    assert not torch.equal(item["video1"], item["video2"])  # independent crops and augmentations


def test_pretrain_items_are_reproducible_per_seed_and_epoch(k400):
    ds = PretrainClips(k400, num_frames=T, size=S, seed=0)
    first = ds[1]["video1"]
    assert torch.equal(first, PretrainClips(k400, num_frames=T, size=S, seed=0)[1]["video1"])
    assert not torch.equal(first, PretrainClips(k400, num_frames=T, size=S, seed=1)[1]["video1"])
    ds.set_epoch(1)
    assert ds.epoch == 1 and not torch.equal(first, ds[1]["video1"])
    state = torch.get_rng_state()
    ds[2]
    assert torch.equal(state, torch.get_rng_state())  # the global torch RNG is left alone


def test_both_clips_come_from_one_open_and_one_decode_pass(k400, monkeypatch):
    import vi2clr.data.datasets as datasets_module
    from vi2clr.data.video import VideoFile

    opened, decoded = [], []

    class Counting(VideoFile):
        def __init__(self, *args, **kwargs):
            opened.append(args[0])
            super().__init__(*args, **kwargs)

        def _decode(self, unique):
            decoded.append(len(unique))
            return super()._decode(unique)

    monkeypatch.setattr(datasets_module, "VideoFile", Counting)
    item = PretrainClips(k400, num_frames=T, size=S, seed=0)[4]
    assert len(opened) == 1 and len(decoded) == 1 and item["video1"].shape == (3, T, S, S)


_NO_TORCHCODEC = torchcodec_available()


@pytest.mark.skipif(_NO_TORCHCODEC is not None, reason=str(_NO_TORCHCODEC))
@pytest.mark.parametrize("mode", ["train", "center"])
def test_torchcodec_decoder_gives_the_same_items_as_decord(k400, mode):
    a = PretrainClips(k400, num_frames=T, size=S, seed=0, mode=mode)[2]
    b = PretrainClips(k400, num_frames=T, size=S, seed=0, mode=mode, decoder="torchcodec")[2]
    assert a.keys() == b.keys()
    for key in a:
        if key != "index":  # same frames, same draws; within 1 grey level of rounding (/ std ≈ 0.23)
            assert torch.allclose(a[key], b[key], atol=1 / 255 / 0.22 + 1e-4), key


def test_unknown_decoder_is_rejected_by_the_dataset(k400):
    with pytest.raises(ValueError, match="decoder must be one of"):
        PretrainClips(k400, decoder="pyav")


def test_centre_mode_is_deterministic(k400):
    ds = PretrainClips(k400, num_frames=T, size=S, mode="center")
    a, b = ds[0], ds[0]
    assert set(a) == {"video", "image", "index"} and a["video"].shape == (3, T, S, S)
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["image"], a["video"][:, T // 2])


def test_bad_files_are_skipped_with_one_line_each(synth_bad, caplog):
    """Unreadable files become placeholders; the main process prints one line per file for the run
    (SkipLog), not a Python warning from a worker once per epoch."""
    import logging
    import warnings

    index = read_kinetics400(synth_bad / "kinetics400", split="train")
    ds = PretrainClips(index, num_frames=T, size=S)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Python warning from the dataset any more
        items = [ds[i] for i in range(len(ds))] + [ds[0], ds[1]]
    bad = [it for it in items if isinstance(it, SkippedItem)]
    assert len({b.path for b in bad}) == 2  # truncated + zero-length
    assert any("empty file" in b.reason for b in bad)
    batch = collate_skip_bad(items[:4] + [None])
    assert batch["skipped"] == 3 and len(batch["index"]) == 2 and len(batch["skipped_paths"]) == 3
    assert batch["video1"].shape == (2, 3, T, S, S)
    skips = SkipLog()
    batches = [collate_skip_bad(items[k:k + 4]) for k in range(0, len(items), 4)]
    with caplog.at_level(logging.WARNING, logger="vi2clr.data.datasets"):
        for _epoch in range(3):
            list(skips.watch(batches))
    lines = [r.getMessage() for r in caplog.records if "skipping unreadable file" in r.getMessage()]
    assert len(lines) == 2 and all(any(f"file {path}:" in line for line in lines) for path in {b.path for b in bad})


def test_all_bad_batch_has_zero_items():
    batch = collate_skip_bad([None, SkippedItem(0, "x.mp4", "empty file (0 bytes)")])
    assert len(batch["index"]) == 0 and batch["skipped"] == 2 and batch["skipped_paths"] == ["<unknown>", "x.mp4"]


def test_loader_with_workers_gives_the_same_batches_as_without(k400):
    # items depend on (seed, epoch, index) only; set_epoch reaches persistent workers
    ds = PretrainClips(k400, num_frames=4, size=16, seed=0)
    parallel = make_loader(ds, 4, num_workers=2, persistent_workers=True, seed=5)
    first_batches = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        got = [b["video1"] for b in parallel]
        expected = [b["video1"] for b in make_loader(ds, 4, seed=5)]
        assert len(got) == len(expected) >= 2 and all(torch.equal(a, b) for a, b in zip(got, expected)), epoch
        first_batches.append(got[0])
    assert not torch.equal(*first_batches)


def test_video_clips_train_test_and_windows(synth):
    index = read_ucf101(synth / "ucf101", 1)
    train = VideoClips(index, num_frames=4, size=S, mode="train")[0]
    assert train["video"].shape == (3, 4, S, S) and train["label"] == index.samples[0].label
    test = VideoClips(index, num_frames=4, size=S, mode="test", clips_per_video=3)[1]
    assert test["video"].shape == (3, 3, 4, S, S) and test["index"] == 1
    windows = VideoClips(index, num_frames=4, size=S, mode="windows", window_stride=2)[0]
    assert windows["video"].shape == (5, 3, 4, S, S)  # 12 frames: starts 0, 2, 4, 6, 8
    capped = VideoClips(index, num_frames=4, size=S, mode="windows", window_stride=2, max_windows=2)[0]
    assert capped["video"].shape[0] == 2


def test_image_datasets_for_imagenet_and_voc(synth):
    inet = ImageFolderIndex(read_imagenet(synth / "imagenet", "val"), image_eval_transform(S))
    item = inet[0]
    assert item["image"].shape == (3, S, S) and item["label"] == 0 and "targets" not in item
    voc = ImageFolderIndex(read_voc2007(synth / "voc2007", "test"), image_eval_transform(S))
    batch = next(iter(make_loader(voc, batch_size=4)))
    assert batch["targets"].shape == (4, 4) and batch["image"].shape == (4, 3, S, S) and batch["skipped"] == 0


def test_decoded_cache_gives_the_same_batches_every_epoch_as_decoding(synth_bad):
    """The cache changes nothing but speed: the same batches over two epochs as workers that decode
    every epoch (bad files still skipped), each video decoded once, and the second epoch new clips."""
    from vi2clr.data.datasets import decoded_cache_for

    index = read_kinetics400(synth_bad / "kinetics400", split="train")
    cache = decoded_cache_for(index, 2**26)
    assert cache is not None
    for cls, kw in ((PretrainClips, {}), (VideoClips, {"mode": "train"})):
        plain, cached = cls(index, num_frames=4, size=16, **kw), cls(index, num_frames=4, size=16, cache=cache, **kw)
        key = "video1" if cls is PretrainClips else "video"
        firsts = []
        for epoch in (0, 1):
            plain.set_epoch(epoch)
            cached.set_epoch(epoch)
            got = list(make_loader(cached, 4, shuffle=True, seed=3))
            expected = list(make_loader(plain, 4, shuffle=True, num_workers=2, seed=3))
            assert [b["index"].tolist() for b in got] == [b["index"].tolist() for b in expected]
            assert all(torch.equal(a[key], b[key]) for a, b in zip(got, expected)), (cls.__name__, epoch)
            assert sum(b["skipped"] for b in got) == sum(b["skipped"] for b in expected) == 2
            firsts.append(got[0][key])
        assert not torch.equal(*firsts)
    assert len(cache) == len(index.samples) - 2  # the truncated and the empty file are never cached


def test_decoded_cache_keeps_videos_within_its_budget(videos, levels, monkeypatch):
    import vi2clr.data.video as video_module
    from vi2clr.data.video import DecodedVideo, DecodedVideoCache, VideoDecodeError, VideoFile

    for kind in ("mp4", "avi", "webm"):  # the same frames as a decode of the clip's indices
        whole = DecodedVideoCache(2**20).open(videos[kind])
        assert isinstance(whole, DecodedVideo) and whole.num_frames == 20
        assert levels(whole.clip(15, 4, 2)) == [15, 17, 19, 1]  # looped past the end, like VideoFile
        assert (whole.clips([3], 4, 2)[0] == VideoFile(videos[kind]).clip(3, 4, 2)).all()
    one_video = 20 * 48 * 64 * 3
    cache = DecodedVideoCache(one_video)
    first = cache.open(videos["mp4"])
    decodes = []
    monkeypatch.setattr(video_module.VideoFile, "decode_all",
                        lambda self: decodes.append(self.path) or DecodedVideo(self.frames(range(self.num_frames))))
    assert cache.open(videos["mp4"]) is first and decodes == []  # kept: no second decode
    assert not isinstance(cache.open(videos["avi"]), VideoFile) and cache.full  # decoded, did not fit
    assert type(cache.open(videos["webm"])) is VideoFile and len(decodes) == 1  # full: plain reads from now on
    assert len(cache) == 1 and cache.used == one_video
    with pytest.raises(VideoDecodeError):
        DecodedVideoCache(2**20).open(videos["empty"])


def test_decoded_cache_only_when_the_whole_split_fits(synth):
    from vi2clr.data.datasets import decoded_cache_for
    from vi2clr.data.video import VideoFile

    index = read_ucf101(synth / "ucf101", 1)
    first = VideoFile(index.resolve(index.samples[0]))
    whole = len(index.samples) * first.num_frames * first.height * first.width * 3
    assert decoded_cache_for(index, whole).max_bytes == whole
    assert decoded_cache_for(index, whole - 1) is None  # real data sets: decode every epoch in workers
    assert decoded_cache_for(index, 0) is None


def test_a_shared_cache_serves_each_split_that_fits_what_is_left(synth):
    """An evaluation suite keeps one cache for all its protocols: a split uses it while the videos
    the cache lacks fit in what is left; a split it holds already costs nothing."""
    from vi2clr.data.datasets import decoded_cache_for
    from vi2clr.data.video import DecodedVideoCache, VideoFile

    ucf = read_ucf101(synth / "ucf101", 1)
    train, test = ucf.select("train"), ucf.select("test")
    first = VideoFile(train.resolve(train.samples[0]))
    per_video = first.num_frames * first.height * first.width * 3
    shared = DecodedVideoCache(per_video * (len(train.samples) + len(test.samples) - 1))
    assert decoded_cache_for(train, shared.max_bytes, shared=shared) is shared
    for i in range(len(train)):
        VideoClips(train, num_frames=4, size=16, mode="test", clips_per_video=2, cache=shared)[i]
    assert len(shared) == len(train.samples) and shared.used == per_video * len(train.samples)
    assert decoded_cache_for(train, shared.max_bytes, shared=shared) is shared  # held: nothing to add
    assert decoded_cache_for(test, shared.max_bytes, shared=shared) is None  # one video short: workers decode
    assert decoded_cache_for(test, 0, shared=DecodedVideoCache(0)) is None


def test_an_evaluation_suite_decodes_each_video_once_across_protocols(synth, tmp_path, monkeypatch):
    """The video linear probe, retrieval and fine-tuning of a suite read one decoded copy of each video."""
    import vi2clr.data.video as video_module
    from tests._support import tiny_params
    from vi2clr.commands.evaluate.context import EvalContext
    from vi2clr.commands.evaluate.inputs import video_features, video_index, video_test_loader, video_train_loader
    from vi2clr.config import Params

    p = Params.model_validate(tiny_params({"data.ucf101.root": str(synth / "ucf101"),
                                           "eval.feature_cache": str(tmp_path / "features"),
                                           "data.decoded_store": str(tmp_path / "decoded")}))  # empty store
    ctx = EvalContext(p, "t", None, {})
    encoder, _, digest = ctx.encoder("video")
    train, test = video_index(p, "ucf101", "train"), video_index(p, "ucf101", "test")
    decodes = []
    real = video_module.VideoFile.decode_all
    monkeypatch.setattr(video_module.VideoFile, "decode_all", lambda self: decodes.append(self.path) or real(self))
    video_features(ctx, encoder, digest, train, "test")
    video_features(ctx, encoder, digest, test, "test")
    video_features(ctx, encoder, "other", test, "windows")
    for loader in (video_train_loader(p, train, 4, cache=ctx.decoded(train)), video_test_loader(p, test, ctx.decoded(test))):
        assert loader.num_workers == 0 and sum(len(b["index"]) for b in loader) > 0
    assert sorted(decodes) == sorted({str(train.resolve(s)) for s in [*train.samples, *test.samples]})


def test_decoded_store_gives_later_processes_the_same_frames_without_decoding(videos, tmp_path, monkeypatch):
    """A second cache on the same store (a later pipeline stage) loads exactly the decoded frames and
    decodes nothing; a changed file or a damaged entry is decoded again; bad files are never stored."""
    import shutil

    import numpy as np

    import vi2clr.data.video as video_module
    from vi2clr.data.video import DecodedVideoCache, VideoDecodeError, VideoFile

    store = tmp_path / "decoded"
    kinds = ("mp4", "avi", "webm")
    first = {k: DecodedVideoCache(2**24, store).open(videos[k], short_side=24) for k in kinds}
    assert len(list(store.rglob("*.npy"))) == 3
    decodes = []
    real = video_module.VideoFile.decode_all
    monkeypatch.setattr(video_module.VideoFile, "decode_all", lambda self: decodes.append(self.path) or real(self))
    later = DecodedVideoCache(2**24, store)
    for k in kinds:
        again = later.open(videos[k], short_side=24)
        assert np.array_equal(again.clips([2], 4, 2)[0], VideoFile(videos[k], 24).clip(2, 4, 2))
        assert np.array_equal(again.frames(range(20)), first[k].frames(range(20)))
    assert decodes == [] and later.used == sum(v.nbytes for v in first.values())
    assert DecodedVideoCache(2**24, store).open(videos["mp4"]) is not None and len(decodes) == 1  # other size: new entry

    moved = tmp_path / "clip.mp4"  # entries are named by content: a copy is a hit, new content at a path a miss
    shutil.copy(videos["mp4"], moved)
    assert DecodedVideoCache(2**24, store).open(moved).num_frames == 20 and len(decodes) == 1
    shutil.copy(videos["short"], moved)
    assert DecodedVideoCache(2**24, store).open(moved).num_frames == 5 and len(decodes) == 2
    for entry in store.rglob("*.npy"):
        entry.write_bytes(b"partial")  # a damaged entry counts as absent
    assert DecodedVideoCache(2**24, store).open(videos["avi"], short_side=24).num_frames == 20 and len(decodes) == 3
    for bad in ("empty", "garbage", "absent"):
        with pytest.raises(VideoDecodeError):
            DecodedVideoCache(2**24, store).open(videos[bad])
    assert len(list(store.rglob("*.npy"))) == 5
