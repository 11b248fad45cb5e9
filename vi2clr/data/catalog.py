"""The one dataset catalogue: a dataset name of the ``data:`` params block → its reader and splits.

Used by ``vi2clr data index``, every evaluation protocol and pretraining, so adding a data set (or
changing which params a reader takes) touches this file only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vi2clr.config import DataParams
from vi2clr.data.index import Index, LayoutError
from vi2clr.data.layouts import read_hmdb51, read_imagenet, read_kinetics400, read_ucf101, read_voc2007

__all__ = ["DATASETS", "SPLITS", "read_dataset", "read_splits", "kinetics_train_index"]

# Splits of each data set, in the order `vi2clr data index` lists them.
SPLITS: dict[str, tuple[str, ...]] = {
    "kinetics400": ("train", "val"),
    "ucf101": ("train", "test"),
    "hmdb51": ("train", "test"),
    "imagenet": ("train", "val"),
    "voc2007": ("trainval", "test"),
}
DATASETS = tuple(SPLITS)

# Readers that return every split of the data set at once (official split lists); the others read one split.
_ALL_SPLITS: dict[str, Callable[[DataParams], Index]] = {
    "ucf101": lambda d: read_ucf101(d.ucf101.root, d.ucf101.split_no),
    "hmdb51": lambda d: read_hmdb51(d.hmdb51.root, d.hmdb51.split_no),
}
_ONE_SPLIT: dict[str, Callable[[DataParams, str, str | None], Index]] = {
    "kinetics400": lambda d, split, _subset: read_kinetics400(d.kinetics400.root, d.kinetics400.annotations, split),
    "imagenet": lambda d, split, subset: read_imagenet(d.imagenet.root, split, subset),
    "voc2007": lambda d, split, _subset: read_voc2007(d.voc2007.root, split),
}


def _check_name(name: str) -> None:
    if name not in SPLITS:
        raise LayoutError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


def read_dataset(data: DataParams, name: str, split: str, subset_file: str | None = None) -> Index:
    """The ``split`` of dataset ``name`` as configured in ``data`` (``subset_file``: ImageNet 1 %/10 % list)."""
    _check_name(name)
    if name in _ALL_SPLITS:
        return _ALL_SPLITS[name](data).select(split)
    return _ONE_SPLIT[name](data, split, subset_file)


def read_splits(data: DataParams, name: str) -> dict[str, Index]:
    """Every split of dataset ``name``: {split: Index} (UCF101/HMDB51: the splits present in the lists)."""
    _check_name(name)
    if name in _ALL_SPLITS:
        index = _ALL_SPLITS[name](data)
        return {s: index.select(s) for s in index.splits()}
    return {s: _ONE_SPLIT[name](data, s, None) for s in SPLITS[name]}


def kinetics_train_index(data: DataParams) -> Index:
    """The Kinetics pretraining index: the subset index file ``data.kinetics400.index`` if given (read
    against ``data.kinetics400.root``), else split ``data.kinetics400.split`` of the annotation CSV."""
    k = data.kinetics400
    if k.index:
        return Index.load(Path(k.index), root=Path(k.root))
    return read_dataset(data, "kinetics400", k.split)
