"""The one place where evaluation metric names are defined (the paper cells they fill: `cells`).

Metric values produced by `vi2clr.evaluate` are fractions in [0, 1]; the paper prints percent,
so a table renderer multiplies ours by `PAPER_SCALE` before putting them side by side.

Names are MLflow-safe (alphanumerics, `_ - . / : space`): MLflow rejects `@`, so recall at k
is `retrieval/r{k}`, not `retrieval/r@{k}`.

"""

from __future__ import annotations

PAPER_SCALE = 100.0  # ours in [0, 1] -> paper's percent

# --- every evaluation run: how many test items (images, videos or queries) were scored ---------
N_TEST = "n_test"

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
