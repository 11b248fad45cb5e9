"""The embedded default data: synthetic videos and images written in the five real layouts.

Every clip has a MOTION class (how its object moves; visible only over time) and an APPEARANCE
class (shape × texture; visible in any frame), with nuisance colour, background, position,
speed, direction and scale (`vi2clr.data.render`). Kinetics-400, UCF101 and HMDB51 classes are
motion classes; ImageNet classes (wnids ``n00000001``, ...) are appearance classes; VOC images hold
1–3 objects → multi-label appearance targets, small objects marked difficult (0).
``synthetic_meta.csv`` (``path,motion,appearance``) beside each video layout gives both ids.

Determinism: every file is generated from ``numpy.random.default_rng([seed, layout, item])``, so
the same seed gives the same frames, the same annotation / split / subset files byte for byte,
and the same index digests, whatever the number of ``workers``. Video bytes are identical with
the same FFmpeg build (single-threaded encoders with fixed options).

    <root>/kinetics400/annotations/{train,val}.csv, {train,val}/<label>/<ytid>_<start:06d>_<end:06d>.mp4
    <root>/ucf101/UCF-101/<Class>/v_<Class>_gXX_cYY.avi, ucfTrainTestlist/*.txt (CRLF)
    <root>/hmdb51/<class>/<name>.avi, testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt
    <root>/imagenet/{train,val}/<wnid>/*.JPEG, subsets/{1percent,10percent}.txt
    <root>/voc2007/VOCdevkit/VOC2007/{JPEGImages,ImageSets/Main}/
    <root>/synthetic.json  (parameters and class names)
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from vi2clr.data.encode import encode_video
from vi2clr.data.layouts import HMDB_SPLITS_DIR, SIDECAR_NAME, read_imagenet
from vi2clr.data.subsets import make_semisup_subset, write_subset_list
from vi2clr.data.render import MOTIONS, Track, appearance_names, motion_track, render, smooth_background, static_track

__all__ = ["write_synthetic", "PRESETS", "preset_kwargs", "LAYOUTS", "KINETICS_LABELS", "UCF_CLASSES", "render_video"]

LAYOUTS = ("kinetics400", "ucf101", "hmdb51", "imagenet", "voc2007")
_LAYOUT_SEED = {name: k for k, name in enumerate(LAYOUTS)}  # stream id of each layout in the RNG

# Motion class names per layout (same order as render.MOTIONS). Kinetics labels are multi-word,
# one with a comma so the CSV must quote it; one UCF class is spelled differently in file names
# (like HandstandPushups / v_HandStandPushups) to exercise label-from-folder.
KINETICS_LABELS = (
    "sliding sideways", "rising", "falling down", "spinning, in place", "zooming in",
    "zooming out", "circling", "bouncing", "shaking", "standing still",
)  # fmt: skip
UCF_CLASSES = (
    "SlideSideways", "RiseUp", "FallDown", "SpinInPlace", "ZoomIn",
    "ZoomOut", "CircleAround", "BounceBall", "ShakeSideways", "StandStill",
)  # fmt: skip
UCF_FILE_SPELLING = {"RiseUp": "Riseup"}
HMDB_CLASSES = tuple(m for m in MOTIONS)

PRESETS: MappingProxyType = MappingProxyType(
    {
        "default": MappingProxyType({}),
        "tiny": MappingProxyType(
            dict(
                num_motion=4, num_appearance=4, size=32, num_frames=12,
                kinetics_train_per_class=2, kinetics_val_per_class=1, kinetics_missing=1,
                ucf_groups=3, ucf_clips_per_group=1, hmdb_per_class=3,
                imagenet_train_per_class=4, imagenet_val_per_class=2, image_size=32,
                voc_trainval=12, voc_test=12,
            )  # fmt: skip
        ),
    }
)


def preset_kwargs(name: str) -> dict[str, Any]:
    """Keyword arguments of a named preset for `write_synthetic` (``default`` or ``tiny``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown synthetic preset {name!r}; expected one of {', '.join(PRESETS)}")
    return dict(PRESETS[name])


@dataclass(frozen=True)
class _Scene:
    """Shared rendering parameters."""

    height: int
    width: int
    num_frames: int
    fps: float
    look: tuple[tuple[str, Any], ...] = ()  # render_video keywords (object_radius, background_contrast, ...)

    @property
    def aspect(self) -> float:
        return self.width / self.height


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def render_video(
    motion: int,
    appearance: int,
    height: int,
    width: int,
    num_frames: int,
    rng: np.random.Generator,
    *,
    object_radius: tuple[float, float] = (0.25, 0.35),
    background_contrast: float = 0.15,
    palette_size: int = 2,
    speed_scale: float = 1.5,
) -> np.ndarray:
    """One synthetic clip → uint8 ``(T, H, W, 3)``: one object of ``appearance`` moving by ``motion``."""
    background = smooth_background(rng, height, width, contrast=background_contrast, palette_size=palette_size)
    track = motion_track(motion, num_frames, width / height, appearance, rng, tuple(object_radius), speed_scale, palette_size)
    return render(height, width, background, [track])


@dataclass(frozen=True)
class _VideoJob:
    rel: str  # path relative to the layout root
    motion: int
    appearance: int
    item: int  # RNG stream id within the layout


def _write_videos(root: Path, layout: str, jobs: list[_VideoJob], scene: _Scene, codec: str, seed: int, workers: int) -> None:
    """Render and encode ``jobs`` under ``root`` (threads; each job has its own RNG) + sidecar."""

    def run(job: _VideoJob) -> None:
        rng = np.random.default_rng([seed, _LAYOUT_SEED[layout], job.item])
        frames = render_video(job.motion, job.appearance, scene.height, scene.width, scene.num_frames, rng, **dict(scene.look))
        encode_video(root / job.rel, frames, scene.fps, codec)

    _map(run, jobs, workers)
    rows = [(j.rel, j.motion, j.appearance) for j in sorted(jobs, key=lambda j: j.rel)]
    _write_csv(root / SIDECAR_NAME, ("path", "motion", "appearance"), rows)


def _map(fn: Callable[[Any], Any], items: list, workers: int) -> None:
    if workers <= 1:
        for it in items:
            fn(it)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fn, items))


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _write_lines(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + newline for line in lines).encode("utf-8"))


def _balanced_appearances(rng: np.random.Generator, count: int, num_appearance: int) -> list[int]:
    """``count`` appearance ids cycling through a random permutation (balanced per motion class)."""
    perm = rng.permutation(num_appearance)
    return [int(perm[k % num_appearance]) for k in range(count)]


# ----------------------------------------------------------------------------- Kinetics-400


def _ytid(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=11))


def _csv_label(label: str) -> str:
    """Quote multi-word labels, as in the official Kinetics CSVs."""
    return '"' + label.replace('"', '""') + '"' if (" " in label or "," in label) else label


def _write_kinetics(root: Path, p: dict[str, Any], scene: _Scene) -> dict[str, Any]:
    rng = np.random.default_rng([p["seed"], _LAYOUT_SEED["kinetics400"], 10**6])
    labels = KINETICS_LABELS[: p["num_motion"]]
    jobs: list[_VideoJob] = []
    rows: dict[str, list[str]] = {"train": [], "val": []}
    item = 0
    for split, per_class in (("train", p["kinetics_train_per_class"]), ("val", p["kinetics_val_per_class"])):
        for m, label in enumerate(labels):
            for a in _balanced_appearances(rng, per_class, p["num_appearance"]):
                ytid, start = _ytid(rng), int(rng.integers(0, 300))
                stem = f"{ytid}_{start:06d}_{start + 10:06d}"
                jobs.append(_VideoJob(f"{split}/{label}/{stem}.mp4", m, a, item))
                rows[split].append(f"{_csv_label(label)},{ytid},{start},{start + 10},{split},0")
                item += 1
    for k in range(p["kinetics_missing"]):  # listed in the CSV, never downloaded (as in the real set)
        label = labels[k % len(labels)]
        start = int(rng.integers(0, 300))
        rows["train"].append(f"{_csv_label(label)},{_ytid(rng)},{start},{start + 10},train,0")
    header = "label,youtube_id,time_start,time_end,split,is_cc"
    for split, lines in rows.items():
        _write_lines(root / "annotations" / f"{split}.csv", [header, *sorted(lines)])
    _write_videos(root, "kinetics400", jobs, scene, "libx264", p["seed"], p["workers"])

    train_files = sorted(j.rel for j in jobs if j.rel.startswith("train/"))
    corrupt = train_files[: p["corrupt"]]
    zero = train_files[p["corrupt"] : p["corrupt"] + p["zero_length"]]
    for rel in corrupt:  # keep the first 40% of the bytes: the mp4 index (moov, at the end) is lost
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: int(len(data) * 0.4)])
    for rel in zero:
        (root / rel).write_bytes(b"")
    return {
        "root": str(root),
        "videos": {s: sum(j.rel.startswith(f"{s}/") for j in jobs) for s in rows},
        "missing": p["kinetics_missing"],
        "corrupt": corrupt,
        "zero_length": zero,
    }


# ----------------------------------------------------------------------------- UCF101 and HMDB51


def _write_ucf101(root: Path, p: dict[str, Any], scene: _Scene) -> dict[str, Any]:
    rng = np.random.default_rng([p["seed"], _LAYOUT_SEED["ucf101"], 10**6])
    classes = UCF_CLASSES[: p["num_motion"]]
    groups, clips = p["ucf_groups"], p["ucf_clips_per_group"]
    jobs = []
    for m, cls in enumerate(classes):
        spelled = UCF_FILE_SPELLING.get(cls, cls)
        apps = _balanced_appearances(rng, groups * clips, p["num_appearance"])
        for g in range(1, groups + 1):
            for c in range(1, clips + 1):
                rel = f"UCF-101/{cls}/v_{spelled}_g{g:02d}_c{c:02d}.avi"
                jobs.append(_VideoJob(rel, m, apps[(g - 1) * clips + c - 1], len(jobs)))
    lists = root / "ucfTrainTestlist"
    _write_lines(lists / "classInd.txt", [f"{k + 1} {c}" for k, c in enumerate(classes)], "\r\n")
    for split_no in (1, 2, 3):  # group g is a test group of split (g - 1) % 3 + 1
        train, test = [], []
        for j in jobs:
            group = int(j.rel.rsplit("_g", 1)[1][:2])
            rel = j.rel.removeprefix("UCF-101/")
            if (group - 1) % 3 == split_no - 1:
                test.append(rel)
            else:
                train.append(f"{rel} {j.motion + 1}")
        _write_lines(lists / f"trainlist0{split_no}.txt", train, "\r\n")
        _write_lines(lists / f"testlist0{split_no}.txt", test, "\r\n")
    _write_videos(root, "ucf101", jobs, scene, "mpeg4", p["seed"], p["workers"])
    return {"root": str(root), "videos": len(jobs)}


def _write_hmdb51(root: Path, p: dict[str, Any], scene: _Scene) -> dict[str, Any]:
    rng = np.random.default_rng([p["seed"], _LAYOUT_SEED["hmdb51"], 10**6])
    classes = HMDB_CLASSES[: p["num_motion"]]
    n = p["hmdb_per_class"]
    jobs = []
    for m, cls in enumerate(classes):
        names = [f"synth_{cls}_u_nm_np1_fr_goo_{k}.avi" for k in range(n)]
        for name, a in zip(names, _balanced_appearances(rng, n, p["num_appearance"])):
            jobs.append(_VideoJob(f"{cls}/{name}", m, a, len(jobs)))
        n_test, n_unused = round(0.3 * n), (max(1, round(0.1 * n)) if n >= 3 else 0)
        for split_no in (1, 2, 3):  # 70/30 per class and split, ~10% unused (tag 0), as in HMDB51
            tags = np.full(n, 1)
            order = rng.permutation(n)
            tags[order[:n_test]] = 2
            tags[order[n_test : n_test + n_unused]] = 0
            _write_lines(root / HMDB_SPLITS_DIR / f"{cls}_test_split{split_no}.txt",
                         [f"{name} {t} " for name, t in zip(names, tags)])
    _write_videos(root, "hmdb51", jobs, scene, "mpeg4", p["seed"], p["workers"])
    return {"root": str(root), "videos": len(jobs)}


# ----------------------------------------------------------------------------- images


def _save_jpeg(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=92)


def _image_size(p: dict[str, Any]) -> tuple[int, int]:
    return p["image_size"], _even(p["image_size"] * p["aspect"])


def _write_imagenet(root: Path, p: dict[str, Any]) -> dict[str, Any]:
    h, w = _image_size(p)
    jobs = []
    for split, per_class in (("train", p["imagenet_train_per_class"]), ("val", p["imagenet_val_per_class"])):
        for a in range(p["num_appearance"]):
            wnid = f"n{a + 1:08d}"
            for k in range(per_class):
                name = f"{wnid}_{k + 1}.JPEG" if split == "train" else f"ILSVRC2012_val_{len(jobs) + 1:08d}.JPEG"
                jobs.append((f"{split}/{wnid}/{name}", a, len(jobs)))

    def run(job: tuple[str, int, int]) -> None:
        rel, a, item = job
        rng = np.random.default_rng([p["seed"], _LAYOUT_SEED["imagenet"], item])
        radius = rng.uniform(0.25, 0.4)
        cx, cy = rng.uniform(radius, w / h - radius), rng.uniform(radius, 1 - radius)
        background = smooth_background(rng, h, w, contrast=p["background_contrast"], palette_size=p["palette_size"])
        pixels = render(h, w, background, [static_track(a, cx, cy, radius, rng, p["palette_size"])])[0]
        _save_jpeg(root / rel, pixels)

    _map(run, jobs, p["workers"])
    train = read_imagenet(root, "train")
    subsets = {}
    for name, fraction in (("1percent", 0.01), ("10percent", 0.10)):
        path = write_subset_list(make_semisup_subset(train, fraction, seed=p["seed"]), root / "subsets" / f"{name}.txt")
        subsets[name] = str(path)
    return {"root": str(root), "images": {s: sum(j[0].startswith(f"{s}/") for j in jobs) for s in ("train", "val")},
            "subsets": subsets}


def _voc_objects(
    rng: np.random.Generator, num_appearance: int, aspect: float, max_objects: int, difficult_p: float
) -> tuple[list[tuple], list[int]]:
    """1..max_objects distinct appearances; each (appearance, cx, cy, radius); labels 1, or 0 if small (difficult)."""
    k = int(rng.integers(1, min(max_objects, num_appearance) + 1))
    apps = rng.choice(num_appearance, size=k, replace=False)
    objects, labels = [], []
    for a in apps:
        difficult = rng.uniform() < difficult_p
        radius = rng.uniform(0.06, 0.08) if difficult else rng.uniform(0.16, 0.28)
        objects.append((int(a), rng.uniform(radius, aspect - radius), rng.uniform(radius, 1 - radius), radius))
        labels.append(0 if difficult else 1)
    return objects, labels


def _write_voc2007(root: Path, p: dict[str, Any]) -> dict[str, Any]:
    h, w = _image_size(p)
    names = appearance_names(p["num_appearance"])
    voc = root / "VOCdevkit" / "VOC2007"
    total = p["voc_trainval"] + p["voc_test"]
    order = np.random.default_rng([p["seed"], _LAYOUT_SEED["voc2007"], 10**6]).permutation(total)
    split_of = {int(i): ("trainval" if r < p["voc_trainval"] else "test") for r, i in enumerate(order)}
    table = np.full((total, len(names)), -1, dtype=int)

    def run(item: int) -> None:
        rng = np.random.default_rng([p["seed"], _LAYOUT_SEED["voc2007"], item])
        objects, labels = _voc_objects(rng, p["num_appearance"], w / h, p["voc_max_objects"], p["voc_difficult_p"])
        tracks: list[Track] = [static_track(a, cx, cy, r, rng, p["palette_size"]) for a, cx, cy, r in objects]
        background = smooth_background(rng, h, w, contrast=p["background_contrast"], palette_size=p["palette_size"])
        pixels = render(h, w, background, tracks)[0]
        _save_jpeg(voc / "JPEGImages" / f"{item + 1:06d}.jpg", pixels)
        for (a, *_), t in zip(objects, labels):
            table[item, a] = t

    _map(run, list(range(total)), p["workers"])
    main = voc / "ImageSets" / "Main"
    for split in ("trainval", "test"):
        ids = [i for i in range(total) if split_of[i] == split]
        _write_lines(main / f"{split}.txt", [f"{i + 1:06d}" for i in ids])
        for k, name in enumerate(names):  # "<id>  1" / "<id> -1" / "<id>  0", as in VOC
            _write_lines(main / f"{name}_{split}.txt", [f"{i + 1:06d} {table[i, k]:2d}" for i in ids])
    return {"root": str(root), "images": {"trainval": p["voc_trainval"], "test": p["voc_test"]},
            "difficult": int((table == 0).sum()), "classes": names}


# ----------------------------------------------------------------------------- entry point


def write_synthetic(
    root: str | os.PathLike,
    *,
    seed: int = 0,
    num_motion: int = 8,
    num_appearance: int = 8,
    size: int = 64,
    aspect: float = 4 / 3,
    num_frames: int = 32,
    fps: float = 25.0,
    kinetics_train_per_class: int = 40,
    kinetics_val_per_class: int = 12,
    kinetics_missing: int = 2,
    ucf_groups: int = 6,
    ucf_clips_per_group: int = 3,
    hmdb_per_class: int = 18,
    imagenet_train_per_class: int = 40,
    imagenet_val_per_class: int = 10,
    image_size: int = 64,
    voc_trainval: int = 200,
    voc_test: int = 200,
    voc_max_objects: int = 3,
    voc_difficult_p: float = 0.15,
    object_radius: tuple[float, float] = (0.25, 0.35),
    background_contrast: float = 0.15,
    palette_size: int = 2,
    speed_scale: float = 1.5,
    corrupt: int = 0,
    zero_length: int = 0,
    layouts: tuple[str, ...] = LAYOUTS,
    workers: int = 2,
) -> dict[str, Any]:
    """Write the synthetic data sets under ``root`` (deterministic in ``seed``); return a summary.

    Videos are ``size`` px high, ``size·aspect`` wide (rounded to even), ``num_frames`` frames at
    ``fps``; images ``image_size`` px high with the same aspect. Nuisances are kept weak enough
    not to identify a video: ``object_radius`` (range, frame-height units) keeps shapes and
    textures readable at 48–64 px; ``background_contrast`` scales the background texture;
    objects and background tints take one of ``palette_size`` fixed colours shared by all
    classes (0 = random hues); ``speed_scale`` multiplies the motion speed so a short clip shows it. ``corrupt`` / ``zero_length``
    Kinetics train videos are truncated / emptied (for tests; 0 in the default data).
    Returns ``{"root", "seed", "motions", "appearances", "layouts": {name: counts and paths},
    "seconds"}``; ``<root>/synthetic.json`` holds the parameters and class names.
    """
    params = {k: v for k, v in locals().items() if k != "root"}
    params["layouts"] = list(layouts)
    params["object_radius"] = [float(r) for r in object_radius]
    if not 0 < object_radius[0] <= object_radius[1] <= 0.5:
        raise ValueError(f"object_radius must be 0 < lo <= hi <= 0.5, got {tuple(object_radius)}")
    if not 1 <= num_motion <= len(MOTIONS):
        raise ValueError(f"num_motion must be in 1..{len(MOTIONS)}, got {num_motion}")
    if not 1 <= num_appearance <= len(appearance_names(24)):
        raise ValueError(f"num_appearance must be in 1..24, got {num_appearance}")
    unknown = set(layouts) - set(LAYOUTS)
    if unknown:
        raise ValueError(f"unknown layouts {sorted(unknown)}; expected a subset of {', '.join(LAYOUTS)}")
    if corrupt + zero_length > kinetics_train_per_class * num_motion:
        raise ValueError(f"corrupt + zero_length ({corrupt + zero_length}) exceeds the Kinetics train videos")
    t0 = time.perf_counter()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    look = dict(object_radius=tuple(object_radius), background_contrast=background_contrast,
                palette_size=palette_size, speed_scale=speed_scale)
    scene = _Scene(size, _even(size * aspect), num_frames, fps, tuple(look.items()))
    writers: dict[str, Callable[[], dict[str, Any]]] = {
        "kinetics400": lambda: _write_kinetics(root / "kinetics400", params, scene),
        "ucf101": lambda: _write_ucf101(root / "ucf101", params, scene),
        "hmdb51": lambda: _write_hmdb51(root / "hmdb51", params, scene),
        "imagenet": lambda: _write_imagenet(root / "imagenet", params),
        "voc2007": lambda: _write_voc2007(root / "voc2007", params),
    }
    summary = {name: writers[name]() for name in LAYOUTS if name in layouts}
    manifest = {
        "params": {k: v for k, v in params.items() if k != "workers"},
        "motions": list(MOTIONS[:num_motion]),
        "appearances": appearance_names(num_appearance),
        "kinetics_labels": list(KINETICS_LABELS[:num_motion]),
        "ucf_classes": list(UCF_CLASSES[:num_motion]),
        "imagenet_wnids": [f"n{a + 1:08d}" for a in range(num_appearance)],
    }
    (root / "synthetic.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return {"root": str(root), "seed": seed, "motions": manifest["motions"], "appearances": manifest["appearances"],
            "layouts": summary, "seconds": round(time.perf_counter() - t0, 2)}
