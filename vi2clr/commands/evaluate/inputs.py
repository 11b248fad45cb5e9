"""Indexes, frozen features and loaders of the protocols, all built on the dataset catalogue and
the shared `make_loader` helper."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vi2clr.commands.evaluate.context import EvalContext
from vi2clr.config import Params
from vi2clr.data.catalog import read_dataset
from vi2clr.data.datasets import ImageFolderIndex, VideoClips, collate_skip_bad, make_loader, workers_for
from vi2clr.data.index import Index
from vi2clr.data.transforms import image_eval_transform, image_train_transform
from vi2clr.data.video import DecodedVideoCache
from vi2clr.errors import UserError
from vi2clr.evaluate.errors import EvalError
from vi2clr.evaluate.features import cached_features, extract_features


def image_index(p: Params, dataset: str, split: str, subset_file: str | None = None) -> Index:
    """One split of ImageNet or VOC2007 (an ImageNet label list with ``subset_file``)."""
    try:
        return read_dataset(p.data, dataset, split, subset_file)
    except (UserError, FileNotFoundError) as exc:
        raise EvalError(str(exc).splitlines()[0]) from None


def video_index(p: Params, dataset: str, split: str) -> Index:
    """One split of a video data set; Kinetics ``test`` reads its ``val`` annotations."""
    if dataset == "kinetics400":
        split = "train" if split == "train" else "val"
    try:
        sub = read_dataset(p.data, dataset, split)
    except (UserError, FileNotFoundError) as exc:
        raise EvalError(str(exc).splitlines()[0]) from None
    if dataset != "kinetics400" and not sub.samples:
        raise EvalError(f"{dataset} split {split!r} is empty under {sub.root} (split files missing?)")
    return sub


def image_features(ctx: EvalContext, encoder: nn.Module, digest: str, index: Index) -> dict[str, np.ndarray]:
    """Frozen features of an image index, eval transform, cached."""
    p = ctx.params
    transform = f"image_eval_transform({p.eval.size})"
    loader = make_loader(ImageFolderIndex(index, image_eval_transform(p.eval.size)), p.eval.batch_size,
                         num_workers=p.data.num_workers)
    key = {"encoder": digest, "index": index.digest(), "transform": transform}
    return cached_features(ctx.cache, key, lambda: extract_features(encoder, loader, ctx.device, input_key="image"))


def video_features(ctx: EvalContext, encoder: nn.Module, digest: str, index: Index, mode: str) -> dict[str, np.ndarray]:
    """Frozen features of a video index: ``windows`` = mean over sliding T-frame windows per video
    (retrieval); ``test`` = one row per uniformly spaced clip (video-level linear probe). Clips take
    every ``eval.stride``-th frame, the pretraining's temporal stride. A batch holds
    ``eval.batch_size // eval.video.test_clips`` videos, their windows padded and masked (`pad_windows`)."""
    p = ctx.params
    clips = p.eval.video.test_clips
    cache = ctx.decoded(index)
    ds = VideoClips(index, num_frames=p.eval.num_frames, stride=p.eval.stride, size=p.eval.video_size, mode=mode,
                    clips_per_video=clips, window_stride=p.eval.retrieval.window_stride, cache=cache)
    # eval.batch_size // test_clips videos per batch; in windows mode that is about eval.batch_size clips
    # when a video has about test_clips windows (paper scale: 10 clips, UCF101 ~10 windows of 32 frames)
    loader = make_loader(ds, max(1, p.eval.batch_size // clips), num_workers=workers_for(cache, p.data.num_workers), collate_fn=pad_windows)
    transform = f"VideoClips({mode}, T={p.eval.num_frames}, stride={p.eval.stride}, S={p.eval.video_size}, " \
                f"clips={clips}, window_stride={p.eval.retrieval.window_stride})"
    key = {"encoder": digest, "index": index.digest(), "transform": transform}
    return cached_features(ctx.cache, key, lambda: extract_features(
        encoder, loader, ctx.device, reduce_windows=(mode == "windows"), input_key="video"))


def voc_targets(feats: dict[str, np.ndarray], index: Index) -> dict[str, np.ndarray]:
    """Replace the class labels by the VOC target rows {1, -1, 0} (N, C) of the same samples."""
    return {**feats, "labels": np.array([index.samples[i].targets for i in feats["ids"]], dtype=np.int64)}


def flatten_clips(batch: list[Any]) -> dict[str, Any]:
    """Collate videos of N clips (N, 3, T, H, W) into a clip batch (B·N, 3, T, H, W); each clip keeps
    its video's label and ``index`` so scores are averaged per video."""
    out = collate_skip_bad(batch)
    if len(out["index"]) == 0:
        return out
    b, n = out["video"].shape[:2]
    out["video"] = out["video"].flatten(0, 1)
    out["label"] = out["label"].repeat_interleave(n)
    out["index"] = out["index"].repeat_interleave(n)
    return out


def pad_windows(batch: list[Any]) -> dict[str, Any]:
    """Collate videos of W_i clips ``(W_i, 3, T, S, S)`` into ``video (B, max W_i, 3, T, S, S)``, zero-padded,
    with ``window_mask (B, max W_i)`` True at the real clips (`vi2clr.evaluate.batches`)."""
    good = [b for b in batch if b]
    most = max((b["video"].shape[0] for b in good), default=0)
    padded = []
    for b in batch:
        if b:
            v = b["video"]
            mask = torch.arange(most) < v.shape[0]
            b = {**b, "video": torch.cat([v, v.new_zeros((most - v.shape[0], *v.shape[1:]))]), "window_mask": mask}
        padded.append(b)
    return collate_skip_bad(padded)


def image_train_loader(p: Params, index: Index, batch_size: int) -> DataLoader:
    """Shuffled, augmented (random-resized-crop + flip) image batches."""
    return make_loader(ImageFolderIndex(index, image_train_transform(p.eval.size)), min(batch_size, len(index.samples)),
                       shuffle=True, num_workers=p.data.num_workers, seed=p.eval.seed)


def image_test_loader(p: Params, index: Index, batch_size: int) -> DataLoader:
    """Image batches with the eval transform, in index order."""
    return make_loader(ImageFolderIndex(index, image_eval_transform(p.eval.size)), batch_size,
                       num_workers=p.data.num_workers)


def video_train_loader(p: Params, index: Index, batch_size: int, *, drop_last: bool = False,
                       cache: DecodedVideoCache | None = None) -> DataLoader:
    """Shuffled single random clips with the light clip augmentation, redrawn every epoch.

    With ``cache`` (`EvalContext.decoded` / `decoded_cache_for`: the split fits decoded in memory)
    the main process decodes each video once: later epochs only crop and augment, with the same
    batches bit for bit (the shuffle draws from the loader's generator as it does with workers).
    Else workers decode every epoch."""
    ds = VideoClips(index, p.eval.num_frames, stride=p.eval.stride, size=p.eval.video_size, mode="train", cache=cache)
    return make_loader(ds, batch_size, shuffle=True, num_workers=workers_for(cache, p.data.num_workers), seed=p.eval.seed,
                       drop_last=drop_last)


def video_test_loader(p: Params, index: Index, cache: DecodedVideoCache | None = None) -> DataLoader:
    """``eval.video.test_clips`` uniformly spaced clips per video, flattened into clip batches (from
    ``cache`` in this process when given, as `video_train_loader`)."""
    ds = VideoClips(index, p.eval.num_frames, stride=p.eval.stride, size=p.eval.video_size, mode="test",
                    clips_per_video=p.eval.video.test_clips, cache=cache)
    return make_loader(ds, max(1, p.eval.batch_size // p.eval.video.test_clips), num_workers=workers_for(cache, p.data.num_workers),
                       collate_fn=flatten_clips)
