"""The embedded default data: synthetic videos and images written in the five real layouts.

Every clip has a MOTION class (how its object moves; visible only over time) and an APPEARANCE
class (shape × texture; visible in any frame), with per-video nuisances that do not depend on the
label: object colour from the full palette, a textured background of real contrast, a global
lighting drift over the clip, position, speed, direction and scale (`vi2clr.data.render`).
Kinetics-400, UCF101 and HMDB51 classes are motion classes; ImageNet classes (wnids ``n00000001``,
...) are appearance classes; VOC images hold 1–3 objects → multi-label appearance targets, small
objects marked difficult (0). ``synthetic_meta.csv`` (``path,motion,appearance``) beside each video
layout gives both ids. All knobs: `vi2clr.config.SynthParams` (``data.synth``).

Determinism: every video / image draws from its own generator, seeded by
SeedSequence([seed, sha256("<family>/<layout>/<split>/<index>")]) — a stable hash, never Python's
per-process ``hash()`` — with two children: one for the label-free nuisances (colour, background,
lighting), one for the geometry. So the files do not depend on PYTHONHASHSEED, the number of
``workers`` or the order in which threads finish; encoders run single-threaded with fixed options
(`vi2clr.data.encode`). What still depends on the machine: docs/learning.md.

    <root>/kinetics400/annotations/{train,val}.csv, {train,val}/<label>/<ytid>_<start:06d>_<end:06d>.mp4
    <root>/ucf101/UCF-101/<Class>/v_<Class>_gXX_cYY.avi, ucfTrainTestlist/*.txt (CRLF)
    <root>/hmdb51/<class>/<name>.avi, testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt
    <root>/imagenet/{train,val}/<wnid>/*.JPEG, subsets/{1percent,10percent}.txt
    <root>/voc2007/VOCdevkit/VOC2007/{JPEGImages,ImageSets/Main}/
    <root>/synthetic.json  (parameters and class names)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vi2clr.config import SynthParams
from vi2clr.data.encode import encode_video
from vi2clr.data.layouts import HMDB_SPLITS_DIR, SIDECAR_NAME, read_imagenet
from vi2clr.data.render import (
    FAMILIES,
    Track,
    appearance_names,
    appearance_parts,
    lighting_drift,
    motion_track,
    random_colour,
    render,
    static_track,
    textured_background,
)
from vi2clr.data.subsets import make_semisup_subset, write_subset_list

__all__ = ["write_synthetic", "item_rngs", "LAYOUTS", "CLASS_NAMES", "render_video"]

LAYOUTS = ("kinetics400", "ucf101", "hmdb51", "imagenet", "voc2007")


@dataclass(frozen=True)
class _LayoutNames:
    """Motion class names of one family in the video layouts (same order as the family's motions)."""

    kinetics: tuple[str, ...]
    ucf: tuple[str, ...]
    ucf_file_spelling: dict[str, str]  # as HandstandPushups / v_HandStandPushups in real UCF101

    @property
    def hmdb(self) -> tuple[str, ...]:
        return tuple(self.ucf)


# Kinetics labels are multi-word, one with a comma so the CSV must quote it; one UCF class is
# spelled differently in file names, to exercise label-from-folder.
CLASS_NAMES: dict[str, _LayoutNames] = {
    "default": _LayoutNames(
        kinetics=("sliding sideways", "rising", "falling down", "spinning, in place", "zooming in",
                  "zooming out", "circling", "bouncing", "shaking", "standing still"),
        ucf=("SlideSideways", "RiseUp", "FallDown", "SpinInPlace", "ZoomIn",
             "ZoomOut", "CircleAround", "BounceBall", "ShakeSideways", "StandStill"),
        ucf_file_spelling={"RiseUp": "Riseup"},
    ),
    "validation": _LayoutNames(
        kinetics=("sliding down diagonally", "sliding up diagonally", "drawing a figure eight",
                  "spiralling, outwards", "pulsing", "swinging", "wobbling", "hopping sideways",
                  "shaking vertically", "zigzagging"),
        ucf=("DiagonalDown", "DiagonalUp", "FigureEight", "SpiralOut", "Pulse",
             "Pendulum", "Wobble", "HopSideways", "ShakeVertical", "ZigZag"),
        ucf_file_spelling={"DiagonalUp": "Diagonalup"},
    ),
}  # fmt: skip


def item_rngs(p: SynthParams, layout: str, split: str, index: int | str) -> tuple[np.random.Generator, np.random.Generator]:
    """(nuisance, geometry) generators of one item, from a stable hash of where it lives.

    key = first 16 bytes of sha256("<family>/<layout>/<split>/<index>") as 4 uint32 words;
    SeedSequence([seed, *key]).spawn(2). ``index`` may be a name (e.g. ``"names"`` for a layout's
    file-name and split draws). The nuisance child never sees the label, so colour, background and
    lighting are the same whichever class an item is given.
    """
    digest = hashlib.sha256(f"{p.family}/{layout}/{split}/{index}".encode()).digest()
    key = np.frombuffer(digest[:16], dtype="<u4").tolist()
    nuisance, geometry = np.random.SeedSequence([p.seed, *key]).spawn(2)
    return np.random.default_rng(nuisance), np.random.default_rng(geometry)


def _names_rng(p: SynthParams, layout: str) -> np.random.Generator:
    return item_rngs(p, layout, "-", "names")[1]


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def _video_shape(p: SynthParams) -> tuple[int, int]:
    return p.size, _even(p.size * p.aspect)


def _image_size(p: SynthParams) -> tuple[int, int]:
    return p.image_size, _even(p.image_size * p.aspect)


def render_video(
    motion: int,
    appearance: int,
    height: int,
    width: int,
    num_frames: int,
    rngs: tuple[np.random.Generator, np.random.Generator],
    p: SynthParams | None = None,
) -> np.ndarray:
    """One synthetic clip → uint8 ``(T, H, W, 3)``: one object of ``appearance`` moving by ``motion``.

    ``rngs`` = (nuisance, geometry) as from `item_rngs`; ``p`` gives the family and the nuisance
    knobs (None = `SynthParams` defaults).
    """
    p = p or SynthParams()
    nuisance, geometry = rngs
    colour = random_colour(nuisance)
    background = textured_background(nuisance, height, width, p.background_contrast)
    lighting = lighting_drift(nuisance, num_frames, p.lighting_drift)
    track = motion_track(p.family, motion, appearance_parts(appearance, p.family), colour, num_frames,
                         width / height, geometry, p.object_radius, p.speed_scale)
    return render(height, width, background, [track], lighting)


@dataclass(frozen=True)
class _VideoJob:
    rel: str  # path relative to the layout root
    motion: int
    appearance: int
    split: str
    item: int  # index within (layout, split)


def _write_videos(root: Path, layout: str, jobs: list[_VideoJob], p: SynthParams, codec: str) -> None:
    """Render and encode ``jobs`` under ``root`` (threads; each job has its own generators) + sidecar."""
    height, width = _video_shape(p)

    def run(job: _VideoJob) -> None:
        rngs = item_rngs(p, layout, job.split, job.item)
        frames = render_video(job.motion, job.appearance, height, width, p.num_frames, rngs, p)
        encode_video(root / job.rel, frames, p.fps, codec)

    _map(run, jobs, p.workers)
    rows = [(j.rel, j.motion, j.appearance) for j in sorted(jobs, key=lambda j: j.rel)]
    _write_csv(root / SIDECAR_NAME, ("path", "motion", "appearance"), rows)


def _map(fn: Callable[[Any], Any], items: list, workers: int) -> None:
    """fn over items in ``workers`` threads; each item writes only its own file, so the order does not matter."""
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


def _write_kinetics(root: Path, p: SynthParams) -> dict[str, Any]:
    rng = _names_rng(p, "kinetics400")
    labels = CLASS_NAMES[p.family].kinetics[: p.num_motion]
    jobs: list[_VideoJob] = []
    rows: dict[str, list[str]] = {"train": [], "val": []}
    for split, per_class in (("train", p.kinetics_train_per_class), ("val", p.kinetics_val_per_class)):
        item = 0
        for m, label in enumerate(labels):
            for a in _balanced_appearances(rng, per_class, p.num_appearance):
                ytid, start = _ytid(rng), int(rng.integers(0, 300))
                stem = f"{ytid}_{start:06d}_{start + 10:06d}"
                jobs.append(_VideoJob(f"{split}/{label}/{stem}.mp4", m, a, split, item))
                item += 1
                rows[split].append(f"{_csv_label(label)},{ytid},{start},{start + 10},{split},0")
    for k in range(p.kinetics_missing):  # listed in the CSV, never downloaded (as in the real set)
        label = labels[k % len(labels)]
        start = int(rng.integers(0, 300))
        rows["train"].append(f"{_csv_label(label)},{_ytid(rng)},{start},{start + 10},train,0")
    header = "label,youtube_id,time_start,time_end,split,is_cc"
    for split, lines in rows.items():
        _write_lines(root / "annotations" / f"{split}.csv", [header, *sorted(lines)])
    _write_videos(root, "kinetics400", jobs, p, "libx264")

    train_files = sorted(j.rel for j in jobs if j.split == "train")
    corrupt = train_files[: p.corrupt]
    zero = train_files[p.corrupt : p.corrupt + p.zero_length]
    for rel in corrupt:  # keep the first 40% of the bytes: the mp4 index (moov, at the end) is lost
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: int(len(data) * 0.4)])
    for rel in zero:
        (root / rel).write_bytes(b"")
    return {
        "root": str(root),
        "videos": {s: sum(j.split == s for j in jobs) for s in rows},
        "missing": p.kinetics_missing,
        "corrupt": corrupt,
        "zero_length": zero,
    }


# ----------------------------------------------------------------------------- UCF101 and HMDB51


def _ucf_test_groups(p: SynthParams, split_no: int) -> set[int]:
    """Test groups of split ``split_no`` (1..3): ``ucf_test_groups`` consecutive groups from (k−1)·that, mod G."""
    g, t = p.ucf_groups, p.ucf_test_groups
    return {((split_no - 1) * t + k) % g + 1 for k in range(t)}


def _write_ucf101(root: Path, p: SynthParams) -> dict[str, Any]:
    rng = _names_rng(p, "ucf101")
    names = CLASS_NAMES[p.family]
    classes = names.ucf[: p.num_motion]
    groups, clips = p.ucf_groups, p.ucf_clips_per_group
    jobs = []
    for m, cls in enumerate(classes):
        spelled = names.ucf_file_spelling.get(cls, cls)
        apps = _balanced_appearances(rng, groups * clips, p.num_appearance)
        for g in range(1, groups + 1):
            for c in range(1, clips + 1):
                rel = f"UCF-101/{cls}/v_{spelled}_g{g:02d}_c{c:02d}.avi"
                jobs.append(_VideoJob(rel, m, apps[(g - 1) * clips + c - 1], "all", len(jobs)))
    lists = root / "ucfTrainTestlist"
    _write_lines(lists / "classInd.txt", [f"{k + 1} {c}" for k, c in enumerate(classes)], "\r\n")
    for split_no in (1, 2, 3):
        test_groups = _ucf_test_groups(p, split_no)
        train, test = [], []
        for j in jobs:
            group = int(j.rel.rsplit("_g", 1)[1][:2])
            rel = j.rel.removeprefix("UCF-101/")
            if group in test_groups:
                test.append(rel)
            else:
                train.append(f"{rel} {j.motion + 1}")
        _write_lines(lists / f"trainlist0{split_no}.txt", train, "\r\n")
        _write_lines(lists / f"testlist0{split_no}.txt", test, "\r\n")
    _write_videos(root, "ucf101", jobs, p, "mpeg4")
    return {"root": str(root), "videos": len(jobs), "test": len(test)}


def _write_hmdb51(root: Path, p: SynthParams) -> dict[str, Any]:
    rng = _names_rng(p, "hmdb51")
    classes = CLASS_NAMES[p.family].hmdb[: p.num_motion]
    n, n_test, n_unused = p.hmdb_per_class, p.hmdb_test_per_class, p.hmdb_unused_per_class
    jobs = []
    for m, cls in enumerate(classes):
        names = [f"synth_{cls}_u_nm_np1_fr_goo_{k}.avi" for k in range(n)]
        for name, a in zip(names, _balanced_appearances(rng, n, p.num_appearance)):
            jobs.append(_VideoJob(f"{cls}/{name}", m, a, "all", len(jobs)))
        for split_no in (1, 2, 3):  # per class and split: train (1), test (2), unused (0), as in HMDB51
            tags = np.full(n, 1)
            order = rng.permutation(n)
            tags[order[:n_test]] = 2
            tags[order[n_test : n_test + n_unused]] = 0
            _write_lines(root / HMDB_SPLITS_DIR / f"{cls}_test_split{split_no}.txt",
                         [f"{name} {t} " for name, t in zip(names, tags)])
    _write_videos(root, "hmdb51", jobs, p, "mpeg4")
    return {"root": str(root), "videos": len(jobs), "test": n_test * len(classes)}


# ----------------------------------------------------------------------------- images


def _save_jpeg(path: Path, pixels: np.ndarray) -> None:
    """Baseline JPEG, fixed quality, no optimisation pass or progressive scan (libjpeg is single-threaded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=92, optimize=False, progressive=False, subsampling=0)


def _render_image(p: SynthParams, rngs: tuple[np.random.Generator, np.random.Generator], h: int, w: int,
                  objects: list[tuple[int, float, float, float]]) -> np.ndarray:
    """One image ``(h, w, 3)`` uint8: ``objects`` (appearance, cx, cy, radius) over a textured background."""
    nuisance, geometry = rngs
    colours = [random_colour(nuisance) for _ in objects]
    background = textured_background(nuisance, h, w, p.background_contrast)
    lighting = lighting_drift(nuisance, 1, p.lighting_drift)
    tracks: list[Track] = [static_track(appearance_parts(a, p.family), col, cx, cy, r, geometry)
                           for (a, cx, cy, r), col in zip(objects, colours)]
    return render(h, w, background, tracks, lighting)[0]


def _write_imagenet(root: Path, p: SynthParams) -> dict[str, Any]:
    h, w = _image_size(p)
    jobs = []
    for split, per_class in (("train", p.imagenet_train_per_class), ("val", p.imagenet_val_per_class)):
        item = 0
        for a in range(p.num_appearance):
            wnid = f"n{a + 1:08d}"
            for k in range(per_class):
                name = f"{wnid}_{k + 1}.JPEG" if split == "train" else f"ILSVRC2012_val_{item + 1:08d}.JPEG"
                jobs.append((f"{split}/{wnid}/{name}", split, a, item))
                item += 1

    def run(job: tuple[str, str, int, int]) -> None:
        rel, split, a, item = job
        rngs = item_rngs(p, "imagenet", split, item)
        radius = rngs[1].uniform(0.25, 0.4)
        cx, cy = rngs[1].uniform(radius, w / h - radius), rngs[1].uniform(radius, 1 - radius)
        _save_jpeg(root / rel, _render_image(p, rngs, h, w, [(a, cx, cy, radius)]))

    _map(run, jobs, p.workers)
    train = read_imagenet(root, "train")
    subsets = {}
    for name, fraction in (("1percent", 0.01), ("10percent", 0.10)):
        path = write_subset_list(make_semisup_subset(train, fraction, seed=p.seed), root / "subsets" / f"{name}.txt")
        subsets[name] = str(path)
    return {"root": str(root), "images": {s: sum(j[1] == s for j in jobs) for s in ("train", "val")},
            "subsets": subsets}


def _voc_objects(
    rng: np.random.Generator, num_appearance: int, aspect: float, max_objects: int, difficult_p: float
) -> tuple[list[tuple[int, float, float, float]], list[int]]:
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


def _write_voc2007(root: Path, p: SynthParams) -> dict[str, Any]:
    h, w = _image_size(p)
    names = appearance_names(p.num_appearance, p.family)
    voc = root / "VOCdevkit" / "VOC2007"
    total = p.voc_trainval + p.voc_test
    order = _names_rng(p, "voc2007").permutation(total)
    split_of = {int(i): ("trainval" if r < p.voc_trainval else "test") for r, i in enumerate(order)}
    table = np.full((total, len(names)), -1, dtype=int)

    def run(item: int) -> None:
        rngs = item_rngs(p, "voc2007", "all", item)
        objects, labels = _voc_objects(rngs[1], p.num_appearance, w / h, p.voc_max_objects, p.voc_difficult_p)
        _save_jpeg(voc / "JPEGImages" / f"{item + 1:06d}.jpg", _render_image(p, rngs, h, w, objects))
        for (a, *_), t in zip(objects, labels):
            table[item, a] = t  # each item writes only its own row

    _map(run, list(range(total)), p.workers)
    main = voc / "ImageSets" / "Main"
    for split in ("trainval", "test"):
        ids = [i for i in range(total) if split_of[i] == split]
        _write_lines(main / f"{split}.txt", [f"{i + 1:06d}" for i in ids])
        for k, name in enumerate(names):  # "<id>  1" / "<id> -1" / "<id>  0", as in VOC
            _write_lines(main / f"{name}_{split}.txt", [f"{i + 1:06d} {table[i, k]:2d}" for i in ids])
    return {"root": str(root), "images": {"trainval": p.voc_trainval, "test": p.voc_test},
            "difficult": int((table == 0).sum()), "classes": names}


# ----------------------------------------------------------------------------- entry point


def write_synthetic(
    root: str | os.PathLike,
    params: SynthParams | Mapping[str, Any] | None = None,
    *,
    layouts: tuple[str, ...] | list[str] = LAYOUTS,
    **overrides: Any,
) -> dict[str, Any]:
    """Write the synthetic data sets under ``root`` (deterministic in the params); return a summary.

    ``params``: a `SynthParams` or its dict (None = the defaults), with ``overrides`` (its field
    names) on top; ``root`` wins over ``params.root``. Videos are ``size`` px high, ``size·aspect``
    wide (rounded to even), ``num_frames`` frames at ``fps``; images ``image_size`` px high.
    Returns ``{"root", "seed", "family", "motions", "appearances", "layouts": {name: counts and
    paths}, "seconds"}``; ``<root>/synthetic.json`` holds the parameters and class names.
    """
    base = params.model_dump() if isinstance(params, SynthParams) else dict(params or {})
    p = SynthParams.model_validate({**base, **overrides})
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown:
        raise ValueError(f"unknown layouts {unknown}; expected a subset of {', '.join(LAYOUTS)}")
    if p.num_appearance > len(appearance_names(24, p.family)):
        raise ValueError(f"num_appearance must be in 2..24, got {p.num_appearance}")
    t0 = time.perf_counter()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    writers: dict[str, Callable[[], dict[str, Any]]] = {
        "kinetics400": lambda: _write_kinetics(root / "kinetics400", p),
        "ucf101": lambda: _write_ucf101(root / "ucf101", p),
        "hmdb51": lambda: _write_hmdb51(root / "hmdb51", p),
        "imagenet": lambda: _write_imagenet(root / "imagenet", p),
        "voc2007": lambda: _write_voc2007(root / "voc2007", p),
    }
    summary = {name: writers[name]() for name in LAYOUTS if name in layouts}
    names = CLASS_NAMES[p.family]
    manifest = {
        "params": {**p.model_dump(mode="json", exclude={"workers", "root"}), "layouts": [n for n in LAYOUTS if n in layouts]},
        "family": p.family,
        "motions": list(FAMILIES[p.family].motions[: p.num_motion]),
        "appearances": appearance_names(p.num_appearance, p.family),
        "kinetics_labels": list(names.kinetics[: p.num_motion]),
        "ucf_classes": list(names.ucf[: p.num_motion]),
        "imagenet_wnids": [f"n{a + 1:08d}" for a in range(p.num_appearance)],
    }
    (root / "synthetic.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return {"root": str(root), "seed": p.seed, "family": p.family, "motions": manifest["motions"],
            "appearances": manifest["appearances"], "layouts": summary, "seconds": round(time.perf_counter() - t0, 2)}
