"""The one place where evaluation metric names and their paper-table cells are defined.

Metric values produced by `vi2clr.evaluate` are fractions in [0, 1]; the paper prints percent,
so a table renderer multiplies ours by `PAPER_SCALE` before putting them side by side.

Names are MLflow-safe (alphanumerics, `_ - . / : space`): MLflow rejects `@`, so recall at k
is `retrieval/r{k}`, not `retrieval/r@{k}`.

A paper cell is found by (metric name, the eval run's data set, and optional `select` pairs
matched against the eval run's params/tags, e.g. the pretraining epoch for Table 1 or the label
fraction for Table 4). Which pretraining run is the *row* is the tracking layer's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

PAPER_SCALE = 100.0  # ours in [0, 1] -> paper's percent

# --- images: ImageNet linear probe (Tables 1, 2, 6) -------------------------------------------
IMAGE_LINEAR_TOP1 = "image_linear/top1"
IMAGE_LINEAR_TOP5 = "image_linear/top5"

# --- VOC07 linear SVM (Tables 2, 6) ---------------------------------------------------------
VOC07_SVM_MAP = "voc07_svm/map"


def voc07_svm_class_ap(class_name: str) -> str:
    """Per-class test AP of the VOC07 SVM, e.g. `voc07_svm/ap/aeroplane`."""
    return f"voc07_svm/ap/{class_name}"


def voc07_svm_class_cost(class_name: str) -> str:
    """Cost chosen by cross-validation for one class, e.g. `voc07_svm/cost/aeroplane`."""
    return f"voc07_svm/cost/{class_name}"


# --- VOC07 few-shot SVM (Table 3) -------------------------------------------------------------
FEWSHOT_KS: tuple[int, ...] = (1, 2, 4, 8, 16)


def voc07_fewshot_mean(k: int) -> str:
    """Mean over the seeded samples of the test mAP with k positives per class."""
    return f"voc07_fewshot/k{k}_map_mean"


def voc07_fewshot_std(k: int) -> str:
    """Standard deviation (ddof=0, as the benchmark suite) over the samples."""
    return f"voc07_fewshot/k{k}_map_std"


# --- semi-supervised ImageNet fine-tuning (Table 4) -----------------------------------------------
SEMISUP_TOP1 = "semisup/top1"
SEMISUP_TOP5 = "semisup/top5"

# --- video retrieval (Table 5) --------------------------------------------------------------
RETRIEVAL_KS: tuple[int, ...] = (1, 5, 10, 20, 50)


def retrieval_recall(k: int) -> str:
    """Recall@k of test-queries-train nearest-neighbour retrieval, e.g. `retrieval/r5`."""
    return f"retrieval/r{k}"


# --- video classification (Tables 6, 7) -------------------------------------------------------
VIDEO_LINEAR_TOP1 = "video_linear/top1"
VIDEO_LINEAR_TOP5 = "video_linear/top5"
VIDEO_FINETUNE_TOP1 = "video_finetune/top1"
VIDEO_FINETUNE_TOP5 = "video_finetune/top5"

# --- run params the `select` pairs refer to (the CLI logs these on eval runs) -----------------
PARAM_PRETRAIN_EPOCH = "pretrain_epoch"  # Table 1 columns
PARAM_LABEL_PCT = "label_pct"  # Table 4: "1" or "10"
PARAM_PROTOCOL = "protocol"  # Table 7 rows: "frozen" | "finetune"


@dataclass(frozen=True)
class Cell:
    """One paper-table column filled from one of our metrics.

    column: the column name in `paper_tables.yaml`; metric: our metric name; dataset: the data
    set the eval run used; select: extra (param, value) pairs the eval run must match.
    """

    column: str
    metric: str
    dataset: str
    select: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def _sel(**kv: str) -> Mapping[str, str]:
    return MappingProxyType(dict(kv))


TABLE_CELLS: Mapping[str, tuple[Cell, ...]] = MappingProxyType(
    {
        # Table 1: ImageNet linear top-1 at three pretraining epochs (rows: FINCH / K-means).
        "table1": tuple(
            Cell(f"epoch_{e}", IMAGE_LINEAR_TOP1, "imagenet", _sel(**{PARAM_PRETRAIN_EPOCH: str(e)}))
            for e in (50, 100, 200)
        ),
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
