"""What a pretraining run writes, in one place: checkpoints (``out_dir/last.pt``, ``stopped.pt``,
``epoch_NNNN.pt``), exported encoders, per-epoch cluster files, ``params.yaml``, ``run.json``, and
the DVC reports ``reports/pretrain/<name>/history.csv`` and ``metrics.json``. Only rank 0 writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vi2clr.config import Params
from vi2clr.models import Vi2CLR, save_encoder
from vi2clr.reports import reproducible
from vi2clr.train import checkpoint as ckpt
from vi2clr.train.cluster_pass import ClusterState
from vi2clr.train.state import TrainState

CHECKPOINT_FORMAT = "vi2clr-pretrain/1"

# Reproducible columns only (a DVC report): throughput and times stay in MLflow and on the epoch line.
HISTORY_COLUMNS = ["epoch", "loss_center", "loss_video", "loss_image", "loss_total", "num_clusters", "lr",
                   "nmi_motion", "nmi_appearance", "probe_video", "probe_image",
                   "center_top1", "center_loss_over_logk", "phi_max_over_min"]


def report_dir(p: Params) -> Path:
    """DVC metrics and plots of a pretraining: ``reports/<out_dir below runs/>`` for an out_dir under
    ``runs/`` (``runs/pretrain/full/seed0`` → ``reports/pretrain/full/seed0``), else
    ``reports/pretrain/<name of out_dir>``."""
    out = Path(p.pretrain.out_dir)
    if not out.is_absolute() and len(out.parts) > 1 and out.parts[0] == "runs":
        return Path("reports").joinpath(*out.parts[1:])
    return Path("reports") / "pretrain" / out.name


class RunOutputs:
    """The files of one pretraining run (``p.pretrain.out_dir``) and its reports folder."""

    def __init__(self, p: Params, digest: str):
        self.p = p
        self.digest = digest
        self.dir = Path(p.pretrain.out_dir)
        self.report = report_dir(p)
        self.last = self.dir / "last.pt"
        self.stopped = self.dir / "stopped.pt"
        self.history = self.report / "history.csv"
        self.metrics = self.report / "metrics.json"

    # ------------------------------------------------------------------ checkpoints

    def read_checkpoint(self, path: Path | None = None) -> dict[str, Any]:
        """A checkpoint's dict (``weights_only=True``); ``format`` and ``params_digest`` unchecked."""
        return ckpt.load(path or self.last)

    def save_checkpoint(self, state: TrainState, name: str = "last.pt") -> Path:
        """``state.state_dict()`` plus the run's identity, written atomically; a copy at every
        ``keep_every``-th epoch."""
        payload = {"format": CHECKPOINT_FORMAT, "params_digest": self.digest,
                   "params": json.dumps(self.p.model_dump(mode="json")), **state.state_dict()}
        path = self.dir / name
        ckpt.save_atomic(payload, path)
        every = self.p.pretrain.keep_every
        if name == "last.pt" and every and state.epoch % every == 0:
            shutil.copyfile(path, self.dir / f"epoch_{state.epoch:04d}.pt")
        return path

    def export_encoders(self, model: Vi2CLR, epoch: int, run_id: str | None) -> None:
        """Encoders alone, for evaluation: always the latest, plus a copy at each of ``keep_epochs``."""
        meta = {"pretrain_run_id": run_id or "", "epoch": epoch, "params_digest": self.digest}
        targets = [self.dir]
        if epoch in self.p.pretrain.keep_epochs:
            targets.append(self.dir / f"epoch_{epoch:04d}")
        m = self.p.model
        for folder in targets:
            save_encoder(folder / "video_encoder.pt", model.video_encoder, m.video_encoder.name,
                         m.video_encoder.kwargs, meta)
            save_encoder(folder / "image_encoder.pt", model.image_encoder, m.image_encoder.name,
                         m.image_encoder.kwargs, meta)

    @property
    def encoder_files(self) -> list[Path]:
        return [self.dir / "video_encoder.pt", self.dir / "image_encoder.pt"]

    def save_clusters(self, epoch: int, state: ClusterState) -> Path:
        """``clusters/epoch_NNNN.npz`` (1-based epoch): assignments, and centroids + φ once clustered."""
        path = self.dir / "clusters" / f"epoch_{epoch + 1:04d}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"assignments": state.assignments.numpy()}
        if state.centroids is not None:
            arrays.update(centroids=state.centroids.numpy(), phi=state.phi.numpy())
        np.savez_compressed(path, **arrays)
        return path

    # ------------------------------------------------------------------ run files and reports

    def start(self, start_epoch: int) -> None:
        """Create the folders, write ``params.yaml``, and keep only the history rows of epochs done."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "params.yaml").write_text(yaml.safe_dump(self.p.model_dump(mode="json"), sort_keys=False))
        if start_epoch == 0 or not self.history.exists():
            self.history.parent.mkdir(parents=True, exist_ok=True)
            self.history.write_text(",".join(HISTORY_COLUMNS) + "\n")
            return
        lines = self.history.read_text().splitlines()
        self.history.write_text("\n".join(lines[: start_epoch + 1]) + "\n")

    def append_history(self, epoch: int, state: ClusterState, m: dict[str, float]) -> None:
        """One row of ``history.csv`` for finished epoch ``epoch`` (1-based) from the epoch metrics."""
        row = {"epoch": epoch, "num_clusters": state.num_clusters, "lr": m.get("epoch/lr"),
               "nmi_motion": m.get("cluster/motion_nmi"),
               "nmi_appearance": m.get("cluster/appearance_nmi"),
               "probe_video": next((v for k, v in m.items() if k.startswith("curve/video_")), None),
               "probe_image": next((v for k, v in m.items() if k.startswith("curve/image_")), None),
               **{c: m.get(f"cluster/{c}") for c in ("center_top1", "center_loss_over_logk", "phi_max_over_min")}}
        row.update({f"loss_{k}": m.get(f"epoch/loss_{k}") for k in ("center", "video", "image", "total")})
        with open(self.history, "a") as fh:
            fh.write(",".join("" if row[c] is None else f"{row[c]:.6g}" for c in HISTORY_COLUMNS) + "\n")

    def finish(self, run_id: str | None, epochs: int, final_metrics: dict[str, float] | None) -> None:
        """``run.json``, and ``metrics.json`` from the last epoch's metrics (only what reproduces:
        :func:`vi2clr.reports.reproducible`; times, throughput and the run id stay in MLflow).
        ``final_metrics=None`` (nothing was trained in this call) keeps an existing ``metrics.json``."""
        (self.dir / "run.json").write_text(json.dumps({"mlflow_run_id": run_id, "epochs": epochs,
                                                       "params_digest": self.digest}, indent=2))
        if final_metrics is None and self.metrics.exists():
            return
        self.metrics.parent.mkdir(parents=True, exist_ok=True)
        self.metrics.write_text(json.dumps(reproducible(final_metrics or {}), indent=2))
