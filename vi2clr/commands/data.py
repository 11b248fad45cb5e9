"""``vi2clr data``: write the synthetic default, index the layouts, make Kinetics subsets."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from vi2clr.config import Params
from vi2clr.data.index import Index, LayoutError
from vi2clr.data.layouts import make_kinetics_subset, read_hmdb51, read_imagenet, read_kinetics400, read_ucf101, \
    read_voc2007

console = Console()
LAYOUTS = ("kinetics400", "ucf101", "hmdb51", "imagenet", "voc2007")


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
    """Every split of every requested layout, as indices."""
    d = p.data
    readers = {
        "kinetics400": lambda: {s: read_kinetics400(d.kinetics400.root, d.kinetics400.annotations, s)
                                for s in ("train", "val")},
        "ucf101": lambda: _by_split(read_ucf101(d.ucf101.root, d.ucf101.split_no)),
        "hmdb51": lambda: _by_split(read_hmdb51(d.hmdb51.root, d.hmdb51.split_no)),
        "imagenet": lambda: {s: read_imagenet(d.imagenet.root, s) for s in ("train", "val")},
        "voc2007": lambda: {s: read_voc2007(d.voc2007.root, s) for s in ("trainval", "test")},
    }
    unknown = sorted(set(layouts or []) - set(readers))
    if unknown:
        raise LayoutError(f"unknown layout(s) {', '.join(unknown)}; expected {', '.join(readers)}")
    return {name: readers[name]() for name in (layouts or LAYOUTS)}


def _by_split(index: Index) -> dict[str, Index]:
    return {s: index.select(s) for s in index.splits()}


def index(p: Params, layouts: list[str] | None = None) -> None:
    """Print class and split counts of each layout and save the indices under ``data.index_dir``."""
    import typer

    try:
        found = read_all(p, layouts)
    except (LayoutError, FileNotFoundError) as exc:
        typer.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
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
    """A deterministic Kinetics subset (num_classes x per_class, seed) as an index file."""
    import typer

    sp, k = p.data.subset, p.data.kinetics400
    if sp.num_classes is None or sp.per_class is None:
        typer.echo("error: data.subset.num_classes and data.subset.per_class must be set (e.g. -S "
                   "data.subset.num_classes=100 -S data.subset.per_class=50)", err=True)
        raise typer.Exit(2)
    try:
        full = read_kinetics400(k.root, k.annotations, k.split)
        sub = make_kinetics_subset(full, sp.num_classes, sp.per_class, sp.seed)
    except (LayoutError, ValueError) as exc:
        typer.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    path = sub.save(sp.out)
    console.print(f"wrote {path}: {len(sub.classes)} classes, {len(sub.samples)} videos "
                  f"(digest {sub.digest()[:12]}); use it with -S data.kinetics400.index={path}")
