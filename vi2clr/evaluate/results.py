"""Protocol outputs → flat {metric name: float} dicts for tracking (names from `metric_names`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from vi2clr.evaluate import metric_names as mn
from vi2clr.evaluate.svm import FewShotResult

_TOPK_NAMES = {
    "image_linear": (mn.IMAGE_LINEAR_TOP1, mn.IMAGE_LINEAR_TOP5),
    "semisup": (mn.SEMISUP_TOP1, mn.SEMISUP_TOP5),
    "video_linear": (mn.VIDEO_LINEAR_TOP1, mn.VIDEO_LINEAR_TOP5),
    "video_finetune": (mn.VIDEO_FINETUNE_TOP1, mn.VIDEO_FINETUNE_TOP5),
}


def classification_metrics(
    result: Mapping[str, Any],
    protocol: Literal["image_linear", "semisup", "video_linear", "video_finetune"],
) -> dict[str, float]:
    """dict(top1, top5, ...) from linear.py / finetune.py → {"<protocol>/top1": ..., ...}."""
    top1, top5 = _TOPK_NAMES[protocol]
    return {top1: float(result["top1"]), top5: float(result["top5"])}


def voc07_svm_metrics(result: Mapping[str, Any], class_names: Sequence[str]) -> dict[str, float]:
    """`svm.voc07_svm` output → mAP plus per-class AP and chosen cost."""
    out = {mn.VOC07_SVM_MAP: float(result["map"])}
    for name, ap, cost in zip(class_names, result["ap_per_class"], result["cost_per_class"], strict=True):
        out[mn.voc07_svm_class_ap(name)] = float(ap)
        out[mn.voc07_svm_class_cost(name)] = float(cost)
    return out


def voc07_fewshot_metrics(result: Mapping[int, FewShotResult]) -> dict[str, float]:
    """`svm.voc07_fewshot` output → {k: mean, std} metric pairs."""
    out: dict[str, float] = {}
    for k, r in result.items():
        out[mn.voc07_fewshot_mean(k)] = r.mean
        out[mn.voc07_fewshot_std(k)] = r.std
    return out
