"""Subsets of an index: the ImageNet 1 % / 10 % label lists (Table 4) and Kinetics class × video
subsets written as index files (DVC-versioned), plus copying a subset into its own folder."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np

from vi2clr.data.index import Index, LayoutError, Sample

__all__ = ["make_kinetics_subset", "make_semisup_subset", "write_subset_list"]


def make_semisup_subset(index: Index, fraction: float, seed: int = 0) -> list[str]:
    """Deterministic per-class ``fraction`` of an image index → sorted file names (public list format).

    Per class: ``max(1, round(fraction * n))`` images, drawn with ``default_rng([seed, class_id])``
    from the class's images sorted by path.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    chosen = []
    for label in range(len(index.classes)):
        paths = sorted(s.path for s in index.samples if s.label == label)
        if not paths:
            continue
        k = max(1, round(fraction * len(paths)))
        rng = np.random.default_rng([seed, label])
        chosen.extend(PurePosixPath(paths[i]).name for i in rng.permutation(len(paths))[:k])
    return sorted(chosen)


def write_subset_list(names: list[str], path: str | os.PathLike) -> Path:
    """Write one file name per line (the ImageNet 1%/10% list format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return path


def make_kinetics_subset(index: Index, num_classes: int | None, per_class: int | None, seed: int = 0) -> Index:
    """Deterministic subset: ``num_classes`` classes × at most ``per_class`` videos per class per split.

    Classes are drawn with ``default_rng(seed)``, kept in alphabetical order and relabelled
    0..N-1; videos per (split, class) are drawn from the path-sorted list with
    ``default_rng([seed, class_id, split_pos])``. ``None`` means all: ``num_classes=None`` keeps
    every class (labels unchanged), ``per_class=None`` every video, so ``(None, None)`` is the whole
    index (name suffix ``all``) — the `subset` DVC stage always writes its file that way.
    """
    if num_classes is not None and not 1 <= num_classes <= len(index.classes):
        raise LayoutError(f"data.subset.num_classes must be in 1..{len(index.classes)}, got {num_classes}")
    if per_class is not None and per_class < 1:
        raise LayoutError(f"data.subset.per_class must be >= 1, got {per_class}")
    if num_classes is None:
        picked = list(range(len(index.classes)))
    else:
        picked = sorted(np.random.default_rng(seed).choice(len(index.classes), num_classes, replace=False).tolist())
    names = [index.classes[i] for i in picked]
    new_label = {old: new for new, old in enumerate(picked)}
    samples = []
    for split_pos, split in enumerate(index.splits()):
        for old in picked:
            pool = sorted((s for s in index.samples if s.split == split and s.label == old), key=lambda s: s.path)
            keep = range(len(pool)) if per_class is None else \
                sorted(np.random.default_rng([seed, old, split_pos]).permutation(len(pool))[:per_class].tolist())
            samples.extend(
                Sample(pool[i].path, new_label[old], pool[i].label_name, split, pool[i].targets, dict(pool[i].extra))
                for i in keep
            )
    tag = "all" if num_classes is None and per_class is None else \
        f"{num_classes or 'all'}x{per_class or 'all'}-seed{seed}"
    return Index(f"{index.name}-{tag}", index.root, names, samples, [])
