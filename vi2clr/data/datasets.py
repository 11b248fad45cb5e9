"""torch Datasets over an `Index`: pretraining clip pairs, evaluation clips, images.

Every item is a dict. An unreadable file (VideoDecodeError, PIL/OS errors, zero-length) gives a
one log line naming the file (once per file per run, :class:`SkipLog`) and the falsy placeholder `SkippedItem`
(the contract's "None"); `collate_skip_bad` drops placeholders and ``None`` and reports
``batch["skipped"]`` / ``batch["skipped_paths"]``.

Randomness: every random draw of item ``i`` comes from ``numpy.random.default_rng([seed, epoch, i])``
(temporal starts) and from torch seeds drawn from it (spatial augmentation, run under
``torch.random.fork_rng`` so no global RNG is touched). Items are therefore reproducible on CPU
independent of worker count, worker assignment and order. ``set_epoch(e)`` writes the epoch to a
shared-memory tensor, so it reaches DataLoader workers, persistent ones included, provided it is
called before the epoch's iterator is created.
"""

from __future__ import annotations

import functools
import logging
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from vi2clr.data.background import merge_foreground, static_background
from vi2clr.data.index import Index, Sample
from vi2clr.data.transforms import ClipAugment, ClipEval, image_eval_transform, light_clip_augment
from vi2clr.data.video import (
    DecodedVideoCache,
    VideoDecodeError,
    VideoFile,
    center_start,
    check_decoder,
    middle_frame_index,
    random_start,
    sliding_window_starts,
    uniform_starts,
)

log = logging.getLogger(__name__)

__all__ = [
    "SkippedItem",
    "PretrainClips",
    "VideoClips",
    "ImageFolderIndex",
    "collate_skip_bad",
    "SkipLog",
    "make_loader",
    "workers_for",
    "seed_worker",
]

# Errors that mean "this file is bad", not "the program is wrong".
BAD_FILE_ERRORS = (VideoDecodeError, OSError, SyntaxError, PIL.Image.DecompressionBombError)


@dataclass(frozen=True)
class SkippedItem:
    """Placeholder for an unreadable item; falsy, like the ``None`` it stands for."""

    index: int
    path: str
    reason: str

    def __bool__(self) -> bool:
        return False


def _seeded(seed: int, fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
    """Run ``fn(*args)`` with the CPU torch RNG seeded by ``seed``, restoring the RNG after.

    Seeds ``torch.random.default_generator`` only: the same CPU stream as ``torch.manual_seed``,
    without its lazy CUDA seeding, which records a Python stack per call (1.3 ms, a fifth of the
    evaluation fine-tuning's data time)."""
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        return fn(*args)


class _IndexDataset(Dataset):
    """Shared plumbing: index access, per-item RNG, epoch in shared memory, bad-file handling."""

    def __init__(self, index: Index, seed: int = 0) -> None:
        self.index = index
        self.seed = int(seed)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.index.samples)

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch`` (call before iterating the epoch's loader)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def _rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, i])

    def _skip(self, i: int, path: object, exc: BaseException) -> SkippedItem:
        """The placeholder of an unreadable item; the main process reports it (:class:`SkipLog`)."""
        reason = exc.reason if isinstance(exc, VideoDecodeError) else f"{exc.__class__.__name__}: {exc}"
        return SkippedItem(i, str(path), reason)

    def _labels(self, sample: Sample) -> dict[str, Any]:
        out: dict[str, Any] = {"label": sample.label}
        if sample.targets is not None:
            out["targets"] = torch.tensor(sample.targets, dtype=torch.int64)
        return out


class PretrainClips(_IndexDataset):
    """Vi2CLR pretraining items.

    ``mode="train"``: two independent random temporal crops of T frames, each with its own
    draw of ``augment`` → ``dict(video1, video2: float (3, T, S, S), image1, image2: float
    (3, S, S) = the middle frame of each augmented clip, index: int)``.
    ``mode="center"`` (per-epoch clustering pass): the deterministic centre clip with the eval
    transform → ``dict(video: (3, T, S, S), image: (3, S, S) its middle frame, index)``.

    Args:
        index: videos to read (``index.resolve`` guards the paths).
        num_frames, stride: clip length T and frame stride.
        size: output side S.
        short_side: resize at decode to this short side (None: decode at source size).
        augment: clip augmentation (default ``ClipAugment(size)``); unused in centre mode.
        mode: ``train`` or ``center``.
        seed: base seed of the per-item RNG.
        decoder: ``decord``, ``torchcodec`` or ``torchcodec-cuda`` (see `vi2clr.data.video`).
        cache: a `DecodedVideoCache` (see `decoded_cache_for`): each video decoded once per process.
        background_swap: probability that a training clip's foreground is pasted onto the static
            background of another video of the index (`vi2clr.data.background`), drawn per clip
            from the item's RNG; 0 = off.
        foreground_fraction: the share of a clip's pixels the swap keeps as foreground at most.

    Both clips of a training item come from one open of the file and one decode pass; each
    image is the middle frame of its clip *after* the clip's augmentation, so it shares that
    clip's draw (DESIGN §2: each clip has its own augmentation, the image is its middle frame).
    """

    def __init__(
        self,
        index: Index,
        num_frames: int = 32,
        stride: int = 1,
        size: int = 128,
        short_side: int | None = None,
        augment: ClipAugment | None = None,
        mode: str = "train",
        seed: int = 0,
        decoder: str = "decord",
        cache: DecodedVideoCache | None = None,
        background_swap: float = 0.0,
        foreground_fraction: float = 0.15,
    ) -> None:
        super().__init__(index, seed)
        check_decoder(decoder)  # fail here, in the main process, not once per file in the workers
        self.decoder, self.cache = decoder, cache
        self.background_swap, self.foreground_fraction = background_swap, foreground_fraction
        self._backgrounds: dict[int, torch.Tensor] = {}  # static backgrounds of the videos, per process
        if mode not in ("train", "center"):
            raise ValueError(f"PretrainClips mode must be 'train' or 'center', got {mode!r}")
        self.num_frames, self.stride, self.size, self.short_side, self.mode = num_frames, stride, size, short_side, mode
        self.augment = augment if augment is not None else ClipAugment(size)
        self.eval_transform = ClipEval(size)

    def __getitem__(self, i: int) -> dict[str, Any] | SkippedItem:
        path = self.index.resolve(self.index.samples[i])
        T, mid = self.num_frames, middle_frame_index(self.num_frames)
        try:
            video = self._open(path)
            if self.mode == "center":
                clip = video.clip(center_start(video.num_frames, T, self.stride), T, self.stride)
                v = self.eval_transform(clip)
                return {"video": v, "image": v[:, mid].contiguous(), "index": i}
            rng = self._rng(i)
            starts = [random_start(video.num_frames, T, self.stride, rng) for _ in range(2)]
            clip1, clip2 = video.clips(starts, T, self.stride)
        except BAD_FILE_ERRORS as exc:
            return self._skip(i, path, exc)
        seed1, seed2 = (int(s) for s in rng.integers(0, 2**62, size=2))
        if self.background_swap > 0:
            clip1, clip2 = self._swapped(clip1, i, rng), self._swapped(clip2, i, rng)
        v1, v2 = _seeded(seed1, self.augment, clip1), _seeded(seed2, self.augment, clip2)
        return {"video1": v1, "video2": v2, "image1": v1[:, mid].contiguous(), "image2": v2[:, mid].contiguous(), "index": i}

    def _open(self, path: str) -> Any:
        """The decoded video of ``path`` from the cache, else a `VideoFile` (decoded per call)."""
        return (self.cache.open(path, self.short_side, self.decoder) if self.cache is not None
                else VideoFile(path, self.short_side, self.decoder))

    def _background(self, j: int) -> torch.Tensor:
        """The static background of video ``j`` (`static_background`), computed once per process."""
        if j not in self._backgrounds:
            video = self._open(self.index.resolve(self.index.samples[j]))
            self._backgrounds[j] = static_background(
                video.frames(np.linspace(0, video.num_frames - 1, 16).round().astype(int)))
        return self._backgrounds[j]

    def _swapped(self, clip: np.ndarray | torch.Tensor, i: int, rng: np.random.Generator) -> np.ndarray | torch.Tensor:
        """``clip`` (of video ``i``), or with probability ``background_swap`` its foreground over the
        static background of another video of the index. A background that cannot be read (of the
        other video, or of this one past the frames its clip took) leaves the clip as it is."""
        n = len(self.index.samples)
        if n < 2 or rng.random() >= self.background_swap:
            return clip
        j = int(rng.integers(n - 1))
        j += j >= i
        try:
            own, other = self._background(i), self._background(j)
        except BAD_FILE_ERRORS:
            return clip
        return merge_foreground(clip, own, other, self.foreground_fraction)


class VideoClips(_IndexDataset):
    """Evaluation clips (classification, retrieval).

    ``mode="train"``: one random clip with ``augment`` (default light: crop + flip)
    → ``dict(video: (3, T, S, S), label, index)``.
    ``mode="test"``: ``clips_per_video`` uniformly spaced clips → ``video: (N, 3, T, S, S)``.
    ``mode="windows"``: all sliding T-frame windows every ``window_stride`` frames (default T),
    at most ``max_windows`` (evenly thinned) → ``video: (W, 3, T, S, S)``; W varies per video,
    so use batch_size=1.
    Test and windows use the eval transform (resize short side to S, centre crop).
    ``cache``: a `DecodedVideoCache` that keeps whole decoded videos across epochs (same clips, no
    second decode); it lives in the process that reads the items.
    """

    def __init__(
        self,
        index: Index,
        num_frames: int = 16,
        stride: int = 1,
        size: int = 112,
        mode: str = "train",
        clips_per_video: int = 10,
        window_stride: int | None = None,
        max_windows: int | None = None,
        short_side: int | None = None,
        augment: ClipAugment | None = None,
        seed: int = 0,
        cache: DecodedVideoCache | None = None,
    ) -> None:
        super().__init__(index, seed)
        self.cache = cache
        if mode not in ("train", "test", "windows"):
            raise ValueError(f"VideoClips mode must be 'train', 'test' or 'windows', got {mode!r}")
        self.num_frames, self.stride, self.size, self.mode = num_frames, stride, size, mode
        self.clips_per_video, self.window_stride, self.max_windows = clips_per_video, window_stride or num_frames, max_windows
        self.short_side = short_side
        self.augment = augment if augment is not None else light_clip_augment(size)
        self.eval_transform = ClipEval(size)

    def _starts(self, num_total: int, rng: np.random.Generator) -> list[int]:
        T, s = self.num_frames, self.stride
        if self.mode == "train":
            return [random_start(num_total, T, s, rng)]
        if self.mode == "test":
            return uniform_starts(num_total, T, s, self.clips_per_video)
        starts = sliding_window_starts(num_total, T, s, self.window_stride)
        if self.max_windows is not None and len(starts) > self.max_windows:
            starts = [starts[k] for k in np.linspace(0, len(starts) - 1, self.max_windows).round().astype(int)]
        return starts

    def __getitem__(self, i: int) -> dict[str, Any] | SkippedItem:
        sample = self.index.samples[i]
        path = self.index.resolve(sample)
        rng = self._rng(i)
        try:
            video = self.cache.open(path, self.short_side) if self.cache is not None else VideoFile(path, self.short_side)
            clips = video.clips(self._starts(video.num_frames, rng), self.num_frames, self.stride)
        except BAD_FILE_ERRORS as exc:
            return self._skip(i, path, exc)
        if self.mode == "train":
            v = _seeded(int(rng.integers(0, 2**62)), self.augment, clips[0])
        else:
            v = torch.stack([self.eval_transform(c) for c in clips])
        return {"video": v, **self._labels(sample), "index": i}


class ImageFolderIndex(_IndexDataset):
    """Images of an ImageNet or VOC index → ``dict(image: (3, S, S), label, [targets: (C,)], index)``.

    ``transform`` maps a PIL RGB image to a tensor (default ``image_eval_transform(224)``); it
    uses torch's RNG as seeded per item from (seed, epoch, index).
    """

    def __init__(self, index: Index, transform: Callable[[PIL.Image.Image], torch.Tensor] | None = None, seed: int = 0) -> None:
        super().__init__(index, seed)
        self.transform = transform if transform is not None else image_eval_transform(224)

    def __getitem__(self, i: int) -> dict[str, Any] | SkippedItem:
        sample = self.index.samples[i]
        path = self.index.resolve(sample)
        try:
            with PIL.Image.open(path) as im:
                image = im.convert("RGB")
        except BAD_FILE_ERRORS as exc:
            return self._skip(i, path, exc)
        x = _seeded(int(self._rng(i).integers(0, 2**62)), self.transform, image)
        return {"image": x, **self._labels(sample), "index": i}


def decoded_cache_for(index: Index, max_bytes: int, decoder: str = "decord",
                      shared: DecodedVideoCache | None = None,
                      store: str | os.PathLike | None = None) -> DecodedVideoCache | None:
    """A `DecodedVideoCache` for the videos of ``index`` when all of them, decoded at source size,
    fit in ``max_bytes`` (estimated from the first readable video × the number of videos); else None.
    With ``shared`` (a cache that several data sets use): ``shared`` itself when the videos of
    ``index`` it does not hold yet fit in what is left of its budget; else None. ``store``: the
    folder of decoded videos kept across processes (``data.decoded_store``, `DecodedStore`).

    Read the items in the main process (``num_workers=0``) with a cache: then every epoch after the
    first only crops and augments, with the same items bit for bit. Above the budget (real data sets),
    decode every epoch in workers as usual."""
    if max_bytes <= 0 or (shared is not None and shared.max_bytes <= 0):
        return None
    todo = [s for s in index.samples if shared is None or not shared.holds(index.resolve(s))]
    if not todo:
        return shared
    for sample in todo[:10]:
        try:
            first = VideoFile(index.resolve(sample), decoder=decoder)
        except BAD_FILE_ERRORS:
            continue
        size = first.num_frames * first.height * first.width * 3 * len(todo)
        if shared is not None:
            return shared if shared.used + size <= shared.max_bytes else None
        return DecodedVideoCache(max_bytes, store) if size <= max_bytes else None
    return None


def workers_for(cache: DecodedVideoCache | None, num_workers: int) -> int:
    """Loader workers for a dataset reading through ``cache``: none when there is a cache (its
    decoded videos live in this process's memory), else ``num_workers`` (``data.num_workers``)."""
    return 0 if cache is not None else num_workers


def collate_skip_bad(batch: Sequence[Mapping[str, Any] | SkippedItem | None]) -> dict[str, Any]:
    """Drop bad items, default-collate the rest, add ``skipped: int`` and ``skipped_paths: list[str]``.

    An all-bad batch gives ``{"index": empty LongTensor, "skipped": n, "skipped_paths": [...]}``.
    """
    good = [b for b in batch if b is not None and not isinstance(b, SkippedItem)]
    bad = [b for b in batch if b is None or isinstance(b, SkippedItem)]
    if good and not isinstance(good[0], Mapping):
        raise TypeError(f"collate_skip_bad expects dict items, got {type(good[0]).__name__}")
    out: dict[str, Any] = dict(default_collate(good)) if good else {"index": torch.empty(0, dtype=torch.int64)}
    out["skipped"] = len(bad)
    out["skipped_paths"] = [b.path if isinstance(b, SkippedItem) else "<unknown>" for b in bad]
    out["skipped_reasons"] = [b.reason if isinstance(b, SkippedItem) else "no item" for b in bad]
    return out


class SkipLog:
    """One clear line per unreadable file for the whole run, printed by the main process
    (``WARNING vi2clr.data.datasets: skipping unreadable file PATH: REASON``), instead of a Python
    warning raised inside a DataLoader worker once per epoch. Wrap a loader: ``skips.watch(loader)``;
    the per-epoch count travels in each batch's ``skipped`` (the pretraining epoch line sums it)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.count = 0  # items skipped so far (every pass counts: per-epoch deltas are the summary)

    def watch(self, batches: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for batch in batches:
            if not isinstance(batch, Mapping):  # (inputs, labels, ...) tuples carry no skip report
                yield batch
                continue
            self.count += int(batch.get("skipped", 0))
            for path, reason in zip(batch.get("skipped_paths", []), batch.get("skipped_reasons", [])):
                if path not in self.seen:
                    self.seen.add(path)
                    log.warning("skipping unreadable file %s: %s", path, reason)
            yield batch


def seed_worker(worker_id: int, seed: int = 0) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and numpy's legacy RNG of the worker process.

    torch's worker RNG is already ``base_seed + worker_id`` with base_seed from the loader's
    generator (seeded by ``make_loader``); datasets here do not rely on either.
    """
    worker_seed = (torch.initial_seed() + seed) % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def make_loader(
    dataset: Dataset,
    batch_size: int = 1,
    *,
    shuffle: bool = False,
    sampler: Sampler | None = None,
    batch_sampler: Sampler | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    drop_last: bool = False,
    seed: int = 0,
    collate_fn: Callable[[Sequence[Any]], Any] = collate_skip_bad,
) -> DataLoader:
    """DataLoader with `collate_skip_bad` (or a ``collate_fn`` built on it), `seed_worker` and a
    generator seeded by ``seed``.

    Give either ``batch_sampler`` (e.g. the cluster-aware sampler; then batch_size, shuffle,
    sampler, drop_last are unused) or batch_size with shuffle or sampler.
    """
    common: dict[str, Any] = dict(
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        collate_fn=collate_fn,
        worker_init_fn=functools.partial(seed_worker, seed=seed),
        generator=torch.Generator().manual_seed(seed),
    )
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle if sampler is None else False,
                      sampler=sampler, drop_last=drop_last, **common)
