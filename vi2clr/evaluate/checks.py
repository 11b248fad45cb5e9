"""Input checks of the protocols; each raises a one-line `EvalError`."""

from __future__ import annotations

from vi2clr.evaluate.errors import EvalError


def check_fewshot_counts(num_pos: int, num_neg: int, k: int, neg_per_pos: int, class_name: str) -> None:
    """A few-shot draw of k positives and neg_per_pos·k negatives must be possible."""
    if num_pos < k:
        raise EvalError(f"few-shot class {class_name!r} has {num_pos} non-difficult positives, fewer than k={k}")
    if num_neg < neg_per_pos * k:
        raise EvalError(f"few-shot class {class_name!r} has {num_neg} negatives, fewer than {neg_per_pos}*k={neg_per_pos * k}")

