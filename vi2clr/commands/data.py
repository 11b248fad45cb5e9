"""``vi2clr data``: write the synthetic default, index the layouts, make Kinetics subsets."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from vi2clr.config import Params
from vi2clr.data.catalog import DATASETS, read_dataset, read_splits
from vi2clr.data.index import Index, LayoutError
from vi2clr.data.subsets import make_kinetics_subset
from vi2clr.errors import UserError

console = Console()


def synth(p: Params) -> dict:
    """Write the synthetic data set of ``data.synth`` and print what was written."""
    from vi2clr.data.synthetic import write_synthetic

    kwargs = p.data.synth.model_dump()
    root = kwargs.pop("root")
    with console.status(f"writing synthetic data to {root} ..."):
        summary = write_synthetic(root, **kwargs)
    table = Table(title=f"synthetic data in {root} (seed {summary['seed']}, {summary['seconds']:.1f} s)")
    table.add_column("layout")
    table.add_column("written")
    for name, info in summary["layouts"].items():
        table.add_row(name, ", ".join(f"{k}={v}" for k, v in info.items() if isinstance(v, (int, float))))
    console.print(table)
    return summary


def read_all(p: Params, layouts: list[str] | None = None) -> dict[str, dict[str, Index]]:
    """Every split of every requested layout (all of `catalog.DATASETS` by default), as indices."""
    unknown = sorted(set(layouts or []) - set(DATASETS))
    if unknown:
        raise LayoutError(f"unknown layout(s) {', '.join(unknown)}; expected {', '.join(DATASETS)}")
    return {name: read_splits(p.data, name) for name in (layouts or DATASETS)}


def index(p: Params, layouts: list[str] | None = None) -> None:
    """Print class and split counts of each layout and save the indices under ``data.index_dir``."""
    import typer

    try:  # until cli.py has its one UserError handler
        found = read_all(p, layouts)
    except UserError as exc:
        typer.echo(f"error: {exc.first_line()}", err=True)
        raise typer.Exit(exc.exit_code) from None
    out = Path(p.data.index_dir)
    table = Table(title="dataset layouts")
    for col in ("layout", "split", "classes", "items", "per class (min-max)", "missing", "index file"):
        table.add_column(col)
    for name, splits in found.items():
        for split, idx in splits.items():
            path = idx.save(out / f"{name}_{split}.json")
            per_class: dict[str, int] = {c: 0 for c in idx.classes}
            for s in idx.samples:
                if s.targets is not None:  # VOC: positives per class (multi-label)
                    for c, t in zip(idx.classes, s.targets):
                        per_class[c] += int(t == 1)
                else:
                    per_class[s.label_name] = per_class.get(s.label_name, 0) + 1
            spread = f"{min(per_class.values())}-{max(per_class.values())}" if per_class else "-"
            table.add_row(name, split, str(len(idx.classes)), str(len(idx.samples)), spread,
                          str(len(idx.missing)), str(path))
    console.print(table)


def subset(p: Params) -> None:
    """A deterministic Kinetics subset (num_classes x per_class, seed) as an index file at ``data.subset.out``.

    Null ``num_classes``/``per_class`` mean all classes / all videos, so with the defaults the file is
    the whole ``data.kinetics400.split`` (the `subset` DVC stage always has an output to version).
    Always read from the annotations, never from ``data.kinetics400.index``: a subset pointing
    pretraining at itself must not feed back into the next subset.
    """
    import typer

    sp, k = p.data.subset, p.data.kinetics400
    try:  # until cli.py has its one UserError handler
        full = read_dataset(p.data, "kinetics400", k.split)
        sub = make_kinetics_subset(full, sp.num_classes, sp.per_class, sp.seed)
    except UserError as exc:
        typer.echo(f"error: {exc.first_line()}", err=True)
        raise typer.Exit(exc.exit_code) from None
    path = sub.save(sp.out)
    console.print(f"wrote {path}: {len(sub.classes)} classes, {len(sub.samples)} videos "
                  f"(digest {sub.digest()[:12]}); use it with -S data.kinetics400.index={path}")
