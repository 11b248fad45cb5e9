"""Input checks the CLI calls before running a protocol; each raises a one-line `EvalError`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vi2clr.evaluate.errors import EvalError


def check_num_classes(head_classes: int, dataset_classes: int, checkpoint: str, dataset: str) -> None:
    """A classifier head (e.g. from a fine-tuned checkpoint) must match the data set's classes."""
    if head_classes != dataset_classes:
        raise EvalError(
            f"class count mismatch: checkpoint {checkpoint} has a {head_classes}-class head, "
            f"data set {dataset} has {dataset_classes} classes"
        )


def check_fewshot_counts(num_pos: int, num_neg: int, k: int, neg_per_pos: int, class_name: str) -> None:
    """A few-shot draw of k positives and neg_per_pos·k negatives must be possible."""
    if num_pos < k:
        raise EvalError(f"few-shot class {class_name!r} has {num_pos} non-difficult positives, fewer than k={k}")
    if num_neg < neg_per_pos * k:
        raise EvalError(f"few-shot class {class_name!r} has {num_neg} negatives, fewer than {neg_per_pos}*k={neg_per_pos * k}")


def check_fewshot_classes(
    train_targets: np.ndarray,
    ks: Sequence[int],
    neg_per_pos: int = 19,
    class_names: Sequence[str] | None = None,
) -> None:
    """Every class of train_targets (N, C) in {1, -1, 0} has at least max(ks) positives (1)
    and neg_per_pos·max(ks) negatives (-1); call before a long few-shot run to fail fast."""
    t = np.asarray(train_targets)
    for c in range(t.shape[1]):
        name = class_names[c] if class_names is not None else f"#{c}"
        check_fewshot_counts(int((t[:, c] == 1).sum()), int((t[:, c] == -1).sum()), max(ks), neg_per_pos, name)
