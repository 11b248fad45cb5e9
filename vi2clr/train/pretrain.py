"""``vi2clr pretrain``: Algorithm 1 of the paper, one function a step, in the style of torchvision's
``references/`` scripts.

Per epoch: (a) z_J of every training video (centre clip, eval mode, gathered over ranks);
(b) FINCH / K-means; (c) centroids and φ; (d) one epoch of L = CenterNCE + VideoNCE + ImgNCE with
the cluster-aware sampler. Rank 0 logs and writes checkpoints; every rank sees the same clusters.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from rich.progress import track
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from vi2clr.clustering import ClusterAwareBatchSampler, cluster_diagnostics
from vi2clr.config import Params
from vi2clr.data.datasets import PretrainClips, make_loader
from vi2clr.data.layouts import Index
from vi2clr.data.transforms import ClipAugment
from vi2clr.losses import LossWeights, total_loss
from vi2clr.models import Vi2CLR, build_encoder, save_encoder
from vi2clr.tracking import Tracker, standard_tags
from vi2clr.train import checkpoint as ckpt
from vi2clr.train.cluster_pass import ClusterState, cluster_features, extract_joint_features
from vi2clr.train.distributed import DistInfo, all_reduce_sum, barrier, broadcast_object, init_distributed, shutdown

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "vi2clr-pretrain/1"


class PretrainError(RuntimeError):
    """A run that cannot start or go on; the message is one line for the user."""


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


# ----------------------------------------------------------------------------- building blocks


def load_pretrain_index(p: Params) -> Index:
    """The Kinetics training index: a subset index file if given, else the annotation CSV layout."""
    from vi2clr.data.layouts import read_kinetics400

    kp = p.data.kinetics400
    if kp.index:
        index = Index.load(Path(kp.index), root=Path(kp.root))
    else:
        index = read_kinetics400(Path(kp.root), kp.annotations, kp.split)
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


def seed_epoch(seed: int, epoch: int, rank: int) -> None:
    """Every epoch starts from RNG state f(seed, epoch, rank), so a resumed run repeats it exactly."""
    s = (seed * 1_000_003 + epoch * 9_973 + rank) % (2**31)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def loss_terms(p: Params, z_video: torch.Tensor, z_image: torch.Tensor, z_joint: torch.Tensor,
               groups: torch.Tensor, state: ClusterState, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """The enabled loss terms (:func:`vi2clr.losses.total_loss`) for 2B views stacked as [view 1; view 2].

    Warm-up epochs (``state.centroids is None``) are instance discrimination: CenterNCE is off and
    every sample is its own group; a CenterNCE-only run warms up with both NCE terms, since it
    has no instance term of its own.
    """
    lp = p.pretrain.loss
    clustered = state.centroids is not None
    use_video, use_image = lp.video.enabled, lp.image.enabled
    if not clustered and not (use_video or use_image):
        use_video = use_image = True
    weights = LossWeights(center=lp.center.weight, video=lp.video.weight, image=lp.image.weight,
                          use_center=lp.center.enabled and clustered, use_video=use_video, use_image=use_image)
    b = z_video.shape[0] // 2
    device = z_joint.device
    out = total_loss((z_video[:b], z_video[b:]), (z_image[:b], z_image[b:]), (z_joint[:b], z_joint[b:]), weights,
                     assignments=groups,
                     centroids=state.centroids.to(device) if clustered else None,
                     phi=state.phi.to(device) if clustered else None,
                     tau=lp.tau, gather=lp.gather, num_negatives=lp.center_negatives, generator=generator)
    names = {"video_nce": "video", "img_nce": "image", "center_nce": "center", "total": "total"}
    return {names[k]: v for k, v in out.items()}


# ----------------------------------------------------------------------------- the run


def run_pretrain(p: Params, *, resume: bool = False, restart: bool = False, ablation: str | None = None,
                 stage: str | None = None) -> Path:
    """Pretrain and return the output folder (checkpoints, clusters, exported encoders)."""
    dist_info = init_distributed()
    try:
        return _run(p, dist_info, resume=resume, restart=restart, ablation=ablation, stage=stage)
    finally:
        shutdown()


def _run(p: Params, d: DistInfo, *, resume: bool, restart: bool, ablation: str | None, stage: str | None) -> Path:
    cfg = p.pretrain
    out = Path(cfg.out_dir)
    last = out / "last.pt"
    digest = p.digest()

    start_epoch, resume_state = 0, None
    if last.exists() and not restart:
        if not resume:
            raise PretrainError(f"{last} exists: pass --resume to continue it or --restart to start over")
        resume_state = ckpt.load(last)
        if resume_state.get("format") != CHECKPOINT_FORMAT:
            raise PretrainError(f"{last} is not a vi2clr pretraining checkpoint")
        if resume_state["params_digest"] != digest:
            raise PretrainError(
                f"{last} was written with other params (hash {resume_state['params_digest'][:12]} != "
                f"{digest[:12]}): resume refused; use --restart to start fresh")
        start_epoch = int(resume_state["epoch"])
    elif restart and d.is_main and out.exists():
        shutil.rmtree(out)
    barrier()

    torch.use_deterministic_algorithms(cfg.deterministic and d.device.type == "cpu", warn_only=True)
    seed_epoch(cfg.seed, 0, 0)  # identical initial weights on every rank
    index = load_pretrain_index(p)
    model = build_model(p).to(d.device)
    optimizer = build_optimizer(p, model)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.optim.milestones, cfg.optim.gamma)
    use_amp = cfg.amp != "none" and d.device.type == "cuda"
    amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and cfg.amp == "fp16")
    if cfg.amp != "none" and not use_amp and d.is_main:
        log.warning("pretrain.amp=%s needs CUDA; training in float32 on %s", cfg.amp, d.device)

    cluster_state = ClusterState.instances(len(index.samples))
    run_id = None
    nonfinite_total = 0
    global_step = 0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        scaler.load_state_dict(resume_state["scaler"])
        ckpt.set_rng_state(resume_state["rng"])
        cluster_state = ClusterState.from_state_dict(resume_state["cluster"])
        run_id = resume_state.get("mlflow_run_id")
        nonfinite_total = int(resume_state.get("nonfinite_total", 0))
        global_step = int(resume_state.get("global_step", 0))

    lp = cfg.loss
    all_terms = lp.center.enabled and lp.video.enabled and lp.image.enabled
    net = model
    if d.distributed:
        net = DistributedDataParallel(
            model, device_ids=[d.local_rank] if d.device.type == "cuda" else None,
            find_unused_parameters=not all_terms or cfg.clustering.warmup_epochs > 0)

    augment = ClipAugment(size=cfg.size, **cfg.augment.model_dump())
    train_set = PretrainClips(index, num_frames=cfg.num_frames, stride=cfg.stride, size=cfg.size,
                              augment=augment, mode="train", seed=cfg.seed, decoder=p.data.decoder)
    centre_set = PretrainClips(index, num_frames=cfg.num_frames, stride=cfg.stride, size=cfg.size,
                               augment=None, mode="center", seed=cfg.seed, decoder=p.data.decoder)
    truth = _ground_truth(index)
    batches = EpochBatches()
    pin = p.data.pin_memory and d.device.type == "cuda"
    train_loader = make_loader(train_set, batch_sampler=batches, num_workers=p.data.num_workers, pin_memory=pin,
                               persistent_workers=p.data.persistent_workers, seed=cfg.seed)
    centre_loader = _centre_loader(p, centre_set, d)

    tracker = Tracker(
        enabled=d.is_main, params=p, run_id=run_id, run_name=f"pretrain:{ablation or 'full'}",
        tags=standard_tags(dvc_stage=stage, data_digest=index.digest(),
                           extra={"kind": "pretrain", "ablation": ablation or "full", **cfg.tags}),
    )
    if d.is_main and resume_state is None:
        tracker.log_params(p)
        tracker.log_params({"run.world_size": d.world_size, "run.num_videos": len(index.samples)})
        tracker.log_dict(p.model_dump(mode="json"), "params.yaml")
    report = report_dir(p)
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "params.yaml").write_text(yaml.safe_dump(p.model_dump(mode="json"), sort_keys=False))
        _truncate_history(report / "history.csv", start_epoch)

    status = "FINISHED"
    try:
        for epoch in range(start_epoch, cfg.epochs):
            seed_epoch(cfg.seed, epoch, d.rank)
            # (a)-(c): cluster the joint features of all videos
            t0 = time.perf_counter()
            if epoch >= cfg.clustering.warmup_epochs:
                z = extract_joint_features(net.module if d.distributed else net, centre_loader, d.device,
                                           len(index.samples))
                t1 = time.perf_counter()
                if d.is_main:
                    cluster_state = cluster_features(z, cfg.clustering, tau=lp.tau, seed=cfg.seed + epoch)
                cluster_state = broadcast_object(cluster_state)
            else:
                t1 = time.perf_counter()
                cluster_state = ClusterState.instances(len(index.samples))
            t2 = time.perf_counter()
            if d.is_main:
                tracker.log_artifact(_save_clusters(out, epoch, cluster_state), "clusters")

            # (d): one epoch of the three losses on cluster-aware batches
            _dump_clusters_for_tests(cluster_state, epoch, d.rank)
            try:
                stats, global_step = train_one_epoch(p, net, optimizer, scaler, train_loader, batches, cluster_state,
                                                     d, epoch, tracker, global_step, use_amp, amp_dtype)
            except NonFiniteStop as stop:
                if d.is_main:
                    _save_checkpoint(out, p, digest, epoch, model, optimizer, scheduler, scaler, cluster_state,
                                     tracker.run_id, nonfinite_total + cfg.max_nonfinite, global_step,
                                     name="stopped.pt")
                raise PretrainError(
                    f"{stop}: stopping. State at the stop: {out / 'stopped.pt'}; last good epoch: {last} "
                    f"(lower pretrain.optim.lr or set pretrain.optim.grad_clip)") from None
            scheduler.step()
            nonfinite_total += stats.nonfinite

            sums = all_reduce_sum([stats.clips, stats.skipped, stats.data_wait, stats.train_time], d.device)
            epoch_metrics = {f"epoch/loss_{k}": v for k, v in stats.means().items()}
            epoch_metrics.update({
                "epoch/lr": optimizer.param_groups[0]["lr"],
                "time/extract_s": t1 - t0, "time/cluster_s": t2 - t1,
                "time/train_s": stats.train_time, "time/data_wait_s": stats.data_wait,
                "throughput/clips_per_s": sums[0] / max(stats.train_time, 1e-9),
                "data/skipped_videos": sums[1], "train/nonfinite_steps": stats.nonfinite,
            })
            if cluster_state.centroids is not None:
                diag = cluster_diagnostics(cluster_state.assignments.numpy(), truth)
                epoch_metrics.update({f"cluster/{k}": v for k, v in diag.items()})
            if d.is_main:
                tracker.log_metrics(epoch_metrics, step=epoch + 1)
                _save_checkpoint(out, p, digest, epoch + 1, model, optimizer, scheduler, scaler, cluster_state,
                                 tracker.run_id, nonfinite_total, global_step)
                _export_encoders(out, p, model, epoch + 1, tracker.run_id, digest)
                _append_history(report / "history.csv", epoch + 1, cluster_state, epoch_metrics)
                log.info("epoch %d/%d %s", epoch + 1, cfg.epochs,
                         " ".join(f"{k}={v:.4g}" for k, v in epoch_metrics.items()))
            barrier()
        if d.is_main:
            for name in ("video_encoder.pt", "image_encoder.pt"):
                tracker.log_artifact(out / name, "encoders")
            (out / "run.json").write_text(json.dumps({"mlflow_run_id": tracker.run_id, "epochs": cfg.epochs,
                                                      "params_digest": digest}, indent=2))
            final = {k: v for k, v in epoch_metrics.items() if not k.startswith("time/")} if cfg.epochs > start_epoch \
                else {}
            (report / "metrics.json").write_text(json.dumps({"mlflow_run_id": tracker.run_id, **final}, indent=2))
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        raise
    finally:
        tracker.end(status)
    return out


class EpochBatches(Sampler[list[int]]):
    """The batch sampler of the training loader, swapped every epoch for one built on the new
    clusters; one loader (and its persistent workers, when enabled) serves the whole run."""

    def __init__(self) -> None:
        self.current: Sampler[list[int]] | None = None

    def __iter__(self):
        return iter(self.current)

    def __len__(self) -> int:
        return len(self.current)


def train_one_epoch(p: Params, net: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                    loader: DataLoader, batches: EpochBatches, state: ClusterState, d: DistInfo, epoch: int,
                    tracker: Tracker, global_step: int, use_amp: bool, amp_dtype: torch.dtype) -> tuple[EpochStats, int]:
    """One pass over cluster-aware batches. A non-finite loss skips its step (all ranks agree);
    ``max_nonfinite`` in a row stops the run with a checkpoint of the last good epoch."""
    cfg = p.pretrain
    # Instance discrimination (warm-up) has no clusters to group by: plain shuffled batches.
    group_size = cfg.clustering.group_size if state.centroids is not None else 1
    sampler = ClusterAwareBatchSampler(state.assignments.numpy(), cfg.batch_size, group_size,
                                       num_replicas=d.world_size, rank=d.rank, seed=cfg.seed)
    sampler.set_epoch(epoch)
    batches.current = sampler  # read by the loader's main process when this epoch's iterator starts
    loader.dataset.set_epoch(epoch)
    generator = torch.Generator().manual_seed(cfg.seed * 7919 + epoch)
    stats = EpochStats()
    in_a_row = 0
    net.train()
    tick = time.perf_counter()
    batches = loader
    if d.is_main and cfg.progress:
        batches = track(loader, description=f"epoch {epoch + 1}/{cfg.epochs}", transient=True)
    for batch in batches:
        got = time.perf_counter()
        stats.data_wait += got - tick
        stats.skipped += int(batch.get("skipped", 0))
        n = len(batch.get("index", []))
        if n < 2:
            tick = time.perf_counter()
            continue
        idx = batch["index"]
        groups = state.assignments[idx].to(d.device)
        video = torch.cat([batch["video1"], batch["video2"]]).to(d.device, non_blocking=True)
        image = torch.cat([batch["image1"], batch["image2"]]).to(d.device, non_blocking=True)
        with torch.autocast(d.device.type, dtype=amp_dtype, enabled=use_amp):
            z_video, z_image, z_joint = net(video, image)
        terms = loss_terms(p, z_video.float(), z_image.float(), z_joint.float(), groups, state, generator)
        finite = all_reduce_sum([float(torch.isfinite(terms["total"]).item())], d.device)[0] == d.world_size
        if not finite:
            stats.nonfinite += 1
            in_a_row += 1
            optimizer.zero_grad(set_to_none=True)
            if in_a_row >= cfg.max_nonfinite:
                raise NonFiniteStop(f"{in_a_row} non-finite losses in a row at epoch {epoch + 1}")
            tick = time.perf_counter()
            continue
        in_a_row = 0
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(terms["total"]).backward()
        if cfg.optim.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        global_step += 1
        values = {k: float(v.detach()) for k, v in terms.items()}
        stats.add(values)
        stats.clips += 2 * n
        tick = time.perf_counter()
        stats.train_time += tick - got
        if d.is_main and global_step % cfg.log_every == 0:
            tracker.log_metrics({**{f"train/loss_{k}": v for k, v in values.items()},
                                 "train/lr": optimizer.param_groups[0]["lr"]}, step=global_step)
    return stats, global_step


# ----------------------------------------------------------------------------- I/O helpers


def report_dir(p: Params) -> Path:
    """DVC metrics and plots of a pretraining: ``reports/pretrain/<name of out_dir>``."""
    return Path("reports") / "pretrain" / Path(p.pretrain.out_dir).name


HISTORY_COLUMNS = ["epoch", "loss_center", "loss_video", "loss_image", "loss_total", "num_clusters", "lr",
                   "clips_per_s", "nmi_motion", "nmi_appearance"]


def _truncate_history(path: Path, start_epoch: int) -> None:
    """Keep the rows of epochs already done (a resumed run appends after them)."""
    if start_epoch == 0 or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(HISTORY_COLUMNS) + "\n")
        return
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[: start_epoch + 1]) + "\n")


def _append_history(path: Path, epoch: int, state: ClusterState, m: dict[str, float]) -> None:
    row = {"epoch": epoch, "num_clusters": state.num_clusters, "lr": m.get("epoch/lr"),
           "clips_per_s": m.get("throughput/clips_per_s"), "nmi_motion": m.get("cluster/motion_nmi"),
           "nmi_appearance": m.get("cluster/appearance_nmi")}
    row.update({f"loss_{k}": m.get(f"epoch/loss_{k}") for k in ("center", "video", "image", "total")})
    with open(path, "a") as fh:
        fh.write(",".join("" if row[c] is None else f"{row[c]:.6g}" for c in HISTORY_COLUMNS) + "\n")


def _centre_loader(p: Params, dataset: PretrainClips, d: DistInfo) -> DataLoader:
    sampler = DistributedSampler(dataset, num_replicas=d.world_size, rank=d.rank, shuffle=False) \
        if d.distributed else None
    return make_loader(dataset, p.pretrain.batch_size, sampler=sampler, num_workers=p.data.num_workers,
                       persistent_workers=p.data.persistent_workers, seed=p.pretrain.seed)


def _ground_truth(index: Index) -> dict[str, np.ndarray] | None:
    """Labels to score clusters against: the action label, and synthetic motion/appearance ids."""
    truth = {"label": np.array([s.label for s in index.samples])}
    for key in ("motion", "appearance"):
        values = [s.extra.get(key) for s in index.samples]
        if all(v is not None for v in values):
            truth[key] = np.array(values)
    return truth


def _save_clusters(out: Path, epoch: int, state: ClusterState) -> Path:
    path = out / "clusters" / f"epoch_{epoch + 1:04d}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"assignments": state.assignments.numpy()}
    if state.centroids is not None:
        arrays.update(centroids=state.centroids.numpy(), phi=state.phi.numpy())
    np.savez_compressed(path, **arrays)
    return path


def _dump_clusters_for_tests(state: ClusterState, epoch: int, rank: int) -> None:
    """With ``VI2CLR_DUMP_CLUSTERS=<dir>``, every rank writes the assignments it trains with, so a
    test can check that all ranks saw the same clustering."""
    folder = os.environ.get("VI2CLR_DUMP_CLUSTERS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        np.save(Path(folder) / f"rank{rank}_epoch{epoch + 1}.npy", state.assignments.numpy())


def _save_checkpoint(out: Path, p: Params, digest: str, epoch: int, model, optimizer, scheduler, scaler,
                     state: ClusterState, run_id: str | None, nonfinite_total: int, global_step: int,
                     name: str = "last.pt") -> None:
    payload = {
        "format": CHECKPOINT_FORMAT, "epoch": epoch, "params_digest": digest,
        "params": json.dumps(p.model_dump(mode="json")),
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(), "rng": ckpt.rng_state(),
        "sampler": {"seed": p.pretrain.seed, "epoch": epoch},
        "cluster": state.state_dict(), "mlflow_run_id": run_id or "",
        "nonfinite_total": nonfinite_total, "global_step": global_step,
    }
    ckpt.save_atomic(payload, out / name)
    every = p.pretrain.keep_every
    if name == "last.pt" and every and epoch % every == 0:
        shutil.copyfile(out / "last.pt", out / f"epoch_{epoch:04d}.pt")


def _export_encoders(out: Path, p: Params, model: Vi2CLR, epoch: int, run_id: str | None, digest: str) -> None:
    """Encoders alone, for evaluation: always the latest, plus a copy at each of ``keep_epochs``."""
    meta = {"pretrain_run_id": run_id or "", "epoch": epoch, "params_digest": digest}
    targets = [out]
    if epoch in p.pretrain.keep_epochs:
        targets.append(out / f"epoch_{epoch:04d}")
    for folder in targets:
        save_encoder(folder / "video_encoder.pt", model.video_encoder, p.model.video_encoder.name,
                     p.model.video_encoder.kwargs, meta)
        save_encoder(folder / "image_encoder.pt", model.image_encoder, p.model.image_encoder.name,
                     p.model.image_encoder.kwargs, meta)
