"""The one mapping of paper-table cells to our metrics, read by recording (which cells an
evaluation run fills) and by `vi2clr.tables` (the tag it reads back).

An evaluation run carries the tag ``vi2clr.cells``: a JSON list of ``[table, row, column, metric]``.
The column and metric of every entry must be a `Cell` of `TABLE_CELLS`; `paper_cell` is the only
way recording builds an entry, and `encode_cells` refuses any entry that is not in the mapping.
Rows are the paper's row names from params (``eval_suites.<suite>.rows``), not fixed here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from vi2clr.evaluate.metric_names import (
    FEWSHOT_KS,
    IMAGE_LINEAR_TOP1,
    PARAM_LABEL_PCT,
    PARAM_PROTOCOL,
    SEMISUP_TOP1,
    SEMISUP_TOP5,
    VIDEO_FINETUNE_TOP1,
    VIDEO_LINEAR_TOP1,
    VOC07_SVM_MAP,
    retrieval_recall,
    voc07_fewshot_mean,
)

CELLS_TAG = "vi2clr.cells"
SCALE_TAG = "vi2clr.scale"
TABLE_IDS = tuple(f"table{i}" for i in range(1, 8))


@dataclass(frozen=True)
class Cell:
    """One paper-table column filled from one of our metrics.

    column: the column name in `paper_tables.yaml`; metric: our metric name; dataset: the data
    set the eval run used; select: extra (param, value) pairs that pick this cell where a column
    name alone is ambiguous (Table 4 label fraction, Table 7 protocol).
    """

    column: str
    metric: str
    dataset: str
    select: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def _sel(**kv: str) -> Mapping[str, str]:
    return MappingProxyType(dict(kv))


TABLE_CELLS: Mapping[str, tuple[Cell, ...]] = MappingProxyType(
    {
        # Table 1: ImageNet linear top-1 at three pretraining epochs (rows: FINCH / K-means); our epoch
        # standing for each column is eval.table1_epochs.
        "table1": tuple(Cell(f"epoch_{e}", IMAGE_LINEAR_TOP1, "imagenet") for e in (50, 100, 200)),
        "table2": (
            Cell("imagenet_top1", IMAGE_LINEAR_TOP1, "imagenet"),
            Cell("voc07_map", VOC07_SVM_MAP, "voc2007"),
        ),
        "table3": tuple(Cell(f"k{k}", voc07_fewshot_mean(k), "voc2007") for k in FEWSHOT_KS),
        "table4": tuple(
            Cell(f"pct{p}_top{t}", m, "imagenet", _sel(**{PARAM_LABEL_PCT: str(p)}))
            for p in (1, 10)
            for t, m in ((1, SEMISUP_TOP1), (5, SEMISUP_TOP5))
        ),
        # Table 5 has no R@50 column; we still log retrieval/r50.
        "table5": tuple(
            Cell(f"{short}_r{k}", retrieval_recall(k), dataset)
            for short, dataset in (("ucf", "ucf101"), ("hmdb", "hmdb51"))
            for k in (1, 5, 10, 20)
        ),
        # Table 6 reuses Table 2 (images) and Table 7 fine-tuning (videos): its "full" row,
        # 89.1 / 55.7, equals Table 7's Vi2CLR K400 fine-tune row.
        "table6": (
            Cell("imagenet_top1", IMAGE_LINEAR_TOP1, "imagenet"),
            Cell("voc07_map", VOC07_SVM_MAP, "voc2007"),
            Cell("ucf101_top1", VIDEO_FINETUNE_TOP1, "ucf101"),
            Cell("hmdb51_top1", VIDEO_FINETUNE_TOP1, "hmdb51"),
        ),
        # Table 7: columns are data sets; the row's `protocol` (frozen / finetune) picks the
        # metric. Rows with protocol "supervised" are paper-only.
        "table7": tuple(
            Cell(dataset, metric, dataset, _sel(**{PARAM_PROTOCOL: protocol}))
            for protocol, metric in (("frozen", VIDEO_LINEAR_TOP1), ("finetune", VIDEO_FINETUNE_TOP1))
            for dataset in ("ucf101", "hmdb51", "kinetics400")
        ),
    }
)


def cells_for(table: str) -> tuple[Cell, ...]:
    """The cells of one table; raises a one-line KeyError for an unknown table name."""
    try:
        return TABLE_CELLS[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known: {', '.join(TABLE_CELLS)}") from None


def paper_cell(table: str, row: str, column: str, **select: str) -> list[str]:
    """``[table, row, column, metric]`` for the one `Cell` of ``table`` with this column whose
    ``select`` pairs all equal those given; KeyError when the mapping has no such cell."""
    found = [c for c in cells_for(table)
             if c.column == column and all(select.get(k) == v for k, v in c.select.items())]
    if len(found) != 1:
        raise KeyError(f"{table} has {len(found)} cells for column {column!r} with {select or 'no select'}")
    return [table, row, column, found[0].metric]


def check_cells(cells: Sequence[Sequence[str]]) -> None:
    """Each ``[table, row, column, metric]`` must be a (column, metric) of `TABLE_CELLS[table]`."""
    for entry in cells:
        table, _row, column, metric = entry
        if not any(c.column == column and c.metric == metric for c in cells_for(table)):
            raise KeyError(f"cell {list(entry)} is not in vi2clr.evaluate.cells.TABLE_CELLS")


def encode_cells(cells: Sequence[Sequence[str]]) -> str:
    """The ``vi2clr.cells`` tag value (JSON), after `check_cells`."""
    check_cells(cells)
    return json.dumps([list(c) for c in cells])


def decode_cells(tag: str) -> list[tuple[str, str, str, str]]:
    """The ``vi2clr.cells`` tag back to ``(table, row, column, metric)`` tuples."""
    return [(t, r, c, m) for t, r, c, m in json.loads(tag)]
