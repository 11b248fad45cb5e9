"""``vi2clr tables``: the paper's Tables 1-7 with our numbers beside the published ones.

Our cells come from MLflow runs: an evaluation run names the cells it fills (:func:`run_cells`).
One value counts per (table, row, col, pretraining seed, evaluation seed) — the newest run — so
runs that differ in either seed are kept apart. A cell of ours is the mean over its n runs with a
95 % interval (:mod:`vi2clr.statistics`): a Student-t interval over the runs when n >= 2, a Wilson
interval over the run's test items when n = 1 and the metric is a proportion of items. Each column
states its chance level; under each table a generated line says which of the paper's orderings
our runs reproduce at 95 % family-wise (Holm over the table's orderings), contradict, or cannot
resolve. Published values are data
(``paper_tables.yaml``), never code. Each table states the data and scale of our runs.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vi2clr import statistics as st
from vi2clr.config import Params
from vi2clr.evaluate.cells import CELLS_TAG, SCALE_TAG, TABLE_IDS, decode_cells
from vi2clr.evaluate.metric_names import PAPER_SCALE
from vi2clr.tracking import FILES_DIGEST_TAG, search_runs, tracking_uri

# What an eval run carries for the statistics (tags / metrics / params; absent = one seed, unknown).
PRETRAIN_SEED_TAG = "pretrain_seed"
EVAL_SEED_TAG = "eval_seed"
N_TEST_METRIC = "n_test"  # test items (or retrieval queries) the metric was measured on
NUM_CLASSES = "num_classes"  # param or metric
TRAIN_CLASS_COUNTS = "train_class_counts"  # param, JSON list: training items per class (retrieval)
TEST_CLASS_COUNTS = "test_class_counts"  # param, JSON list: test items (VOC: positives) per class
PRETRAIN_EPOCH_PARAM = "pretrain_epoch"
SATURATED = 0.9  # chance at or above this: the metric cannot separate rows

@dataclass
class PaperTable:
    key: str
    title: str
    columns: list[str]
    rows: dict[str, list[float | None]]
    uncertain: set[str] = field(default_factory=set)
    not_trained: dict[str, set[str]] = field(default_factory=dict)  # row -> columns printed "—"
    column_epochs: dict[str, int] = field(default_factory=dict)  # Table 1: column -> the paper's epoch
    total_epochs: int | None = None  # Table 1: the paper's pretraining schedule


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
        not_trained: dict[str, set[str]] = {}
        items = t["rows"].items() if isinstance(t["rows"], dict) else ((table7_row_name(r), r) for r in t["rows"])
        for name, value in items:
            if isinstance(value, dict):
                if value.get("uncertain"):
                    uncertain.add(name)
                if value.get("not_trained"):
                    not_trained[name] = set(value["not_trained"])
                value = value["values"]
            rows[name] = list(value)
        tables[key] = PaperTable(key, t["title"], list(t["columns"]), rows, uncertain, not_trained,
                                 dict(t.get("column_epochs") or {}), t.get("total_epochs"))
    return tables


# ----------------------------------------------------------------------------- runs -> cells


def run_cells(run: Any) -> list[tuple[str, str, str, str]]:
    """The paper cells one eval run fills, as (table, row, col, metric). The one place that reads
    the cell mapping of a run."""
    tags = run.data.tags
    if CELLS_TAG not in tags:
        return []
    return decode_cells(tags[CELLS_TAG])


def is_proportion(metric: str) -> bool:
    """Accuracy-type metrics (a fraction of test items or queries): top-k accuracy and R@k.
    AP/mAP is not a proportion of items, so it gets no Wilson interval."""
    return "map" not in metric.split("/")[-1] and "/ap/" not in metric


@dataclass
class RunValue:
    """One run's contribution to a cell (value in percent)."""

    value: float
    run_id: str
    n_items: int | None = None
    chance: float | None = None  # fraction
    epoch: str | None = None  # our pretraining epoch (Table 1)
    total_epochs: str | None = None
    setup: str = ""  # what the value depends on besides the encoder's weights (:func:`run_setup`)
    eval_seed: str = "-"


@dataclass
class Cell:
    metric: str = ""
    entries: list[RunValue] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        """The runs' values, sorted: statistics and reports do not depend on the store's run order."""
        return sorted(e.value for e in self.entries)

    @property
    def runs(self) -> list[str]:
        return [e.run_id for e in self.entries]

    def setups(self) -> dict[str, frozenset[str]]:
        """The :func:`run_setup` digests of the cell's runs by evaluation seed (a seed may draw the
        data it evaluates on: the semi-supervised protocol's labelled subset)."""
        by_seed: dict[str, set[str]] = defaultdict(set)
        for e in self.entries:
            by_seed[e.eval_seed].add(e.setup)
        return {seed: frozenset(v) for seed, v in by_seed.items()}

    def measured_like(self, other: Cell) -> bool:
        """Both cells' runs have the same :func:`run_setup` at every evaluation seed they share (or,
        sharing none, the same setups altogether): they differ only in weights and seeds."""
        mine, theirs = self.setups(), other.setups()
        shared = mine.keys() & theirs.keys()
        if shared:
            return all(mine[seed] == theirs[seed] for seed in shared)
        return set().union(*mine.values()) == set().union(*theirs.values())

    @property
    def n_items(self) -> int | None:
        """Test items of a single run (the n = 1 case), if it logged them."""
        return self.entries[0].n_items if len(self.entries) == 1 else None

    def interval(self) -> st.Interval | None:
        if not self.entries:
            return None
        if len(self.entries) == 1 and self.n_items and is_proportion(self.metric):
            return st.proportion_interval(self.values[0], self.n_items, scale=PAPER_SCALE)
        return st.t_interval(self.values)

    def text(self) -> str:
        iv = self.interval()
        if iv is None:
            return "—"
        if iv.n >= 2:
            return f"{iv.mean:.1f} ± {iv.half_width:.1f} (n={iv.n})"
        if iv.low is not None:
            return f"{iv.mean:.1f} [{iv.low:.1f}, {iv.high:.1f}] (n=1, {self.n_items} items)"
        return f"{iv.mean:.1f} (n=1)†"


def _number(run: Any, name: str) -> float | None:
    for source in (run.data.metrics, run.data.params, run.data.tags):
        if name in source:
            try:
                return float(source[name])
            except (TypeError, ValueError):
                return None
    return None


def _counts(run: Any, name: str) -> list[int] | None:
    raw = run.data.params.get(name) or run.data.tags.get(name)
    try:
        return [int(c) for c in json.loads(raw)] if raw else None
    except (TypeError, ValueError):
        return None


SETUP_TAGS = ("data_digest", FILES_DIGEST_TAG)


def run_setup(run: Any) -> str:
    """What an evaluation run's value depends on besides its encoder's weights, as one digest:
    its data (the tags ``data_digest`` and ``data_files_digest``: names, labels, file sizes), its
    protocol (every ``eval.*`` param but ``eval.seed``, which the seed tags already keep apart), the
    encoders' architecture (``model.*``) and ``compute.threads``. Two runs with the same setup differ
    only in their weights and seeds; a tag or param a run did not log counts as empty (older stores)."""
    params = {k: v for k, v in run.data.params.items()
              if (k.startswith(("eval.", "model.")) or k == "compute.threads") and k != "eval.seed"}
    tags = {k: run.data.tags.get(k, "") for k in SETUP_TAGS}
    return hashlib.sha256(json.dumps([params, tags], sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DataFacts:
    """What chance levels need of a run's test set. Any field may be unknown (None)."""

    num_classes: int | None = None
    n_test: int | None = None
    train_counts: list[int] | None = None
    test_counts: list[int] | None = None


def run_facts(run: Any, fallback: DataFacts | None = None) -> DataFacts:
    """Class and item counts of a run: logged ones first, else ``fallback`` (read from the data)."""
    fb = fallback or DataFacts()
    num_classes = _number(run, NUM_CLASSES)
    n_test = _number(run, N_TEST_METRIC)
    test_counts = _counts(run, TEST_CLASS_COUNTS) or fb.test_counts
    if num_classes is None and test_counts and not fb.num_classes:
        num_classes = len(test_counts)
    return DataFacts(int(num_classes) if num_classes else fb.num_classes, int(n_test) if n_test else fb.n_test,
                     _counts(run, TRAIN_CLASS_COUNTS) or fb.train_counts, test_counts)


def chance_level(metric: str, facts: DataFacts) -> float | None:
    """Chance of one metric (a fraction) from the run's counts; None when they are not known.

    top-k accuracy: min(1, k/C); R@k: random k neighbours (hypergeometric, from class counts);
    VOC07 mAP and few-shot mAP: mean positive rate per class.
    """
    leaf = metric.split("/")[-1]
    try:
        if m := re.fullmatch(r"top(\d+)", leaf):
            return st.chance_topk(facts.num_classes, int(m.group(1))) if facts.num_classes else None
        if m := re.fullmatch(r"r(\d+)", leaf):
            if facts.train_counts and facts.test_counts:
                return st.chance_recall_at_k(facts.train_counts, facts.test_counts, int(m.group(1)))
            return None
        if "map" in leaf and facts.test_counts and facts.n_test:
            return st.chance_map(facts.test_counts, facts.n_test)
    except ValueError:
        return None
    return None


def data_facts(p: Params | None, dataset: str) -> DataFacts:
    """Counts read from the data set named in ``p`` (the fallback for runs that did not log them).
    Unknown when the data are absent or unreadable: tables still render, with chance "?"."""
    if p is None:
        return DataFacts()
    return _data_facts_cached(p.data.model_dump_json(), dataset)


@functools.lru_cache(maxsize=16)
def _data_facts_cached(data_json: str, dataset: str) -> DataFacts:
    from vi2clr.data.layouts import read_hmdb51, read_imagenet, read_ucf101, read_voc2007

    data = json.loads(data_json)

    def per_class(index: Any) -> list[int]:
        counts = [0] * len(index.classes)
        for s in index.samples:
            counts[s.label] += 1
        return counts

    try:
        if dataset == "imagenet":
            train, test = (read_imagenet(data["imagenet"]["root"], s) for s in ("train", "val"))
        elif dataset == "voc2007":
            test = read_voc2007(data["voc2007"]["root"], "test")
            positives = [sum(1 for s in test.samples if s.targets[c] == 1) for c in range(len(test.classes))]
            return DataFacts(len(test.classes), len(test.samples), None, positives)
        elif dataset in ("ucf101", "hmdb51"):
            reader = read_ucf101 if dataset == "ucf101" else read_hmdb51
            index = reader(data[dataset]["root"], data[dataset]["split_no"])
            train, test = index.select("train"), index.select("test")
        else:
            return DataFacts()
        return DataFacts(len(test.classes), len(test.samples), per_class(train), per_class(test))
    except Exception:  # noqa: BLE001 — any unreadable layout only costs the chance column
        return DataFacts()


def collect_cells(runs: Iterable[Any], p: Params | None = None
                  ) -> tuple[dict[tuple[str, str, str], Cell], dict[str, set[str]]]:
    """Our cells from runs (newest first): {(table, row, col): Cell} and {table: {scale notes}}.

    Under ``dvc exp run`` the row name gains ``[exp name]`` so experiments stand as their own rows.
    The newest run wins for each (table, row, col, pretraining seed, evaluation seed); runs without
    the seed tags count as one seed (the evaluation seed falls back to the older tag ``seed``).
    """
    runs = list(runs)
    pretrain_epochs = {r.info.run_id: r.data.params.get("pretrain.epochs") for r in runs}
    latest: dict[tuple[str, str, str, str, str], RunValue] = {}
    metrics: dict[tuple[str, str, str], str] = {}
    scales: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        tags = run.data.tags
        if run.info.status != "FINISHED":
            continue
        seeds = (tags.get(PRETRAIN_SEED_TAG, "-"), tags.get(EVAL_SEED_TAG, tags.get("seed", "-")))
        exp = tags.get("dvc.exp_name")
        facts = None
        for table, row, col, metric in run_cells(run):
            value = run.data.metrics.get(metric)
            if value is None:
                continue
            row_name = f"{row} [{exp}]" if exp else row
            key = (table, row_name, col, *seeds)
            if key in latest:  # runs come newest first
                continue
            if facts is None:
                facts = run_facts(run, data_facts(p, tags.get("dataset", run.data.params.get("dataset", ""))))
                setup = run_setup(run)
            total = pretrain_epochs.get(tags.get("pretrain_run_id", "")) or (str(p.pretrain.epochs) if p else None)
            latest[key] = RunValue(value * PAPER_SCALE, run.info.run_id,  # ours are fractions, the paper's percent
                                   facts.n_test, chance_level(metric, facts),
                                   run.data.params.get(PRETRAIN_EPOCH_PARAM), total, setup, seeds[1])
            metrics[(table, row_name, col)] = metric
            if SCALE_TAG in tags:
                scales[table].add(tags[SCALE_TAG])
    cells: dict[tuple[str, str, str], Cell] = {}
    for (table, row, col, *_seeds), entry in sorted(latest.items()):
        cells.setdefault((table, row, col), Cell(metrics[(table, row, col)])).entries.append(entry)
    return cells, scales


# ----------------------------------------------------------------------------- columns and rows


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


def column_chance(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]) -> dict[str, list[float]]:
    """Distinct chance levels (fractions, rounded to 0.1 %) of each column over our runs."""
    out: dict[str, set[float]] = defaultdict(set)
    for (t, _row, col), cell in cells.items():
        if t == paper.key:
            out[col].update(round(e.chance, 3) for e in cell.entries if e.chance is not None)
    return {col: sorted(v) for col, v in out.items()}


def is_saturated(chances: list[float]) -> bool:
    """A column whose chance level reaches ``SATURATED`` cannot separate rows."""
    return bool(chances) and max(chances) >= SATURATED


def column_label(paper: PaperTable, col: str, cells: dict[tuple[str, str, str], Cell],
                 chance: dict[str, list[float]]) -> str:
    """Header of one column: its name, our real epochs beside the paper's (Table 1), "sat."."""
    label = col
    if col in paper.column_epochs:
        ours = sorted({(e.epoch, e.total_epochs) for (t, _r, c), cell in cells.items()
                       if t == paper.key and c == col for e in cell.entries if e.epoch is not None},
                      key=lambda et: (float(et[0]), et[1] or ""))
        mine = ", ".join(f"ep {ep} of {tot or '?'}" for ep, tot in ours) or "ep ?"
        label = f"{col}: {mine} (paper: {paper.column_epochs[col]} of {paper.total_epochs or '?'})"
    if is_saturated(chance.get(col, [])):
        label += " (sat.)"
    return label


def blank(paper: PaperTable, row: str, col: str) -> bool:
    """The paper prints "—" where the row's loss never trained that stream (Table 6); so do we."""
    return col in paper.not_trained.get(_base_row(row), set())


_EXP_SUFFIX = re.compile(r" \[[^\]]*\]$")  # the ``[dvc exp name]`` of an experiment's row


def _base_row(row: str) -> str:
    return _EXP_SUFFIX.sub("", row)


def _experiment(row: str) -> str:
    """The row's ``[dvc exp name]`` suffix; "" for a row of the main pipeline."""
    found = _EXP_SUFFIX.search(row)
    return found.group(0) if found else ""


def table_row_names(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]) -> list[str]:
    ours_rows = sorted({row for (t, row, _c) in cells if t == paper.key})
    return list(paper.rows) + [r for r in ours_rows if r not in paper.rows]


def build_rows(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]) -> list[dict[str, str]]:
    """Rows of one table: every paper row, then ours the paper lacks, then chance; "ours | paper"."""
    out = []
    for name in table_row_names(paper, cells):
        published = paper.rows.get(name, [None] * len(paper.columns))
        row = {"row": name + (" *" if name in paper.uncertain else "")}
        for col, pub in zip(paper.columns, published):
            ours = "—" if blank(paper, name, col) else cells.get((paper.key, name, col), Cell()).text()
            row[col] = f"{ours} \\| {_fmt(pub)}"  # an escaped pipe keeps the markdown table intact
        out.append(row)
    chance = column_chance(paper, cells)
    row = {"row": "chance level (ours)"}
    ours_cols = {c for (t, _r, c) in cells if t == paper.key}
    for col in paper.columns:
        levels = chance.get(col)
        # "?": we have runs in the column but their data did not tell; "—": no run of ours there
        row[col] = " / ".join(f"{c * PAPER_SCALE:.1f}" for c in levels) if levels else "?" if col in ours_cols else "—"
    out.append(row)
    return out


# ----------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    claim: str  # "A > B (col)"
    comparison: st.Comparison
    family: str = ""  # the experiment ("[exp name]") whose orderings these are; "" = the main pipeline


def paper_orderings(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]) -> list[tuple[str, str, str]]:
    """The paper's claims (better row, worse row, column) that our cells can test.

    From the published values: every pair of rows that both have a paper value and a cell of ours
    in a column, ordered as the paper orders them (ties make no claim). A `dvc exp run`'s row
    ("ROW [exp]") carries its base row's paper value and is compared only with rows of the same
    experiment (the experiment changed what both measure). Plus the paper's premise that
    pretraining beats random initialisation: "Random init (ours) [exp]" is claimed below every
    Vi2CLR row of that experiment, and the main pipeline's "Random init (ours)" also below the
    Vi2CLR rows of an experiment that has no random-init row of its own in the column, when both
    cells were measured alike (:func:`borrowed_random_init`); "Random init (X)" below "Vi2CLR (X)".
    Blank ("—") cells make no claim.
    """
    return _orderings(paper, cells)[0]


def borrowed_random_init(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]) -> list[tuple[str, str, str]]:
    """The claims "ROW [exp] > Random init (ours)" that are *not* tested: the experiment has no
    random-init row of its own in the column, and the main pipeline's was measured otherwise
    (another :func:`run_setup`: other data, protocol params, encoder architecture or thread count).

    DVC reruns no random-init stage for an experiment whose evaluation inputs are unchanged, so its
    rows borrow the main pipeline's; but a `dvc exp run` with stage targets that leave
    ``eval_random`` out changes those inputs without rerunning it, and such a comparison would set
    pretraining on one data set against random init on another."""
    return _orderings(paper, cells)[1]


def _orderings(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]
               ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(:func:`paper_orderings`, :func:`borrowed_random_init`)."""
    have = {(row, col) for (t, row, col) in cells if t == paper.key and not blank(paper, row, col)}
    rank = {row: i for i, row in enumerate(paper.rows)}

    def paper_order(row: str) -> tuple[str, int]:
        return _experiment(row), rank.get(_base_row(row), len(rank))

    claims, refused = [], []
    for j, col in enumerate(paper.columns):
        in_col = sorted(r for r, c in have if c == col)
        published = {r: paper.rows[_base_row(r)][j] for r in sorted(in_col, key=paper_order)
                     if _base_row(r) in paper.rows and paper.rows[_base_row(r)][j] is not None}
        for a in published:
            for b in published:
                if _experiment(a) == _experiment(b) and published[a] > published[b]:
                    claims.append((a, b, col))
        randoms = [r for r in in_col if _base_row(r).startswith("Random init")]
        own_random = {_experiment(r) for r in randoms if "(ours)" in r}
        for rand in randoms:
            if "(ours)" not in rand:
                claims += [(v, rand, col) for v in [rand.replace("Random init", "Vi2CLR", 1)] if v in in_col]
                continue
            exp = _experiment(rand)
            for v in in_col:
                if not _base_row(v).startswith("Vi2CLR"):
                    continue
                if _experiment(v) == exp:
                    claims.append((v, rand, col))
                elif exp == "" and _experiment(v) not in own_random:  # borrowed: only if measured alike
                    alike = cells[(paper.key, v, col)].measured_like(cells[(paper.key, rand, col)])
                    (claims if alike else refused).append((v, rand, col))
    return claims, refused


def findings(paper: PaperTable, cells: dict[tuple[str, str, str], Cell]) -> list[Finding]:
    """Each testable paper ordering of the table (:func:`vi2clr.statistics.compare`), its verdict
    Holm-adjusted over one family (:func:`vi2clr.statistics.holm_adjust`): 95 % family-wise. A family
    is the table's orderings of one pipeline run — the main pipeline's rows, or one `dvc exp run`'s
    (an ordering belongs to its better row's experiment) — so an experiment in the store never
    changes the main pipeline's verdicts."""
    claims, comparisons, families = [], [], []
    for a, b, col in paper_orderings(paper, cells):
        ca, cb = cells[(paper.key, a, col)], cells[(paper.key, b, col)]
        proportion = is_proportion(ca.metric)
        comparisons.append(st.compare(ca.values, cb.values, n_items_a=ca.n_items if proportion else None,
                                      n_items_b=cb.n_items if proportion else None, scale=PAPER_SCALE))
        claims.append(f"{a} > {b} ({col})")
        families.append(_experiment(a))
    adjusted: list[st.Comparison | None] = [None] * len(claims)
    for family in set(families):
        members = [i for i, f in enumerate(families) if f == family]
        for i, c in zip(members, st.holm_adjust([comparisons[i] for i in members]), strict=True):
            adjusted[i] = c
    return [Finding(claim, c, family) for claim, c, family in zip(claims, adjusted, families, strict=True)]


def findings_line(found: list[Finding], refused: list[tuple[str, str, str]] = ()) -> str:
    """The generated line under a table, one per family (the main pipeline's first, then each
    experiment's): the paper's orderings grouped by their Holm-adjusted verdict, then how many the
    uncorrected 95 % tests would have called (for comparison only); and for each experiment the
    orderings against random init left untested because the main pipeline's random init, the only
    one in the column, was measured otherwise (``refused``, :func:`borrowed_random_init`)."""
    untested = []
    for family in sorted({_experiment(a) for a, _b, _c in refused}):
        claims = [f"{a} > {b} ({col})" for a, b, col in refused if _experiment(a) == family]
        untested.append(f"*Not tested (experiment {family.strip()}, {len(claims)}):* " + "; ".join(claims)
                        + " — the experiment has no random init of its own there, and the main pipeline's "
                        "was measured on other data or with other eval, model or thread params (name "
                        "`eval_random` among the experiment's targets)")
    if not found:
        return "\n\n".join(["*Paper's orderings at 95 %:* none testable (no pair of rows with runs of ours).",
                             *untested])
    lines = []
    for family in sorted({f.family for f in found}):
        members = [f for f in found if f.family == family]
        groups: dict[str, list[str]] = {st.HOLDS: [], st.CONTRADICTED: [], st.NOT_RESOLVED: []}
        for f in members:
            groups[f.comparison.verdict].append(f.claim)
        parts = [f"{verdict} ({len(claims)}): " + ("; ".join(claims) if claims else "none")
                 for verdict, claims in groups.items()]
        nominal = {v: sum(f.comparison.nominal == v for f in members) for v in (st.HOLDS, st.CONTRADICTED)}
        whose = f"this table's {len(members)}" if not family else f"experiment {family.strip()}'s {len(members)}"
        lines.append(f"*Paper's orderings at 95 % family-wise (Holm over {whose}):* " + " · ".join(parts)
                     + f" · *uncorrected 95 % would say:* holds {nominal[st.HOLDS]}, "
                     f"contradicted {nominal[st.CONTRADICTED]}")
    return "\n\n".join([*lines, *untested])


# ----------------------------------------------------------------------------- output


def render_markdown(paper_tables: dict[str, PaperTable], cells: dict[tuple[str, str, str], Cell],
                    scales: dict[str, set[str]], store: str) -> str:
    lines = [
        "# Vi2CLR tables: ours | paper",
        "",
        f"Generated by `vi2clr tables` from the MLflow store `{store}`. Each cell is **ours \\| paper**;",
        "— marks a missing value, or a stream the row's loss never trained (Table 6, as in the paper).",
        "Rows marked * have uncertain column placement: ambiguous in the paper's text, or quoted from",
        "a paper whose columns the Vi2CLR paper misplaces.",
        "",
        "Ours: mean ± 95 % Student-t half-width over n runs (pretraining seed × evaluation seed);",
        "where n = 1, a 95 % Wilson interval [low, high] over the run's test items (accuracy, R@k).",
        "† n = 1 of an AP-type metric (mAP): no interval — AP is not a proportion of items and",
        "per-item scores are not logged for a bootstrap. Orderings are tested with Welch's unpaired",
        "t-test on run values (both n >= 2) or Newcombe's interval of a difference of proportions",
        "(both n = 1); anything else is \"not resolved\". A table's orderings are one family (those",
        "of a `dvc exp run`'s rows, \"ROW [exp]\", another): their verdicts are Holm-adjusted to a",
        "5 % family-wise error (m tests at 5 % each would call about m/20 true-null orderings by",
        "chance). \"chance level\" is the expected value of a",
        "random guess on our test sets; (sat.) marks columns with chance >= 90 %, which cannot",
        "separate rows.",
        "",
        "Our numbers carry the data and scale they were measured at (below each title): numbers from",
        "the embedded synthetic CPU data check that the pipeline runs end to end (whether it learns is",
        "what each table's intervals and findings line say), and are",
        "**not comparable** to the paper's Kinetics-400 / ImageNet-scale values.",
        "",
    ]
    for key, paper in paper_tables.items():
        lines.append(f"## {key.replace('table', 'Table ')}: {paper.title}")
        lines.append("")
        note = "; ".join(sorted(scales.get(key, set()))) or "no runs of ours yet"
        lines.append(f"*Our runs:* {note}")
        lines.append("")
        chance = column_chance(paper, cells)
        rows = build_rows(paper, cells)
        labels = [column_label(paper, c, cells, chance) for c in paper.columns]
        lines.append("| " + " | ".join(["row", *labels]) + " |")
        lines.append("|" + "---|" * (len(labels) + 1))
        for r in rows:
            lines.append("| " + " | ".join(r[h] for h in ["row", *paper.columns]) + " |")
        lines.append("")
        lines.append(findings_line(findings(paper, cells), borrowed_random_init(paper, cells)))
        lines.append("")
    return "\n".join(lines)


def shown_store(uri: str) -> str:
    """The store as the reports name it: an SQLite file inside the working directory by its relative
    path, so two clean runs in different folders write the same reports; any other URI as it is."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri[len(prefix):])
        with contextlib.suppress(ValueError):
            return prefix + path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    return uri


def write_tables(p: Params, out_dir: Path, runs: Iterable[Any] | None = None) -> dict[str, Any]:
    """Write ``tables.md``, ``tables.csv``, ``tables.json`` and the DVC metrics ``metrics.json`` to
    ``out_dir``; return the JSON."""
    store = tracking_uri(p)
    if runs is None:
        runs = search_runs(store, p.tracking.experiment)
    store = shown_store(store)
    paper_tables = load_paper_tables()
    cells, scales = collect_cells(runs, p)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tables.md").write_text(render_markdown(paper_tables, cells, scales, store))
    records = []
    for key, paper in paper_tables.items():
        for (t, row, col), cell in cells.items():
            if t != key or blank(paper, row, col):
                continue
            published = paper.rows.get(row, [None] * len(paper.columns))
            pub = published[paper.columns.index(col)] if col in paper.columns else None
            iv = cell.interval()
            chances = sorted({e.chance for e in cell.entries if e.chance is not None})
            records.append({
                "table": key, "row": row, "col": col, "metric": cell.metric, "ours_mean": iv.mean,
                "ci_low": iv.low, "ci_high": iv.high, "ci_method": iv.method, "n": iv.n,
                "n_items": cell.n_items, "chance": chances[0] if len(chances) == 1 else chances or None,
                "paper": pub, "values": cell.values, "scale": "; ".join(sorted(scales.get(key, set()))),
            })
    with open(out_dir / "tables.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["table", "row", "col", "ours_mean", "ci_low", "ci_high", "n", "n_items",
                                     "chance", "paper", "scale"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    found = {key: [{"claim": f.claim, "verdict": f.comparison.verdict, "method": f.comparison.method,
                    "diff": f.comparison.diff, "p_value": f.comparison.p_value,
                    "p_adjusted": f.comparison.p_adjusted, "nominal_verdict": f.comparison.nominal,
                    "low": f.comparison.low, "high": f.comparison.high, "family": f.family}
                   for f in findings(paper, cells)] for key, paper in paper_tables.items()}
    untested = {key: [f"{a} > {b} ({col})" for a, b, col in borrowed_random_init(paper, cells)]
                for key, paper in paper_tables.items()}
    result = {"store": store, "cells": records, "findings": found,
              "untested": {k: v for k, v in untested.items() if v}}
    (out_dir / "tables.json").write_text(json.dumps(result, indent=2))
    # The same cells as DVC metrics (table.row.column.{ours_mean, ci_low, ci_high, n}): what
    # `dvc metrics show`, `dvc metrics diff` and `dvc exp show` compare between runs.
    summary: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for r in records:
        summary.setdefault(r["table"], {}).setdefault(r["row"], {})[r["col"]] = {
            k: r[k] for k in ("ours_mean", "ci_low", "ci_high", "n")}
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {out_dir / 'tables.md'} ({len(records)} cells of ours)")
    return result
