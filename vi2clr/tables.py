"""``vi2clr tables``: the paper's Tables 1-7 with our numbers beside the published ones.

Our cells come from MLflow runs: an evaluation run carries the tag ``vi2clr.cells``, a JSON list of
``[table, row, col, metric]`` — the cells it fills and the metric that fills each. For every
(table, row, col, seed) the newest run counts; several seeds give mean ± std. The published values
are data (``paper_tables.yaml``), never code. Each table states the data and scale of our runs.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from vi2clr.config import Params
from vi2clr.evaluate.cells import CELLS_TAG, SCALE_TAG, TABLE_IDS, decode_cells
from vi2clr.evaluate.metric_names import PAPER_SCALE
from vi2clr.tracking import search_runs, tracking_uri


@dataclass
class PaperTable:
    key: str
    title: str
    columns: list[str]
    rows: dict[str, list[float | None]]
    uncertain: set[str] = field(default_factory=set)


def table7_row_name(row: dict[str, Any]) -> str:
    """Table 7 rows are identified by method, pretraining data and protocol."""
    return f"{row['method']} ({row['pretrain']}, {row['protocol']})"


def load_paper_tables(path: Path | None = None) -> dict[str, PaperTable]:
    """Published values, from ``paper_tables.yaml`` (shipped with the package)."""
    text = Path(path).read_text() if path else resources.files("vi2clr").joinpath("paper_tables.yaml").read_text()
    raw = yaml.safe_load(text)
    tables: dict[str, PaperTable] = {}
    for key in TABLE_IDS:
        t = raw[key]
        rows: dict[str, list[float | None]] = {}
        uncertain: set[str] = set()
        items = t["rows"].items() if isinstance(t["rows"], dict) else ((table7_row_name(r), r) for r in t["rows"])
        for name, value in items:
            if isinstance(value, dict):
                if value.get("uncertain"):
                    uncertain.add(name)
                value = value["values"]
            rows[name] = list(value)
        tables[key] = PaperTable(key, t["title"], list(t["columns"]), rows, uncertain)
    return tables


@dataclass
class Cell:
    values: list[float]
    runs: list[str]

    def text(self) -> str:
        if not self.values:
            return "—"
        if len(self.values) == 1:
            return f"{self.values[0]:.1f}"
        return f"{statistics.mean(self.values):.1f} ± {statistics.stdev(self.values):.1f} (n={len(self.values)})"


def collect_cells(runs: Iterable[Any]) -> tuple[dict[tuple[str, str, str], Cell], dict[str, set[str]]]:
    """Our cells from runs (newest first): {(table, row, col): Cell} and {table: {scale notes}}.

    Under ``dvc exp run`` the row name gains ``[exp name]`` so experiments stand as their own rows.
    The newest run wins for each (table, row, col, seed); distinct seeds are aggregated.
    """
    latest: dict[tuple[str, str, str, str], tuple[float, str]] = {}
    scales: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        tags = run.data.tags
        if CELLS_TAG not in tags or run.info.status != "FINISHED":
            continue
        seed = tags.get("seed", "0")
        exp = tags.get("dvc.exp_name")
        for table, row, col, metric in decode_cells(tags[CELLS_TAG]):
            value = run.data.metrics.get(metric)
            if value is None:
                continue
            row_name = f"{row} [{exp}]" if exp else row
            key = (table, row_name, col, seed)
            if key not in latest:  # runs come newest first; ours are fractions, the paper's percent
                latest[key] = (value * PAPER_SCALE, run.info.run_id)
                if SCALE_TAG in tags:
                    scales[table].add(tags[SCALE_TAG])
    cells: dict[tuple[str, str, str], Cell] = {}
    for (table, row, col, _seed), (value, run_id) in sorted(latest.items()):
        cell = cells.setdefault((table, row, col), Cell([], []))
        cell.values.append(value)
        cell.runs.append(run_id)
    return cells, scales


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


def build_rows(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]) -> list[dict[str, str]]:
    """Rows of one table: every paper row, then our rows that the paper lacks; cells "ours | paper"."""
    ours_rows = sorted({row for (t, row, _c) in cells if t == paper.key})
    names = list(paper.rows) + [r for r in ours_rows if r not in paper.rows]
    out = []
    for name in names:
        published = paper.rows.get(name, [None] * len(paper.columns))
        row = {"row": name + (" *" if name in paper.uncertain else "")}
        for col, pub in zip(paper.columns, published):
            cell = cells.get((paper.key, name, col), Cell([], []))
            row[col] = f"{cell.text()} \\| {_fmt(pub)}"  # an escaped pipe keeps the markdown table intact
        out.append(row)
    return out


def render_markdown(paper_tables: dict[str, PaperTable], cells: dict[tuple[str, str, str], Cell],
                    scales: dict[str, set[str]], store: str) -> str:
    lines = [
        "# Vi2CLR tables: ours | paper",
        "",
        f"Generated by `vi2clr tables` from the MLflow store `{store}`. Each cell is **ours \\| paper**;",
        "— marks a missing value. Rows marked * had ambiguous column placement in the paper's text.",
        "Our numbers carry the data and scale they were measured at (below each title): numbers from",
        "the embedded synthetic CPU data are a check that the pipeline works and learns, and are",
        "**not comparable** to the paper's Kinetics-400 / ImageNet-scale values.",
        "",
    ]
    for key, paper in paper_tables.items():
        lines.append(f"## {key.replace('table', 'Table ')}: {paper.title}")
        lines.append("")
        note = "; ".join(sorted(scales.get(key, set()))) or "no runs of ours yet"
        lines.append(f"*Our runs:* {note}")
        lines.append("")
        rows = build_rows(paper, cells)
        header = ["row", *paper.columns]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for r in rows:
            lines.append("| " + " | ".join(r[h] for h in header) + " |")
        lines.append("")
    return "\n".join(lines)


def write_tables(p: Params, out_dir: Path, runs: Iterable[Any] | None = None) -> dict[str, Any]:
    """Write ``tables.md``, ``tables.csv`` and ``tables.json`` to ``out_dir``; return the JSON."""
    store = tracking_uri(p)
    if runs is None:
        runs = search_runs(store, p.tracking.experiment)
    paper_tables = load_paper_tables()
    cells, scales = collect_cells(runs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tables.md").write_text(render_markdown(paper_tables, cells, scales, store))
    records = []
    for key, paper in paper_tables.items():
        for (t, row, col), cell in cells.items():
            if t != key:
                continue
            published = paper.rows.get(row, [None] * len(paper.columns))
            pub = published[paper.columns.index(col)] if col in paper.columns else None
            records.append({
                "table": key, "row": row, "col": col, "ours_mean": statistics.mean(cell.values),
                "ours_std": statistics.stdev(cell.values) if len(cell.values) > 1 else 0.0,
                "n": len(cell.values), "paper": pub, "runs": cell.runs,
                "scale": "; ".join(sorted(scales.get(key, set()))),
            })
    with open(out_dir / "tables.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["table", "row", "col", "ours_mean", "ours_std", "n", "paper", "scale"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    result = {"store": store, "cells": records}
    (out_dir / "tables.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out_dir / 'tables.md'} ({len(records)} cells of ours)")
    return result
