"""The uniform index every layout reader produces: `Sample`, `Index`, save/load, probing.

An index file is JSON lines: the first line is a header (format, name, root, classes, missing),
then one sample per line, sorted as in the index. Paths are POSIX and relative to the root; the
root itself is stored relative to the index file's folder, so the pair can move together (and be
versioned by DVC) and ``Index.load(path, root=...)`` can point it elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from vi2clr.errors import UserError

__all__ = ["Sample", "Index", "LayoutError", "INDEX_FORMAT"]

INDEX_FORMAT = "vi2clr-index/1"
PROBE_KEYS = ("num_frames", "fps", "width", "height")


class LayoutError(UserError, ValueError):
    """A data folder or index does not have the structure its reader expects (one line: what, where)."""


def _checked_parts(path: str, root: Path) -> tuple[str, ...]:
    """Parts of an index entry's POSIX path; LayoutError when absolute, empty or holding ``..``."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise LayoutError(f"index entry {path!r} is not a relative path inside root {root}")
    return rel.parts


@dataclass
class Sample:
    """One video or image of a data set.

    Attributes:
        path: POSIX path relative to the index root.
        label: class id (position in ``Index.classes``); -1 for multi-label images (VOC).
        label_name: class name ("" for multi-label images).
        split: e.g. ``train``, ``val``, ``test``, ``trainval``.
        targets: VOC row, one of {1, -1, 0} per class (0 = difficult); None otherwise.
        extra: e.g. synthetic ``motion`` / ``appearance`` ids, probed ``num_frames`` / ``fps``.
    """

    path: str
    label: int
    label_name: str
    split: str
    targets: tuple[int, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "label": self.label, "label_name": self.label_name, "split": self.split}
        if self.targets is not None:
            out["targets"] = list(self.targets)
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Sample:
        targets = row.get("targets")
        return cls(
            path=row["path"],
            label=int(row["label"]),
            label_name=row["label_name"],
            split=row["split"],
            targets=None if targets is None else tuple(int(t) for t in targets),
            extra=dict(row.get("extra", {})),
        )


@dataclass
class Index:
    """A data set as a list of samples under one root.

    Attributes:
        name: layout name, e.g. ``kinetics400``, ``ucf101-split1``.
        root: folder the sample paths are relative to.
        classes: class names; ``Sample.label`` indexes this list.
        samples: the entries.
        missing: entries listed by the annotations whose file was not found (not fatal).
    """

    name: str
    root: Path
    classes: list[str]
    samples: list[Sample]
    missing: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def __len__(self) -> int:
        return len(self.samples)

    def resolve(self, sample: Sample) -> Path:
        """Path of a sample's file under the root; LayoutError if the entry could escape the root.

        The guard is lexical, on the index's own relative path: it must be relative, non-empty and
        free of ``..``. Symbolic links are *not* resolved, so a dataset folder or file that is a
        symlink to storage elsewhere (common on clusters) is accepted. ``Index.load`` applies the
        same check to every entry, so a bad index file fails when read, not inside a loader worker.
        """
        return self.root.absolute().joinpath(*_checked_parts(sample.path, self.root))

    def select(self, split: str) -> Index:
        """The samples of one split (classes and missing unchanged)."""
        return replace(self, samples=[s for s in self.samples if s.split == split])

    def splits(self) -> list[str]:
        return sorted({s.split for s in self.samples})

    def counts(self) -> dict[str, dict[str, int]]:
        """Number of samples per split per class name (multi-label: per positive class)."""
        out: dict[str, Counter] = {}
        for s in self.samples:
            c = out.setdefault(s.split, Counter())
            if s.targets is not None:
                c.update(self.classes[k] for k, t in enumerate(s.targets) if t == 1)
            else:
                c[s.label_name] += 1
        return {split: {name: c[name] for name in self.classes} for split, c in sorted(out.items())}

    def digest(self) -> str:
        """sha256 over name, classes and entries (path, label, split, targets); root and probes excluded."""
        h = hashlib.sha256()
        h.update(json.dumps({"name": self.name, "classes": self.classes}, sort_keys=True).encode())
        for s in self.samples:
            entry = [s.path, s.label, s.label_name, s.split, None if s.targets is None else list(s.targets)]
            h.update(b"\n" + json.dumps(entry).encode())
        return h.hexdigest()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index as JSON lines (header, then one sample per line)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        root_rel = Path(os.path.relpath(self.root.resolve(), path.parent.resolve())).as_posix()
        header = {"format": INDEX_FORMAT, "name": self.name, "root": root_rel, "classes": self.classes, "missing": self.missing}
        lines = [json.dumps(header, sort_keys=True)] + [json.dumps(s.to_json(), sort_keys=True) for s in self.samples]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, root: str | os.PathLike | None = None) -> Index:
        """Read an index written by `save`; ``root`` overrides the stored root."""
        path = Path(path)
        with path.open(encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        if not lines:
            raise LayoutError(f"index file {path} is empty")
        header = json.loads(lines[0])
        if header.get("format") != INDEX_FORMAT:
            raise LayoutError(f"index file {path}: expected format {INDEX_FORMAT!r}, got {header.get('format')!r}")
        stored_root = Path(header["root"])
        resolved_root = Path(root) if root is not None else (path.parent / stored_root).resolve()
        samples = [Sample.from_json(json.loads(line)) for line in lines[1:]]
        for s in samples:
            _checked_parts(s.path, resolved_root)
        return cls(
            name=header["name"],
            root=resolved_root,
            classes=list(header["classes"]),
            samples=samples,
            missing=list(header.get("missing", [])),
        )
