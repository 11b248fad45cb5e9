"""Clip reading with decord or torchcodec: temporal crops, sliding windows, loop padding.

A clip of ``T`` frames with stride ``s`` starting at frame ``t0`` covers the frame indices
``t0, t0 + s, ..., t0 + (T - 1) s``, a span of ``(T - 1) s + 1`` frames. A video shorter than the
span is padded by looping: indices are taken modulo the video's frame count.

Frames are resized at decode time (decord's ``width``/``height``, i.e. FFmpeg's swscale), so the
short side equals ``short_side`` and the aspect ratio is kept. The source size is read from the
container header with PyAV (well under a millisecond), so each video is opened by decord once.

Codecs: decord 0.6 decodes H.264 mp4/mkv, MPEG-4 Part 2 avi and VP9 webm (covered by
``tests/data/test_data_video.py``), so there is no PyAV fallback in the reading path.

Decoders (``decoder=``): ``decord`` (default), ``torchcodec`` (CPU, exact seek; needs the OS
FFmpeg libraries, e.g. Debian's ``ffmpeg`` package) and ``torchcodec-cuda`` (NVDEC; frames come
back as CUDA tensors, so use it in the main process or in spawned workers, never forked ones).
torchcodec resizes at decode with its decoder-native ``Resize`` (FFmpeg's swscale, like decord).
Every clip of one ``VideoFile`` comes from its one open of the file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import av
import decord
import numpy as np
import torch

from vi2clr.atomic import atomic_write
from vi2clr.errors import UserError

__all__ = [
    "DECODERS",
    "DecoderUnavailable",
    "check_decoder",
    "VideoDecodeError",
    "torchcodec_available",
    "VideoInfo",
    "VideoFile",
    "DecodedVideo",
    "DecodedVideoCache",
    "DecodedStore",
    "probe_video",
    "read_clip",
    "clip_indices",
    "clip_span",
    "random_start",
    "center_start",
    "uniform_starts",
    "sliding_window_starts",
    "middle_frame_index",
    "resized_size",
]


DECODERS = ("decord", "torchcodec", "torchcodec-cuda")


class DecoderUnavailable(UserError):
    """``data.decoder`` names a decoder this machine cannot run (no torchcodec, no FFmpeg libraries, no CUDA)."""

    exit_code = 2


def torchcodec_available() -> str | None:
    """``None`` when torchcodec imports and finds FFmpeg's libraries, else the reason it cannot be used."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads libavcodec on import)
    except (ImportError, RuntimeError, OSError) as exc:
        return f"torchcodec unusable ({_short_reason(exc)})"
    return None


def check_decoder(decoder: str) -> None:
    """Raise ValueError for an unknown decoder, `DecoderUnavailable` for one this machine cannot run."""
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if decoder != "decord" and (reason := torchcodec_available()) is not None:
        raise DecoderUnavailable(f"data.decoder={decoder}: {reason}; install torchcodec and the OS ffmpeg package, or use decord")
    if decoder == "torchcodec-cuda" and not torch.cuda.is_available():
        raise DecoderUnavailable("data.decoder=torchcodec-cuda needs a CUDA device; none is available")


class VideoDecodeError(RuntimeError):
    """A video that cannot be read: missing, empty, zero frames, truncated or corrupt."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path}: {reason}")

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class VideoInfo:
    """Header facts of one video: decoded frame count, average fps, source width and height."""

    num_frames: int
    fps: float
    width: int
    height: int


def clip_span(num_frames: int, stride: int) -> int:
    """Number of source frames a clip covers: ``(T - 1) * stride + 1``."""
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames and stride must be >= 1, got num_frames={num_frames}, stride={stride}")
    return (num_frames - 1) * stride + 1


def clip_indices(start: int, num_frames: int, stride: int, num_total: int) -> np.ndarray:
    """Frame indices ``(T,)`` of a clip, looped modulo ``num_total`` when the video is too short."""
    if num_total < 1:
        raise ValueError(f"num_total must be >= 1, got {num_total}")
    return (start + np.arange(num_frames, dtype=np.int64) * stride) % num_total


def random_start(num_total: int, num_frames: int, stride: int, rng: np.random.Generator) -> int:
    """Uniformly random start frame of a clip that fits in the video (0 if it does not fit)."""
    last = num_total - clip_span(num_frames, stride)
    return int(rng.integers(0, last + 1)) if last > 0 else 0


def center_start(num_total: int, num_frames: int, stride: int) -> int:
    """Start frame of the clip centred in the video (0 if the clip does not fit)."""
    return max(0, (num_total - clip_span(num_frames, stride)) // 2)


def uniform_starts(num_total: int, num_frames: int, stride: int, num_clips: int) -> list[int]:
    """``num_clips`` start frames spaced uniformly from the first to the last full clip."""
    last = max(0, num_total - clip_span(num_frames, stride))
    return [int(round(x)) for x in np.linspace(0, last, num_clips)]


def sliding_window_starts(num_total: int, num_frames: int, stride: int, window_stride: int) -> list[int]:
    """Starts of all full T-frame windows every ``window_stride`` frames (``[0]`` for short videos)."""
    if window_stride < 1:
        raise ValueError(f"window_stride must be >= 1, got {window_stride}")
    last = num_total - clip_span(num_frames, stride)
    return list(range(0, last + 1, window_stride)) if last >= 0 else [0]


def middle_frame_index(num_frames: int) -> int:
    """Index of the middle frame of a T-frame clip: ``T // 2``."""
    return num_frames // 2


# decord 0.6 fails with "DECORDArrayCopyFromTo: The size must exactly match" when asked to
# resize to exactly these output widths (any source, any height; measured for widths 2..1400).
_DECORD_BAD_WIDTHS = frozenset({2, 3, 4, 6, 8, 12, 16, 24, 48, 72})


def resized_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) after resizing the short side to ``short_side``, keeping the aspect ratio.

    A width decord cannot produce (see ``_DECORD_BAD_WIDTHS``) is widened by one pixel.
    """
    if short_side is None:
        return width, height
    if width <= height:
        w, h = short_side, max(1, round(height * short_side / width))
    else:
        w, h = max(1, round(width * short_side / height)), short_side
    return (w + 1 if w in _DECORD_BAD_WIDTHS else w), h


def _header_size(path: str) -> tuple[int, int]:
    """(width, height) of the first video stream from the container header (PyAV, no decoding)."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoDecodeError(path, "no video stream")
            ctx = container.streams.video[0].codec_context
            width, height = int(ctx.width), int(ctx.height)
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(path, f"unreadable container ({exc.__class__.__name__})") from None
    if width <= 0 or height <= 0:
        raise VideoDecodeError(path, f"invalid frame size {width}x{height}")
    return width, height


class _ClipReader:
    """``clip`` and ``clips`` on top of a ``frames(indices)`` method and ``num_frames``."""

    num_frames: int

    def frames(self, indices: np.ndarray | list[int]) -> np.ndarray | torch.Tensor:
        raise NotImplementedError

    def clip(self, start: int, num_frames: int, stride: int = 1) -> np.ndarray | torch.Tensor:
        """One clip → uint8 ``(T, H, W, 3)``, loop-padded when the video is too short."""
        return self.frames(clip_indices(start, num_frames, stride, self.num_frames))

    def clips(self, starts: list[int], num_frames: int, stride: int = 1) -> list[np.ndarray] | list[torch.Tensor]:
        """Several clips from one ``frames`` call (one decode pass of an open file) → list of uint8 ``(T, H, W, 3)``."""
        index_rows = [clip_indices(s, num_frames, stride, self.num_frames) for s in starts]
        stacked = self.frames(np.concatenate(index_rows))
        return list(stacked.reshape(len(starts), num_frames, *stacked.shape[1:]))


class VideoFile(_ClipReader):
    """One opened video, decoded single-threaded at a working size by decord or torchcodec.

    Args:
        path: the video file.
        short_side: resize at decode so the short side has this many pixels (None: source size).
        decoder: one of `DECODERS`: ``decord``, ``torchcodec`` (CPU) or ``torchcodec-cuda`` (NVDEC).

    Attributes: ``num_frames``, ``fps``, ``width``, ``height`` (of the decoded frames).
    `frames` returns a uint8 ``(N, H, W, 3)`` numpy array on CPU, a CUDA tensor with ``torchcodec-cuda``.
    """

    def __init__(self, path: str | os.PathLike, short_side: int | None = None, decoder: str = "decord") -> None:
        check_decoder(decoder)
        self.path, self.decoder = str(path), decoder
        if not os.path.isfile(self.path):
            raise VideoDecodeError(self.path, "no such file")
        if os.path.getsize(self.path) == 0:
            raise VideoDecodeError(self.path, "empty file (0 bytes)")
        src_w, src_h = _header_size(self.path)
        self.width, self.height = resized_size(src_w, src_h, short_side)
        try:
            if decoder == "decord":
                self._open_decord(short_side)
            else:
                self._open_torchcodec(short_side, "cuda" if decoder == "torchcodec-cuda" else "cpu")
        except Exception as exc:  # decord raises RuntimeError or its own DECORDError; torchcodec RuntimeError
            raise VideoDecodeError(self.path, _short_reason(exc)) from None
        if self.num_frames < 1:
            raise VideoDecodeError(self.path, "zero frames")

    def _open_decord(self, short_side: int | None) -> None:
        if short_side is None:
            self._reader = decord.VideoReader(self.path, num_threads=1)
        else:
            self._reader = decord.VideoReader(self.path, width=self.width, height=self.height, num_threads=1)
        self.num_frames = len(self._reader)
        self.fps = float(self._reader.get_avg_fps())

    def _open_torchcodec(self, short_side: int | None, device: str) -> None:
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        transforms = None if short_side is None else [Resize((self.height, self.width))]
        self._reader = VideoDecoder(self.path, dimension_order="NHWC", num_ffmpeg_threads=1, device=device,
                                    seek_mode="exact", transforms=transforms)
        meta = self._reader.metadata
        self.num_frames = int(meta.num_frames or 0)
        self.fps = float(meta.average_fps or 0.0)

    def info(self) -> VideoInfo:
        return VideoInfo(self.num_frames, self.fps, self.width, self.height)

    def _decode(self, unique: list[int]) -> np.ndarray | torch.Tensor:
        if self.decoder == "decord":
            return self._reader.get_batch(unique).asnumpy()
        data = self._reader.get_frames_at(unique).data
        return data.numpy() if data.device.type == "cpu" else data

    def frames(self, indices: np.ndarray | list[int]) -> np.ndarray | torch.Tensor:
        """Decode frames at ``indices`` → uint8 ``(len(indices), H, W, 3)``.

        Each distinct index is decoded once, in increasing order (both decoders seek least that way).
        """
        idx = np.asarray(indices, dtype=np.int64)
        unique, inverse = np.unique(idx, return_inverse=True)
        try:
            batch = self._decode(unique.tolist())
        except Exception as exc:
            raise VideoDecodeError(self.path, f"truncated or corrupt stream ({_short_reason(exc)})") from None
        if batch.shape[0] != len(unique):
            raise VideoDecodeError(self.path, f"decoded {batch.shape[0]} of {len(unique)} frames")
        if isinstance(batch, torch.Tensor):
            return batch[torch.from_numpy(inverse).to(batch.device)]
        return batch[inverse]

    def decode_all(self) -> DecodedVideo:
        """Every frame of the video, decoded once → a `DecodedVideo` in memory."""
        return DecodedVideo(self.frames(np.arange(self.num_frames)))


class DecodedVideo(_ClipReader):
    """A video whose frames are all in memory: ``frames``/``clip``/``clips`` index the array, so they
    return exactly what `VideoFile` decodes for the same indices, without decoding again."""

    def __init__(self, frames: np.ndarray | torch.Tensor) -> None:
        self._all = frames
        self.num_frames, self.height, self.width = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])

    @property
    def nbytes(self) -> int:
        return int(self._all.nbytes) if isinstance(self._all, np.ndarray) else self._all.numel()

    def frames(self, indices: np.ndarray | list[int]) -> np.ndarray | torch.Tensor:
        idx = np.asarray(indices, dtype=np.int64)
        return self._all[idx] if isinstance(self._all, np.ndarray) else self._all[torch.from_numpy(idx)]


class DecodedVideoCache:
    """Whole decoded videos kept in memory across epochs, up to ``max_bytes`` (then files are
    decoded per call as usual). Written by hand: the evaluation fine-tuning reads the same few
    hundred short videos for 40 epochs, and decoding them again every epoch was two thirds of its
    time on the 2-core default (benchmarks/finetune.py); no DataLoader or decoder option caches frames.

    One cache per process: give the loader ``num_workers=0`` (or persistent workers, each with
    its own copy). One cache may serve several data sets (an evaluation suite keeps one for all its
    protocols, which read the same test videos). Unreadable files are not cached; they fail again
    on every call, like `VideoFile`.

    ``store``: a folder that keeps the decoded frames across processes (`DecodedStore`): every
    pipeline stage reads the same few hundred videos, so only the first stage decodes them.
    """

    def __init__(self, max_bytes: int, store: str | os.PathLike | None = None) -> None:
        self.max_bytes, self.used, self.full = int(max_bytes), 0, False
        self.store = None if store is None else DecodedStore(store)
        self._videos: dict[tuple[str, int | None], DecodedVideo] = {}

    def __len__(self) -> int:
        return len(self._videos)

    def holds(self, path: str | os.PathLike, short_side: int | None = None) -> bool:
        """Whether the decoded frames of ``path`` (at ``short_side``) are in the cache."""
        return (str(path), short_side) in self._videos

    def open(self, path: str | os.PathLike, short_side: int | None = None,
             decoder: str = "decord") -> DecodedVideo | VideoFile:
        """The cached `DecodedVideo` of ``path``; else its frames from the store, or decode it whole,
        and keep it while the budget lasts; once a video did not fit, a plain `VideoFile` (decoded
        per call) for every new path."""
        key = (str(path), short_side)
        if key in self._videos:
            return self._videos[key]
        if self.full:
            return VideoFile(path, short_side, decoder)
        entry = self.store.entry(path, short_side, decoder) if self.store is not None else None
        decoded = self.store.load(entry) if entry is not None else None
        if decoded is None:
            video = VideoFile(path, short_side, decoder)
            try:
                decoded = video.decode_all()
            except VideoDecodeError:  # e.g. truncated past the clip a plain read would take: read per call
                return video
            if entry is not None:
                self.store.save(entry, decoded)
        if self.used + decoded.nbytes > self.max_bytes:
            self.full = True
        else:
            self._videos[key] = decoded
            self.used += decoded.nbytes
        return decoded


class DecodedStore:
    """Decoded videos on disk, one ``.npy`` (uint8 ``(N, H, W, 3)``) per video, named by
    ``sha256(file bytes, short side, decoder and its version)``: a changed file, size or decoder is
    a new entry, never a stale one. Loading is ``np.load`` (no pickle), a fraction of a decode;
    the frames are exactly those decoded (tested). Unreadable or partial entries count as absent.
    Frames decoded on a GPU (``torchcodec-cuda``) are not stored."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def entry(self, path: str | os.PathLike, short_side: int | None, decoder: str) -> Path | None:
        """Where the decoded frames of ``path`` live (None when the file cannot be read)."""
        try:
            with open(path, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256")
        except OSError:
            return None
        digest.update(f"|{short_side}|{decoder}|{_decoder_version(decoder)}".encode())
        name = digest.hexdigest()
        return self.root / name[:2] / f"{name}.npy"

    def load(self, entry: Path) -> DecodedVideo | None:
        """The decoded video at ``entry`` (`entry`), or None when it is absent or damaged."""
        if not entry.is_file():
            return None
        try:
            frames = np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        return DecodedVideo(frames) if frames.ndim == 4 and frames.dtype == np.uint8 else None

    def save(self, entry: Path, video: DecodedVideo) -> None:
        """Write ``video``'s frames to ``entry`` atomically (not frames on a GPU)."""
        frames = video.frames(np.arange(video.num_frames))
        if isinstance(frames, torch.Tensor):
            if frames.is_cuda:
                return
            frames = frames.numpy()
        with atomic_write(entry) as fh:
            np.save(fh, np.ascontiguousarray(frames), allow_pickle=False)


def _decoder_version(decoder: str) -> str:
    if decoder == "decord":
        return decord.__version__
    import torchcodec

    return torchcodec.__version__


def _short_reason(exc: BaseException) -> str:
    """First line of a decoder error, without decord's long C++ traceback."""
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0][:200]}" if text else exc.__class__.__name__


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, fps and source size of a video (decord, no frame decoded)."""
    return VideoFile(path).info()


def read_clip(
    path: str | os.PathLike,
    num_frames: int,
    stride: int = 1,
    start: int | None = None,
    short_side: int | None = None,
    decoder: str = "decord",
) -> np.ndarray | torch.Tensor:
    """Read one clip → uint8 ``(T, H, W, 3)`` with ``T = num_frames``.

    ``start=None`` takes the centre clip; frames past the end loop back to frame 0.
    Raises VideoDecodeError on missing, empty, zero-frame, truncated or corrupt files.
    """
    video = VideoFile(path, short_side=short_side, decoder=decoder)
    if start is None:
        start = center_start(video.num_frames, num_frames, stride)
    return video.clip(start, num_frames, stride)
