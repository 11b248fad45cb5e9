"""Evaluation protocols of the paper's Tables 1-7: pure metrics, feature extraction with an
on-disk cache, VOC07 SVMs (full and few-shot), retrieval, linear probe and fine-tuning.

Every protocol is one function with plain arguments returning a dict; metric names live in
`metric_names`, the loader batch formats in `batches`.
"""

from vi2clr.evaluate.features import FeatureCache, Features, cached_features, extract_features, file_digest
from vi2clr.evaluate.finetune import finetune_classifier
from vi2clr.evaluate.linear import train_linear_on_features, train_linear_probe
from vi2clr.evaluate.metrics import mean_ap, recall_at_k, topk_accuracy, voc_average_precision
from vi2clr.evaluate.retrieval import prepare_retrieval_features, video_retrieval
from vi2clr.evaluate.svm import FewShotResult, fewshot_sample, voc07_fewshot, voc07_svm

__all__ = [
    "FeatureCache",
    "Features",
    "FewShotResult",
    "cached_features",
    "extract_features",
    "fewshot_sample",
    "file_digest",
    "finetune_classifier",
    "mean_ap",
    "prepare_retrieval_features",
    "recall_at_k",
    "topk_accuracy",
    "train_linear_on_features",
    "train_linear_probe",
    "video_retrieval",
    "voc07_fewshot",
    "voc07_svm",
    "voc_average_precision",
]
