"""What every protocol needs: params, where the encoders come from, the paper rows to fill."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from vi2clr.config import Params
from vi2clr.data.datasets import decoded_cache_for
from vi2clr.data.index import Index
from vi2clr.data.video import DecodedVideoCache
from vi2clr.evaluate.errors import EvalError
from vi2clr.evaluate.features import FeatureCache, file_digest
from vi2clr.models import build_encoder, in_channels_last, load_encoder


@dataclass
class EvalContext:
    """Params, the suite, the encoders folder (None = random initialisation), the paper rows the runs
    fill ({table: row name}), and the results recorded so far ({run key: metrics})."""

    params: Params
    suite: str
    encoders: Path | None  # None = random initialisation
    rows: dict[str, str]
    stage: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    report_name: str = ""  # sub-folder of reports/eval/<suite>/ (``seed<S>`` in the pipeline matrix)
    protocol_run: str | None = None  # MLflow run of the protocol in progress; dataset runs nest under it
    _decoded: DecodedVideoCache | None = field(default=None, repr=False)

    def decoded(self, index: Index) -> DecodedVideoCache | None:
        """The suite's decoded videos, for a loader of ``index``: one `DecodedVideoCache` of
        ``data.decoded_cache_mb`` shared by every protocol (the linear probe, retrieval and
        fine-tuning read the same test videos), returned when the videos of ``index`` it lacks fit
        in what is left of it (`decoded_cache_for`); None = decode in workers as usual."""
        if self._decoded is None:
            self._decoded = DecodedVideoCache(self.params.data.decoded_cache_mb * 2**20, self.params.data.decoded_store)
        return decoded_cache_for(index, self._decoded.max_bytes, shared=self._decoded)

    @property
    def cache(self) -> FeatureCache:
        return FeatureCache(Path(self.params.eval.feature_cache), common={"threads": self.params.compute.threads})

    def encoder(self, kind: str, path: Path | None = None) -> tuple[nn.Module, dict[str, Any], str]:
        """(encoder, meta, digest) of ``kind`` from the suite's folder (or ``path``), or random init."""
        spec = self.params.model.video_encoder if kind == "video" else self.params.model.image_encoder
        if self.encoders is None and path is None:
            torch.manual_seed(self.params.eval.seed)
            enc = build_encoder(spec.name, **spec.kwargs)
            meta = {"pretrain_run_id": "random-init", "epoch": 0, "pretrain_seed": self.params.eval.seed}
            return self._layout(enc), meta, f"random-init:{spec.name}:{spec.kwargs}:seed{self.params.eval.seed}"
        file = path or (self.encoders / f"{kind}_encoder.pt")
        try:
            enc, meta = load_encoder(file, expect_kind=kind)
        except ValueError as exc:  # load_encoder's one-line reasons: missing, not an encoder, wrong kind
            raise EvalError(str(exc)) from None
        return self._layout(enc), {**meta, "pretrain_seed": pretrain_seed(file, meta)}, file_digest(file)

    def _layout(self, encoder: nn.Module) -> nn.Module:
        """The encoder in the memory layout of ``model.channels_last`` on this device (as in pretraining)."""
        return in_channels_last(encoder) if self.params.model.channels_last_on(self.device.type) else encoder

    def row(self, table: str, **fmt: str) -> str | None:
        """The paper row this suite fills in ``table`` (formatted with ``fmt``), or None."""
        row = self.rows.get(table)
        return row.format(**fmt) if row else None


def pretrain_seed(file: Path, meta: dict[str, Any]) -> int | None:
    """The seed of the pretraining that wrote the encoder ``file``: ``meta["seed"]`` if the file carries
    it, else ``pretrain.seed`` of the ``params.yaml`` the pretraining wrote into its out_dir (the file's
    folder, or its parent for the ``epoch_NNNN/`` exports); None when neither exists."""
    if "seed" in meta:
        return int(meta["seed"])
    for folder in (file.parent, file.parent.parent):
        params = folder / "params.yaml"
        if params.is_file():
            raw = yaml.safe_load(params.read_text()) or {}
            seed = (raw.get("pretrain") or {}).get("seed")
            return None if seed is None else int(seed)
    return None


def make_context(p: Params, *, suite: str | None, encoders: Path | None, random_init: bool,
                 stage: str | None, seed: int | None = None) -> EvalContext:
    """Resolve where the encoders come from and which paper rows the runs fill.

    ``seed`` (a suite of the pipeline matrix): a pretrained suite reads ``<encoders>/seed<S>``; the
    random suite must run with ``eval.seed == S`` (its initialisation seed). Reports then go to
    ``reports/eval/<suite>/seed<S>/``."""
    if suite is not None:
        spec = p.eval_random if suite == "random" else p.eval_suites.get(suite)
        if spec is None:
            have = ", ".join(["random", *sorted(p.eval_suites)])
            raise EvalError(f"eval_suites.{suite}: no such suite (have: {have})")
        path = None if spec.encoders is None else Path(spec.encoders)
        if seed is not None and path is not None:
            path = path / f"seed{seed}"
        if seed is not None and path is None and seed != p.eval.seed:
            raise EvalError(f"--seed {seed} with the random suite needs eval.seed={seed} (got {p.eval.seed})")
        return EvalContext(p, suite, path, dict(spec.rows), stage,
                           report_name="" if seed is None else f"seed{seed}")
    if random_init:
        return EvalContext(p, "random", None, dict(p.eval_random.rows), stage)
    if encoders is None:
        raise EvalError("give --encoders DIR (a pretraining's out_dir), --random-init, or --suite NAME")
    # A folder named in a suite fills that suite's rows; any other folder is logged without cells.
    for name, spec in p.eval_suites.items():
        if spec.encoders and Path(spec.encoders).resolve() == encoders.resolve():
            return EvalContext(p, name, encoders, dict(spec.rows), stage)
    return EvalContext(p, encoders.name, encoders, {}, stage)
