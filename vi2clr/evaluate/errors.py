"""The evaluation's user-facing error."""

from __future__ import annotations

from vi2clr.errors import UserError


class EvalError(UserError):
    """A one-line reason an evaluation cannot run (bad checkpoint, missing split, too few few-shot
    positives, ...); exit code 1."""
