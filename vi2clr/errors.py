"""The one user-error contract: every mistake a user can make (bad param, bad path, bad file)
raises a subclass of :class:`UserError`; ``cli.py`` prints its first line and exits with its
``exit_code``. Anything else is a bug and keeps its traceback."""

from __future__ import annotations


class UserError(Exception):
    """A user's mistake, told in one line. ``exit_code``: 2 for params, 1 for data and files."""

    exit_code: int = 1

    def first_line(self) -> str:
        text = str(self).strip()
        return text.splitlines()[0] if text else type(self).__name__
