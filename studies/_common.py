"""What the study scripts share: writing their result rows."""

from __future__ import annotations

import csv
from pathlib import Path


def write_rows(rows: list[dict], out: str | Path) -> Path:
    """``rows`` (dicts with the same keys) as a CSV at ``out`` (folders made); returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")
    return out
