"""Readers of the official on-disk layouts (docs/architecture.md, "On-disk layouts users bring") → one uniform `Index`. Read only: subsets
are made in `vi2clr.data.subsets`, the name → reader mapping lives in `vi2clr.data.catalog`.

Each reader checks the structure first and fails fast with one `LayoutError` line saying what
was expected where. Files listed by the annotations but absent on disk go to ``Index.missing``
(the caller reports them). For the synthetic data (`vi2clr.data.synthetic`), a sidecar
``<root>/synthetic_meta.csv`` (``path,motion,appearance``) adds ground-truth ids to ``extra``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath

from vi2clr.data.index import Index, LayoutError, Sample

__all__ = [
    "VIDEO_EXTENSIONS",
    "VOC_CLASSES",
    "SIDECAR_NAME",
    "read_kinetics400",
    "read_ucf101",
    "read_hmdb51",
    "read_imagenet",
    "read_voc2007",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")
SIDECAR_NAME = "synthetic_meta.csv"
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


# ----------------------------------------------------------------------------- helpers


def _require(path: Path, what: str, layout: str, root: Path) -> Path:
    """Return ``path`` if it exists, else raise LayoutError naming the layout, root and expectation."""
    if not path.exists():
        raise LayoutError(f"{layout} root {root}: expected {what}")
    return path


def _read_lines(path: Path) -> list[str]:
    """Non-empty lines, stripped (handles CRLF and trailing spaces)."""
    with path.open(encoding="utf-8", newline="") as f:
        return [line.strip() for line in f.read().splitlines() if line.strip()]


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _attach_sidecar(root: Path, samples: list[Sample]) -> None:
    """Add ``motion`` / ``appearance`` ids from ``<root>/synthetic_meta.csv`` when it exists."""
    sidecar = root / SIDECAR_NAME
    if not sidecar.is_file():
        return
    with sidecar.open(encoding="utf-8", newline="") as f:
        meta = {row["path"]: row for row in csv.DictReader(f)}
    for s in samples:
        row = meta.get(s.path)
        if row is not None:
            s.extra["motion"] = int(row["motion"])
            s.extra["appearance"] = int(row["appearance"])


def _walk_files(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    """All files under ``root`` with one of ``extensions`` (case-insensitive), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):  # symlinked dataset folders count
        dirnames.sort()
        found.extend(Path(dirpath) / n for n in filenames if n.lower().endswith(extensions))
    return sorted(found)


# ----------------------------------------------------------------------------- Kinetics-400


def _kinetics_annotations(root: Path, annotations: Path | str | None, split: str) -> Path:
    if annotations is not None:
        path = Path(annotations)
        if path.is_dir():
            path = path / f"{split}.csv"
        if not path.is_file():
            raise LayoutError(f"Kinetics-400 annotations {path}: file not found")
        return path
    for candidate in (root / "annotations" / f"{split}.csv", root / f"{split}.csv"):
        if candidate.is_file():
            return candidate
    raise LayoutError(f"Kinetics-400 root {root}: expected annotations/{split}.csv (or pass annotations=)")


def read_kinetics400(
    root: str | os.PathLike,
    annotations: Path | str | None = None,
    split: str = "train",
    classes: list[str] | None = None,
) -> Index:
    """Kinetics-400 from its annotation CSV and the downloaded videos.

    ``annotations``: the CSV, or a folder holding ``<split>.csv``; None looks for
    ``<root>/annotations/<split>.csv`` then ``<root>/<split>.csv``.

    CSV columns ``label,youtube_id,time_start,time_end,split[,is_cc]`` (labels may be quoted
    multi-word). Videos: ``<split>/<label>/<ytid>_<start:06d>_<end:06d>.<ext>`` (label folder with
    spaces or underscores), flat ``<ytid>_<start:06d>_<end:06d>.<ext>`` or bare ``<ytid>.<ext>``,
    ext mp4, mkv or webm. Classes: all labels of the CSV, sorted (or ``classes`` if given).
    Rows of other splits are ignored; rows without a video go to ``missing``.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"Kinetics-400 root {root}: not a directory")
    ann = _kinetics_annotations(root, annotations, split)
    with ann.open(encoding="utf-8-sig", newline="") as f:  # -sig: spreadsheet tools write a BOM
        reader = csv.DictReader(f)
        need = {"label", "youtube_id", "time_start", "time_end", "split"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise LayoutError(
                f"Kinetics-400 annotations {ann}: expected header label,youtube_id,time_start,time_end,split, "
                f"got {reader.fieldnames}"
            )
        rows = list(reader)
    names = sorted({r["label"] for r in rows}) if classes is None else list(classes)
    class_id = {c: i for i, c in enumerate(names)}

    by_stem: dict[str, list[Path]] = {}
    for p in _walk_files(root, (".mp4", ".mkv", ".webm")):
        by_stem.setdefault(p.stem, []).append(p)

    samples, missing = [], []
    for line_no, r in enumerate(rows, start=2):
        if r["split"] != split:
            continue
        label = r["label"]
        if label not in class_id:
            raise LayoutError(f"Kinetics-400 annotations {ann} line {line_no}: label {label!r} not in the class list")
        try:
            start, end = int(float(r["time_start"])), int(float(r["time_end"]))
        except ValueError:
            raise LayoutError(
                f"Kinetics-400 annotations {ann} line {line_no}: bad time_start/time_end "
                f"{r['time_start']!r}, {r['time_end']!r}"
            ) from None
        key = f"{r['youtube_id']}_{start:06d}_{end:06d}"
        found = by_stem.get(key) or by_stem.get(r["youtube_id"])
        if not found:
            missing.append(key)
            continue
        # several copies: prefer the one inside its <split>/<label>/ folder
        preferred = [p for p in found if p.parent.name in (label, label.replace(" ", "_"))]
        path = (preferred or found)[0]
        samples.append(Sample(_rel(path, root), class_id[label], label, split))
    _attach_sidecar(root, samples)
    return Index("kinetics400", root, names, samples, missing)


# ----------------------------------------------------------------------------- UCF101


def read_ucf101(root: str | os.PathLike, split_no: int = 1) -> Index:
    """UCF101 official split ``split_no`` (1-3): train and test samples in one index.

    ``<root>/UCF-101/<Class>/v_*.avi`` and ``<root>/ucfTrainTestlist/`` with ``classInd.txt``
    (``1 ApplyEyeMakeup``), ``trainlist0N.txt`` (``Class/file.avi 1``), ``testlist0N.txt``
    (``Class/file.avi``); CRLF tolerated. The label comes from the folder via classInd (file
    names sometimes spell the class differently).
    """
    root = Path(root)
    if split_no not in (1, 2, 3):
        raise LayoutError(f"UCF101 split_no must be 1, 2 or 3, got {split_no}")
    lists = _require(root / "ucfTrainTestlist", "folder ucfTrainTestlist/", "UCF101", root)
    videos = _require(root / "UCF-101", "folder UCF-101/<Class>/v_*.avi", "UCF101", root)
    class_ind = _require(lists / "classInd.txt", "ucfTrainTestlist/classInd.txt", "UCF101", root)
    ids: dict[str, int] = {}
    for line in _read_lines(class_ind):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise LayoutError(f"UCF101 {class_ind}: expected lines '<id> <Class>', got {line!r}")
        ids[parts[1]] = int(parts[0]) - 1
    names = [n for n, _ in sorted(ids.items(), key=lambda kv: kv[1])]
    if [ids[n] for n in names] != list(range(len(names))):
        raise LayoutError(f"UCF101 {class_ind}: class ids must be 1..{len(names)} without gaps")

    samples, missing = [], []
    for split, fname in (("train", f"trainlist0{split_no}.txt"), ("test", f"testlist0{split_no}.txt")):
        list_file = _require(lists / fname, f"ucfTrainTestlist/{fname}", "UCF101", root)
        for line in _read_lines(list_file):
            rel = line.split()[0]
            folder = PurePosixPath(rel).parts[0]
            if folder not in ids:
                raise LayoutError(f"UCF101 {list_file}: class folder {folder!r} of {rel!r} not in classInd.txt")
            path = videos / rel
            if not path.is_file():
                missing.append(rel)
                continue
            samples.append(Sample(_rel(path, root), ids[folder], folder, split))
    _attach_sidecar(root, samples)
    return Index(f"ucf101-split{split_no}", root, names, samples, missing)


# ----------------------------------------------------------------------------- HMDB51

HMDB_SPLITS_DIR = "testTrainMulti_7030_splits"


def read_hmdb51(root: str | os.PathLike, split_no: int = 1) -> Index:
    """HMDB51 official split ``split_no`` (1-3): train (tag 1) and test (tag 2); tag 0 is left out.

    ``<root>/<class>/<name>.avi`` and ``<root>/testTrainMulti_7030_splits/<class>_test_split{N}.txt``
    with lines ``<name>.avi <tag>``. Classes: those with a split file, sorted.
    """
    root = Path(root)
    if split_no not in (1, 2, 3):
        raise LayoutError(f"HMDB51 split_no must be 1, 2 or 3, got {split_no}")
    splits_dir = _require(root / HMDB_SPLITS_DIR, f"folder {HMDB_SPLITS_DIR}/", "HMDB51", root)
    suffix = f"_test_split{split_no}.txt"
    split_files = sorted(p for p in splits_dir.iterdir() if p.name.endswith(suffix))
    if not split_files:
        raise LayoutError(f"HMDB51 root {root}: expected {HMDB_SPLITS_DIR}/<class>{suffix} files")
    names = [p.name[: -len(suffix)] for p in split_files]
    samples, missing = [], []
    for label, (name, split_file) in enumerate(zip(names, split_files)):
        for line in _read_lines(split_file):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise LayoutError(f"HMDB51 {split_file}: expected lines '<name>.avi <0|1|2>', got {line!r}")
            if parts[1] == "0":
                continue
            rel = f"{name}/{parts[0]}"
            if not (root / rel).is_file():
                missing.append(rel)
                continue
            samples.append(Sample(rel, label, name, "train" if parts[1] == "1" else "test"))
    _attach_sidecar(root, samples)
    return Index(f"hmdb51-split{split_no}", root, names, samples, missing)


# ----------------------------------------------------------------------------- ImageNet

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")


def read_imagenet(root: str | os.PathLike, split: str = "train", subset_file: str | os.PathLike | None = None) -> Index:
    """ImageNet ``<root>/<split>/<wnid>/*.JPEG``; classes = the train wnid folders, sorted.

    ``subset_file`` (1%/10% lists): one file name per line (``n01440764_10026.JPEG``), class =
    prefix before ``_``; only those images are kept, names not found go to ``missing``.
    """
    root = Path(root)
    class_dir = _require(root / "train", "folder train/<wnid>/*.JPEG", "ImageNet", root)
    names = sorted(p.name for p in class_dir.iterdir() if p.is_dir())
    if not names:
        raise LayoutError(f"ImageNet root {root}: expected class folders train/<wnid>/")
    split_dir = _require(root / split, f"folder {split}/<wnid>/*.JPEG", "ImageNet", root)
    class_id = {n: i for i, n in enumerate(names)}
    samples = []
    for wnid in sorted(p.name for p in split_dir.iterdir() if p.is_dir()):
        if wnid not in class_id:
            raise LayoutError(f"ImageNet root {root}: {split}/{wnid}/ is not a class of train/")
        for p in sorted((split_dir / wnid).iterdir()):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                samples.append(Sample(_rel(p, root), class_id[wnid], wnid, split))
    if not samples:
        raise LayoutError(f"ImageNet root {root}: expected images in {split}/<wnid>/*.JPEG")
    missing: list[str] = []
    name = f"imagenet-{split}"
    if subset_file is not None:
        wanted = _read_lines(Path(subset_file))
        by_name = {PurePosixPath(s.path).name: s for s in samples}
        for w in wanted:
            if w.split("_")[0] not in class_id:
                raise LayoutError(f"ImageNet subset {subset_file}: {w!r} has no class folder {w.split('_')[0]}/")
        missing = [w for w in wanted if w not in by_name]
        keep = set(wanted)
        samples = [s for s in samples if PurePosixPath(s.path).name in keep]
        name = f"{name}-{Path(subset_file).stem}"
    _attach_sidecar(root, samples)
    return Index(name, root, names, samples, missing)


# ----------------------------------------------------------------------------- VOC2007


def read_voc2007(root: str | os.PathLike, split: str = "trainval") -> Index:
    """PASCAL VOC2007 classification: multi-label ``targets`` in {1, -1, 0} (0 = difficult).

    ``<root>/VOCdevkit/VOC2007/JPEGImages/<id>.jpg`` and ``ImageSets/Main/<class>_<split>.txt``
    with lines ``<id> <1|-1|0>``. Classes: the 20 VOC classes in standard order when all their
    files exist, else the class files present, sorted. An id absent from a class file gets -1.
    """
    root = Path(root)
    if split not in ("trainval", "test", "train", "val"):
        raise LayoutError(f"VOC2007 split must be trainval, test, train or val, got {split!r}")
    voc = _require(root / "VOCdevkit" / "VOC2007", "folder VOCdevkit/VOC2007/", "VOC2007", root)
    images = _require(voc / "JPEGImages", "folder VOCdevkit/VOC2007/JPEGImages/", "VOC2007", root)
    main = _require(voc / "ImageSets" / "Main", "folder VOCdevkit/VOC2007/ImageSets/Main/", "VOC2007", root)
    suffix = f"_{split}.txt"
    present = sorted(p.name[: -len(suffix)] for p in main.iterdir() if p.name.endswith(suffix))
    if not present:
        raise LayoutError(f"VOC2007 root {root}: expected VOCdevkit/VOC2007/ImageSets/Main/<class>{suffix}")
    names = list(VOC_CLASSES) if set(VOC_CLASSES) <= set(present) else present

    table: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        class_file = main / f"{name}{suffix}"
        for line in _read_lines(class_file):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("1", "-1", "0"):
                raise LayoutError(f"VOC2007 {class_file}: expected lines '<id> <1|-1|0>', got {line!r}")
            table.setdefault(parts[0], [-1] * len(names))[k] = int(parts[1])
    id_list = main / f"{split}.txt"
    ids = [line.split()[0] for line in _read_lines(id_list)] if id_list.is_file() else sorted(table)
    samples, missing = [], []
    for image_id in ids:
        path = images / f"{image_id}.jpg"
        if not path.is_file():
            missing.append(image_id)
            continue
        targets = tuple(table.get(image_id, [-1] * len(names)))
        samples.append(Sample(_rel(path, root), -1, "", split, targets=targets))
    return Index(f"voc2007-{split}", root, names, samples, missing)
