"""``vi2clr pretrain``: Algorithm 1 of the paper in the shape of torchvision's ``references/``
scripts: ``_run`` builds the pieces and loops over epochs; ``train_one_epoch`` is one pass.

Per epoch: (a) z_J of every training video (centre clip, eval mode, gathered over ranks);
(b) FINCH / K-means; (c) centroids and φ; (d) one epoch of L = CenterNCE + VideoNCE + ImgNCE with
the cluster-aware sampler. Rank 0 logs and writes (:class:`RunOutputs`); every rank sees the same
clusters. What goes from epoch to epoch is a :class:`TrainState`.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from vi2clr.clustering import ClusterAwareBatchSampler, center_nce_diagnostics, cluster_diagnostics
from vi2clr.config import Params
from vi2clr.data.datasets import PretrainClips, SkipLog, decoded_cache_for, make_loader, workers_for
from vi2clr.data.index import Index
from vi2clr.data.transforms import ClipAugment
from vi2clr.errors import UserError
from vi2clr.models import Vi2CLR, build_encoder, in_channels_last
from vi2clr.tracking import Tracker, pretrain_params, run_status, standard_tags, terminate_raises
from vi2clr.train.cluster_pass import ClusterState, cluster_features, extract_features
from vi2clr.train.criterion import Criterion
from vi2clr.train.curves import CurveProbe, build_curve_probe
from vi2clr.train.distributed import (
    DistInfo,
    agree_to_step,
    all_ranks_true,
    all_reduce_sum,
    barrier,
    broadcast_buffers,
    broadcast_object,
    convert_sync_bn,
    init_distributed,
    shutdown,
)
from vi2clr.train.outputs import CHECKPOINT_FORMAT, RunOutputs, report_dir
from vi2clr.train.progress import progress
from vi2clr.train.state import StateMismatch, TrainState

log = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_FORMAT", "PretrainError", "build_model", "report_dir", "run_pretrain"]


class PretrainError(UserError):
    """A run that cannot start or go on; the message is one line for the user (exit 1)."""

    exit_code = 1


class NonFiniteStop(PretrainError):
    """Too many non-finite losses in a row."""


@dataclass
class EpochStats:
    sums: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    clips: int = 0
    skipped: int = 0
    nonfinite: int = 0
    data_wait: float = 0.0
    train_time: float = 0.0

    def add(self, terms: dict[str, float]) -> None:
        self.steps += 1
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def means(self) -> dict[str, float]:
        return {k: v / max(self.steps, 1) for k, v in self.sums.items()}


@dataclass(frozen=True)
class Amp:
    enabled: bool
    dtype: torch.dtype


# ----------------------------------------------------------------------------- building blocks


def load_pretrain_index(p: Params) -> Index:
    """The Kinetics training index: a subset index file if given, else the annotation CSV layout."""
    from vi2clr.data.catalog import kinetics_train_index

    kp = p.data.kinetics400
    index = kinetics_train_index(p.data)
    if index.missing:
        log.warning("%d videos listed in the annotations are missing under %s", len(index.missing), kp.root)
    if not index.samples:
        raise PretrainError(f"no training videos found for data.kinetics400 (root {kp.root}, split {kp.split})")
    return index


def build_model(p: Params) -> Vi2CLR:
    video = build_encoder(p.model.video_encoder.name, **p.model.video_encoder.kwargs)
    image = build_encoder(p.model.image_encoder.name, **p.model.image_encoder.kwargs)
    return Vi2CLR(video, image, proj_dim=p.model.proj_dim)


def build_optimizer(p: Params, model: torch.nn.Module) -> torch.optim.Optimizer:
    o = p.pretrain.optim
    if o.name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)


def build_train_state(p: Params, d: DistInfo, num_videos: int) -> tuple[TrainState, Amp]:
    """A fresh :class:`TrainState` (model on ``d.device``, instance clusters) and the AMP setting."""
    cfg = p.pretrain
    model = convert_sync_bn(build_model(p).to(d.device), cfg.sync_bn, d)  # before the optimiser and DDP
    if p.model.channels_last_on(d.device.type):
        in_channels_last(model.video_encoder), in_channels_last(model.image_encoder)
    optimizer = build_optimizer(p, model)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.optim.milestones, cfg.optim.gamma)
    amp = Amp(cfg.amp != "none" and d.device.type == "cuda", torch.bfloat16 if cfg.amp == "bf16" else torch.float16)
    if cfg.amp != "none" and not amp.enabled and d.is_main:
        log.warning("pretrain.amp=%s needs CUDA; training in float32 on %s", cfg.amp, d.device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp.enabled and cfg.amp == "fp16")
    state = TrainState(model, optimizer, scheduler, scaler, ClusterState.instances(num_videos),
                       sampler_seed=cfg.seed)
    return state, amp


def wrap_ddp(p: Params, model: torch.nn.Module, d: DistInfo) -> torch.nn.Module:
    """DDP around ``model`` under torchrun (unused parameters allowed when a term is off or in warm-up)."""
    if not d.distributed:
        return torch.compile(model) if p.pretrain.compile else model
    lp = p.pretrain.loss
    all_terms = lp.center.enabled and lp.video.enabled and lp.image.enabled
    net = DistributedDataParallel(
        model, device_ids=[d.local_rank] if d.device.type == "cuda" else None,
        find_unused_parameters=not all_terms or p.pretrain.clustering.warmup_epochs > 0)
    return torch.compile(net) if p.pretrain.compile else net


def seed_epoch(seed: int, epoch: int, rank: int) -> None:
    """Every epoch starts from RNG state f(seed, epoch, rank), so a resumed run repeats it exactly."""
    s = (seed * 1_000_003 + epoch * 9_973 + rank) % (2**31)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


class EpochBatches(Sampler[list[int]]):
    """The batch sampler of the training loader, swapped every epoch for one built on the new
    clusters; one loader (and its persistent workers, when enabled) serves the whole run."""

    def __init__(self) -> None:
        self.current: Sampler[list[int]] | None = None

    def __iter__(self):
        return iter(self.current)

    def __len__(self) -> int:
        return len(self.current)


@dataclass
class Loaders:
    """The training loader (cluster-aware batches via ``batches``) and the clustering pass's loader."""

    train: DataLoader
    batches: EpochBatches
    centre: DataLoader
    num_videos: int
    skips: SkipLog = field(default_factory=SkipLog)  # one line per unreadable file for the run


def build_loaders(p: Params, index: Index, d: DistInfo) -> Loaders:
    cfg = p.pretrain
    clip = dict(num_frames=cfg.num_frames, stride=cfg.stride, size=cfg.size, seed=cfg.seed, decoder=p.data.decoder)
    augment = ClipAugment(size=cfg.size, **cfg.augment.model_dump())
    cache = decoded_cache_for(index, p.data.decoded_cache_mb * 2**20, p.data.decoder,  # train + centre: one decode
                              store=p.data.decoded_store)
    train_set = PretrainClips(index, augment=augment, mode="train", cache=cache, background_swap=cfg.background_swap.p,
                              foreground_fraction=cfg.background_swap.foreground_fraction, **clip)
    centre_set = PretrainClips(index, augment=None, mode="center", cache=cache, **clip)
    batches = EpochBatches()
    workers = dict(num_workers=workers_for(cache, p.data.num_workers),
                   persistent_workers=p.data.persistent_workers, seed=cfg.seed)
    train = make_loader(train_set, batch_sampler=batches, pin_memory=p.data.pin_memory and d.device.type == "cuda",
                        **workers)
    sampler = DistributedSampler(centre_set, num_replicas=d.world_size, rank=d.rank, shuffle=False) \
        if d.distributed else None
    centre = make_loader(centre_set, cfg.batch_size, sampler=sampler, **workers)
    return Loaders(train, batches, centre, len(index.samples))


# ----------------------------------------------------------------------------- the run


def run_pretrain(p: Params, *, resume: bool = False, restart: bool = False, ablation: str | None = None,
                 stage: str | None = None) -> Path:
    """Pretrain and return the output folder (checkpoints, clusters, exported encoders)."""
    dist_info = init_distributed(timeout=timedelta(minutes=p.pretrain.dist_timeout_min))
    try:
        return _run(p, dist_info, resume=resume, restart=restart, ablation=ablation, stage=stage)
    finally:
        shutdown()


def _run(p: Params, d: DistInfo, *, resume: bool, restart: bool, ablation: str | None, stage: str | None) -> Path:
    cfg = p.pretrain
    outputs = RunOutputs(p, p.training_digest())
    saved = read_resume_point(outputs, d, resume=resume, restart=restart)

    torch.use_deterministic_algorithms(cfg.deterministic and d.device.type == "cpu", warn_only=True)
    seed_epoch(cfg.seed, 0, 0)  # identical initial weights on every rank
    index = load_pretrain_index(p)
    state, amp = build_train_state(p, d, len(index.samples))
    if saved is not None:
        try:
            state.load_state_dict(saved)
        except StateMismatch as exc:
            raise PretrainError(f"{outputs.last}: {exc}; use --restart to start fresh") from None
    net = wrap_ddp(p, state.model, d)
    loaders = build_loaders(p, index, d)
    tracker = open_tracker(p, d, index, state.mlflow_run_id, ablation=ablation, stage=stage)
    state.mlflow_run_id = tracker.run_id
    if d.is_main:
        outputs.start(state.epoch)

    status, metrics, truth = "FINISHED", None, _ground_truth(index)
    curve = build_curve_probe(p, d.device) if d.is_main and state.epoch < cfg.epochs else None
    try:
        with terminate_raises():  # SIGTERM (scancel, docker stop, `vi2clr seeds` passing it on) closes the run KILLED
            for epoch in range(state.epoch, cfg.epochs):
                metrics = run_epoch(p, d, epoch, state, net, loaders, tracker, outputs, amp, truth, curve)
        if d.is_main:
            if metrics is None:  # a finished run resumed: nothing to do, its metrics.json is kept
                log.info("%s: all %d epochs done already", outputs.last, cfg.epochs)
            else:
                for path in outputs.encoder_files:
                    tracker.log_artifact(path, "encoders")
                if p.tracking.log_models:
                    tracker.log_encoder_models(
                        state.model.video_encoder, state.model.image_encoder, num_frames=cfg.num_frames,
                        video_size=cfg.size, image_size=cfg.size,
                        version_tags={"epoch": str(cfg.epochs), "ablation": ablation or "full", "seed": str(cfg.seed)})
            outputs.finish(tracker.run_id, cfg.epochs, metrics)
    except BaseException as exc:
        status = run_status(type(exc), exc)
        raise
    finally:
        tracker.end(status)
    return outputs.dir


def read_resume_point(outputs: RunOutputs, d: DistInfo, *, resume: bool, restart: bool) -> dict | None:
    """The checkpoint to resume from (checked against these params), or None for a fresh start
    (``--restart`` first removes the old output folder)."""
    last = outputs.last
    if last.exists() and not restart:
        if not resume:
            raise PretrainError(f"{last} exists: pass --resume to continue it or --restart to start over")
        saved = outputs.read_checkpoint()
        if saved.get("format") != CHECKPOINT_FORMAT:
            raise PretrainError(f"{last} is not a vi2clr pretraining checkpoint")
        if saved["params_digest"] != outputs.digest:
            raise PretrainError(
                f"{last} was written with other params (hash {saved['params_digest'][:12]} != "
                f"{outputs.digest[:12]}): resume refused; use --restart to start fresh")
        barrier()
        return saved
    if restart and d.is_main and outputs.dir.exists():
        shutil.rmtree(outputs.dir)
    barrier()
    return None


def open_tracker(p: Params, d: DistInfo, index: Index, run_id: str | None, *, ablation: str | None,
                 stage: str | None) -> Tracker:
    """The run's MLflow run (rank 0; continued when ``run_id`` is given); params logged once, when new."""
    tracker = Tracker(
        enabled=d.is_main, params=p, run_id=run_id, run_name=f"pretrain:{ablation or 'full'}",
        tags=standard_tags(dvc_stage=stage, data_digest=index.digest(),
                           extra={"kind": "pretrain", "ablation": ablation or "full", **p.pretrain.tags}),
    )
    if d.is_main and run_id is None:
        tracker.log_params(pretrain_params(p))
        tracker.log_index(index, context="train")
        tracker.log_params({"run.world_size": d.world_size, "run.num_videos": len(index.samples)})
        tracker.log_dict(p.model_dump(mode="json"), "params.yaml")
    return tracker


def clustering_stream(p: Params) -> str:
    """The embedding the clustering pass reads (paper §4.6): a single-stream ablation clusters on its
    own stream's 128-d head output (ImgNCE-only → ``image``, VideoNCE-only → ``video``); otherwise z_J."""
    lp = p.pretrain.loss
    if not lp.center.enabled and lp.image.enabled != lp.video.enabled:
        return "image" if lp.image.enabled else "video"
    return "joint"


def cluster_pass(p: Params, d: DistInfo, epoch: int, net: torch.nn.Module, loaders: Loaders) -> tuple[ClusterState, dict]:
    """Steps (a)-(c), or instance clusters during warm-up; returns the state and its timings and, once
    clustered, the CenterNCE diagnostics of the new clusters (``cluster/center_*``, ``cluster/phi_*``)."""
    cfg = p.pretrain
    t0 = time.perf_counter()
    if epoch < cfg.clustering.warmup_epochs:
        return ClusterState.instances(loaders.num_videos), {"time/extract_s": 0.0, "time/cluster_s": 0.0}
    model = net.module if d.distributed else net
    broadcast_buffers(model)  # every rank extracts with rank 0's BN state
    batches = progress(loaders.skips.watch(loaders.centre), f"features {epoch + 1}/{cfg.epochs}",
                       enabled=d.is_main and cfg.progress, total=len(loaders.centre))
    z, valid = extract_features(model, batches, d.device, loaders.num_videos, stream=clustering_stream(p))
    t1 = time.perf_counter()
    info: dict[str, float] = {}
    state = None
    if d.is_main:
        state = cluster_features(z, cfg.clustering, tau=cfg.loss.tau, seed=cfg.seed + epoch, valid=valid,
                                 device=d.device)
        info = {f"cluster/{k}": v for k, v in center_nce_diagnostics(
            z.to(d.device), state.assignments.to(d.device), state.centroids.to(d.device),
            state.phi.to(d.device)).items()}
        info["cluster/phi_max_over_min"] = info["cluster/phi_max"] / max(info["cluster/phi_min"], 1e-12)
    state = broadcast_object(state)
    return state, {"time/extract_s": t1 - t0, "time/cluster_s": time.perf_counter() - t1, **info}


def run_epoch(p: Params, d: DistInfo, epoch: int, state: TrainState, net: torch.nn.Module, loaders: Loaders,
              tracker: Tracker, outputs: RunOutputs, amp: Amp, truth: dict[str, np.ndarray],
              curve: CurveProbe | None = None) -> dict[str, float]:
    """Cluster, train one epoch, then (rank 0) probe the learning curve every ``pretrain.curve.every``
    epochs (and at the last), log, checkpoint, export; returns the epoch metrics."""
    cfg = p.pretrain
    seed_epoch(cfg.seed, epoch, d.rank)
    skipped_before = loaders.skips.count
    state.cluster, timings = cluster_pass(p, d, epoch, net, loaders)
    if d.is_main:
        tracker.log_artifact(outputs.save_clusters(epoch, state.cluster), "clusters")
    _dump_clusters_for_tests(state.cluster, epoch, d.rank)
    criterion = Criterion.for_epoch(cfg.loss, state.cluster, d.device)
    try:
        stats = train_one_epoch(p, net, criterion, state, loaders, d, epoch, tracker, amp)
    except NonFiniteStop as stop:
        if d.is_main:
            state.nonfinite_total += cfg.max_nonfinite
            outputs.save_checkpoint(state, name="stopped.pt")
        raise PretrainError(
            f"{stop}: stopping. State at the stop: {outputs.stopped}; last good epoch: {outputs.last} "
            f"(lower pretrain.optim.lr or set pretrain.optim.grad_clip)") from None
    state.scheduler.step()
    state.epoch = state.sampler_epoch = epoch + 1
    state.nonfinite_total += stats.nonfinite
    stats.skipped = loaders.skips.count - skipped_before  # clustering pass + training, this epoch
    metrics = epoch_metrics(stats, state, d, timings, truth)
    if curve is not None and (state.epoch % cfg.curve.every == 0 or state.epoch == cfg.epochs):
        t0 = time.perf_counter()
        metrics.update(curve(state.model))
        metrics["time/curve_s"] = time.perf_counter() - t0
    if d.is_main:
        tracker.log_metrics(metrics, step=state.epoch)
        outputs.save_checkpoint(state)
        outputs.export_encoders(state.model, state.epoch, tracker.run_id)
        outputs.append_history(state.epoch, state.cluster, metrics)
        log.info(epoch_line(state.epoch, cfg.epochs, state.cluster.num_clusters, metrics))
    barrier()
    return metrics


def epoch_metrics(stats: EpochStats, state: TrainState, d: DistInfo, timings: dict[str, float],
                  truth: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean loss terms, lr, timings, throughput (summed over ranks) and, once clustered, diagnostics."""
    clips, skipped = all_reduce_sum([stats.clips, stats.skipped], d.device)
    metrics = {f"epoch/loss_{k}": v for k, v in stats.means().items()}
    metrics.update({
        "epoch/lr": state.optimizer.param_groups[0]["lr"], **timings,
        "time/train_s": stats.train_time, "time/data_wait_s": stats.data_wait,
        "throughput/clips_per_s": clips / max(stats.train_time, 1e-9),
        "data/skipped_videos": skipped, "train/nonfinite_steps": stats.nonfinite,
    })
    if state.cluster.centroids is not None:
        diag = cluster_diagnostics(state.cluster.assignments.numpy(), truth)
        metrics.update({f"cluster/{k}": v for k, v in diag.items()})
    return metrics


def epoch_line(epoch: int, epochs: int, num_clusters: int, m: dict[str, float]) -> str:
    """The one console line of an epoch: loss terms, cluster count, CenterNCE diagnostics
    (``cluster/center_*``) where present, seconds and clips/s."""
    parts = [f"epoch {epoch}/{epochs}"]
    parts += [f"{k}={m[f'epoch/loss_{k}']:.4f}" for k in ("total", "center", "video", "image")
              if f"epoch/loss_{k}" in m]
    parts.append(f"clusters={num_clusters}")
    parts += [f"{k[len('cluster/'):]}={v:.4g}" for k, v in m.items()
              if k.startswith("cluster/center_") or k == "cluster/phi_max_over_min"]
    parts += [f"{k[len('curve/'):]}={v:.3f}" for k, v in m.items() if k.startswith("curve/")]
    seconds = sum(v for k, v in m.items() if k in ("time/extract_s", "time/cluster_s", "time/curve_s", "time/train_s",
                                                   "time/data_wait_s"))
    parts += [f"lr={m['epoch/lr']:.3g}", f"{seconds:.1f}s", f"{m['throughput/clips_per_s']:.1f} clips/s"]
    if m.get("data/skipped_videos"):
        parts.append(f"skipped={int(m['data/skipped_videos'])}")
    return " ".join(parts)


def train_one_epoch(p: Params, net: torch.nn.Module, criterion: Criterion, state: TrainState, loaders: Loaders,
                    d: DistInfo, epoch: int, tracker: Tracker, amp: Amp) -> EpochStats:
    """One pass over cluster-aware batches, advancing ``state.global_step``. A non-finite loss skips
    its step (all ranks agree); ``max_nonfinite`` in a row raise :class:`NonFiniteStop`."""
    cfg = p.pretrain
    # Instance discrimination (warm-up) has no clusters to group by: plain shuffled batches.
    group_size = cfg.clustering.group_size if state.cluster.centroids is not None else 1
    sampler = ClusterAwareBatchSampler(state.cluster.assignments.numpy(), cfg.batch_size, group_size,
                                       num_replicas=d.world_size, rank=d.rank, seed=state.sampler_seed)
    sampler.set_epoch(epoch)
    loaders.batches.current = sampler  # read by the loader's main process when this epoch's iterator starts
    loaders.train.dataset.set_epoch(epoch)
    generator = torch.Generator().manual_seed(cfg.seed * 7919 + epoch)
    stats, in_a_row = EpochStats(), 0
    net.train()
    tick = time.perf_counter()
    for batch in progress(loaders.skips.watch(loaders.train), f"epoch {epoch + 1}/{cfg.epochs}",
                          enabled=d.is_main and cfg.progress,
                          total=len(sampler)):
        got = time.perf_counter()
        stats.data_wait += got - tick
        n = len(batch.get("index", []))
        if not agree_to_step(n, 2, d.device):  # all ranks skip together
            tick = time.perf_counter()
            continue
        terms = _forward(net, criterion, batch, state.cluster, d, amp, generator)
        if not all_ranks_true(bool(torch.isfinite(terms["total"])), d.device):
            stats.nonfinite += 1
            in_a_row += 1
            state.optimizer.zero_grad(set_to_none=True)
            if in_a_row >= cfg.max_nonfinite:
                raise NonFiniteStop(f"{in_a_row} non-finite losses in a row at epoch {epoch + 1}")
            tick = time.perf_counter()
            continue
        in_a_row = 0
        _step(net, state, terms["total"], cfg.optim.grad_clip)
        values = {k: float(v.detach()) for k, v in terms.items()}
        stats.add(values)
        stats.clips += 2 * n
        tick = time.perf_counter()
        stats.train_time += tick - got
        if d.is_main and state.global_step % cfg.log_every == 0:
            tracker.log_metrics({**{f"train/loss_{k}": v for k, v in values.items()},
                                 "train/lr": state.optimizer.param_groups[0]["lr"]}, step=state.global_step)
    return stats


def _forward(net: torch.nn.Module, criterion: Criterion, batch: dict, cluster: ClusterState, d: DistInfo, amp: Amp,
             generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Loss terms of one batch: both clips (B, 3, T, H, W) and both frames (B, 3, H, W), stacked to 2B views."""
    groups = cluster.assignments[batch["index"]].to(d.device)
    video = torch.cat([batch["video1"], batch["video2"]]).to(d.device, non_blocking=True)
    image = torch.cat([batch["image1"], batch["image2"]]).to(d.device, non_blocking=True)
    if next(net.parameters()).is_contiguous(memory_format=torch.channels_last_3d):
        video = video.contiguous(memory_format=torch.channels_last_3d)
        image = image.contiguous(memory_format=torch.channels_last)
    with torch.autocast(d.device.type, dtype=amp.dtype, enabled=amp.enabled):
        z_video, z_image, z_joint = net(video, image)
    return criterion(z_video.float(), z_image.float(), z_joint.float(), groups, generator)


def _step(net: torch.nn.Module, state: TrainState, loss: torch.Tensor, grad_clip: float | None) -> None:
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if grad_clip:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.global_step += 1


# ----------------------------------------------------------------------------- small helpers


def _ground_truth(index: Index) -> dict[str, np.ndarray]:
    """Labels to score clusters against: the action label, and synthetic motion/appearance ids."""
    truth = {"label": np.array([s.label for s in index.samples])}
    for key in ("motion", "appearance"):
        values = [s.extra.get(key) for s in index.samples]
        if all(v is not None for v in values):
            truth[key] = np.array(values)
    return truth


def _dump_clusters_for_tests(state: ClusterState, epoch: int, rank: int) -> None:
    """With ``VI2CLR_DUMP_CLUSTERS=<dir>``, every rank writes the assignments it trains with, so a
    test can check that all ranks saw the same clustering."""
    folder = os.environ.get("VI2CLR_DUMP_CLUSTERS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        np.save(Path(folder) / f"rank{rank}_epoch{epoch + 1}.npy", state.assignments.numpy())
