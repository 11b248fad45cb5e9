"""Typed view of ``params.yaml``: pydantic models, loading, ``-S key.path=value`` overrides.

Every block is ``extra="forbid"`` so a typo is an error naming the key, never silently ignored.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vi2clr.errors import UserError
from vi2clr.models.names import ENCODER_OPTIONS, ENCODERS, FRAMES
from vi2clr.paper import TAU


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ----------------------------------------------------------------------------- data


# The one small preset of the synthetic data (tests): 4 motion × 4 appearance classes, 32 px, 12 frames.
SYNTH_TINY: dict[str, Any] = dict(
    num_motion=4, num_appearance=4, size=32, num_frames=12,
    kinetics_train_per_class=4, kinetics_val_per_class=2, kinetics_missing=1,
    ucf_groups=3, ucf_test_groups=1, ucf_clips_per_group=1, hmdb_per_class=3, hmdb_test_per_class=1,
    imagenet_train_per_class=4, imagenet_val_per_class=2, image_size=32, voc_trainval=80, voc_test=16,
)  # fmt: skip


class SynthParams(Strict):
    """The embedded synthetic data set (``vi2clr data synth``): the one place its knobs and defaults live.

    Test splits hold about 400 items per protocol (8 classes × 50), so one accuracy's 95 % interval
    is at most ±1.96·sqrt(0.25 / 400) ≈ ±4.9 points.
    """

    root: str = "data/synthetic"
    seed: int = 0
    family: Literal["default", "validation"] = Field(
        "default", description="class vocabulary: `validation` has other shapes, textures and motions (for choosing "
        "defaults only); the family also enters every random stream, so it never shares a draw with `default`")
    num_motion: int = Field(8, ge=2, le=10, description="motion classes (video labels)")
    num_appearance: int = Field(8, ge=2, le=24, description="appearance classes (image labels)")
    size: int = Field(64, ge=16, description="video height in px")
    aspect: float = Field(4 / 3, ge=1, le=2, description="width / height of videos and images")
    num_frames: int = Field(32, ge=4)
    fps: float = Field(25.0, gt=0)
    kinetics_train_per_class: int = Field(40, ge=1)
    kinetics_val_per_class: int = Field(50, ge=1)
    kinetics_missing: int = Field(2, ge=0, description="annotated videos left out on disk, as in real Kinetics")
    ucf_groups: int = Field(7, ge=2, description="groups gXX per class")
    ucf_test_groups: int = Field(5, ge=1, description="test groups of each split (split k tests groups from (k-1)·this)")
    ucf_clips_per_group: int = Field(10, ge=1)
    hmdb_per_class: int = Field(68, ge=3, description="videos per class (about 10 % unused per split, as in HMDB51)")
    hmdb_test_per_class: int = Field(50, ge=1, description="test videos per class and split")
    imagenet_train_per_class: int = Field(40, ge=2)
    imagenet_val_per_class: int = Field(50, ge=1)
    image_size: int = Field(64, ge=16)
    voc_trainval: int = Field(480, ge=10)
    voc_test: int = Field(400, ge=10)
    voc_max_objects: int = Field(3, ge=1)
    voc_difficult_p: float = Field(0.15, ge=0, lt=1)
    object_radius: tuple[float, float] = Field((0.25, 0.35), description="range of a video object's radius (frame-height units)")
    background_contrast: float = Field(1.0, ge=0, le=1, description="amplitude of the background texture (1 ≈ ±0.5 grey)")
    lighting_drift: float = Field(0.3, ge=0, lt=1, description="global gain/offset drift over a clip (and per image)")
    speed_scale: float = Field(1.5, gt=0, description="multiplies the motion's nuisance speed")
    corrupt: int = Field(0, ge=0, description="truncated Kinetics videos (to see bad input handled)")
    zero_length: int = Field(0, ge=0, description="empty Kinetics video files")
    workers: int = Field(2, ge=1, description="threads; the files do not depend on it")

    @model_validator(mode="after")
    def _consistent(self) -> SynthParams:
        lo, hi = self.object_radius
        if not 0 < lo <= hi <= 0.5:
            raise ValueError(f"object_radius must be 0 < lo <= hi <= 0.5, got {self.object_radius}")
        if self.ucf_test_groups >= self.ucf_groups:
            raise ValueError(f"ucf_test_groups ({self.ucf_test_groups}) must be < ucf_groups ({self.ucf_groups})")
        if self.hmdb_test_per_class + self.hmdb_unused_per_class >= self.hmdb_per_class:
            raise ValueError(f"hmdb_per_class ({self.hmdb_per_class}) leaves no train video after "
                             f"{self.hmdb_test_per_class} test and {self.hmdb_unused_per_class} unused")
        if self.corrupt + self.zero_length > self.kinetics_train_per_class * self.num_motion:
            raise ValueError(f"corrupt + zero_length ({self.corrupt + self.zero_length}) exceeds the Kinetics train videos")
        return self

    @property
    def hmdb_unused_per_class(self) -> int:
        """Videos per class and split tagged 0 (unused): max(1, round(0.1 · hmdb_per_class))."""
        return max(1, round(0.1 * self.hmdb_per_class))

    @classmethod
    def tiny(cls, **overrides: Any) -> SynthParams:
        """The `SYNTH_TINY` preset (for tests), with ``overrides``."""
        return cls(**{**SYNTH_TINY, **overrides})


class VideoSetParams(Strict):
    root: str
    split_no: Literal[1, 2, 3] = 1


class KineticsParams(Strict):
    root: str
    annotations: str | None = Field(None, description="directory or CSV with the official annotations")
    split: str = "train"
    index: str | None = Field(None, description="index file from `vi2clr data subset` (overrides the CSV)")


class SubsetParams(Strict):
    """`vi2clr data subset` (the `subset` DVC stage): a Kinetics train subset as an index file."""

    num_classes: int | None = Field(None, ge=1, description="classes drawn with the seed; null = all")
    per_class: int | None = Field(None, ge=1, description="videos per class; null = all")
    seed: int = 0
    out: str = Field("data/subsets/kinetics_subset.json", description="its own DVC output, outside "
                     "data.index_dir; point data.kinetics400.index here to pretrain on it")


class ImageSetParams(Strict):
    root: str
    subset_1pct: str | None = None
    subset_10pct: str | None = None


class DataParams(Strict):
    synth: SynthParams = SynthParams()
    kinetics400: KineticsParams = KineticsParams(root="data/synthetic/kinetics400")
    subset: SubsetParams = SubsetParams()
    ucf101: VideoSetParams = VideoSetParams(root="data/synthetic/ucf101")
    hmdb51: VideoSetParams = VideoSetParams(root="data/synthetic/hmdb51")
    imagenet: ImageSetParams = ImageSetParams(root="data/synthetic/imagenet")
    voc2007: ImageSetParams = ImageSetParams(root="data/synthetic/voc2007")
    index_dir: str = "data/index"
    decoder: Literal["decord", "torchcodec", "torchcodec-cuda"] = Field(
        "decord", description="video decoder of pretraining clips; torchcodec needs the OS FFmpeg, "
        "torchcodec-cuda (NVDEC) needs num_workers 0 or spawned workers")
    num_workers: int = Field(2, ge=0)
    decoded_cache_mb: int = Field(1024, ge=0, description="a data set read for many epochs (pretraining, "
                                  "fine-tuning) whose decoded videos all fit in this many MiB is decoded once, "
                                  "in the main process, and kept in memory (0 = never)")
    decoded_store: str | None = Field(
        "data/decoded", description="folder that keeps those decoded videos on disk across processes, so "
        "later pipeline stages load them instead of decoding (null = decode in every process)")
    pin_memory: bool = False
    persistent_workers: bool = False


# ----------------------------------------------------------------------------- model


class EncoderParams(Strict):
    name: str
    kwargs: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in ENCODERS:
            raise ValueError(f"unknown encoder {name!r}; choose one of: {', '.join(sorted(ENCODERS))}")
        return name

    @model_validator(mode="after")
    def _options(self) -> EncoderParams:
        frames = self.kwargs.get("frames", "rgb")
        if frames not in FRAMES:
            raise ValueError(f"kwargs.frames {frames!r}: choose one of {', '.join(FRAMES)}")
        takes = ENCODER_OPTIONS.get(self.name, ())
        for key, value in self.kwargs.items():
            if key == "frames":
                continue
            if key not in takes:
                raise ValueError(f"kwargs.{key}: {self.name} has no such option (options: {', '.join((*takes, 'frames'))})")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"kwargs.{key} {value!r}: must be an integer >= 1")
        return self

    @property
    def label(self) -> str:
        """The encoder as the tables name it: ``tiny3d``, or ``tiny3d on residual frames``."""
        frames = self.kwargs.get("frames", "rgb")
        return self.name if frames == "rgb" else f"{self.name} on {frames} frames"


class ModelParams(Strict):
    """The paper's encoders by default: f_V = S3D, f_I = ResNet-50."""

    video_encoder: EncoderParams = EncoderParams(name="s3d")
    image_encoder: EncoderParams = EncoderParams(name="resnet50")
    proj_dim: int = Field(128, ge=2)
    channels_last: bool | Literal["auto"] = Field(
        "auto", description="encoders in channels_last_3d (video) / channels_last (image) memory format, in "
        "pretraining and evaluation; auto = on CUDA (1.59x samples/s of S3D+ResNet-50 on one H200; no "
        "measurable gain for tiny3d+tiny2d on 2 CPU cores; benchmarks/README.md)")

    def channels_last_on(self, device_type: str) -> bool:
        """Whether the encoders run in channels-last layout on a device of this type (``cuda``, ``cpu``)."""
        return self.channels_last is True or (self.channels_last == "auto" and device_type == "cuda")

    @model_validator(mode="after")
    def _kinds(self) -> ModelParams:
        for field, want in (("video_encoder", "video"), ("image_encoder", "image")):
            name = getattr(self, field).name
            if ENCODERS[name] != want:
                raise ValueError(f"{field}.name {name!r} is an {ENCODERS[name]} encoder, not a {want} one")
        frames = self.image_encoder.kwargs.get("frames", "rgb")
        if frames != "rgb":
            raise ValueError(f"image_encoder.kwargs.frames {frames!r}: only a video encoder takes residual frames")
        return self


# ----------------------------------------------------------------------------- pretrain


class OptimParams(Strict):
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(0.01, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    milestones: list[int] = [100, 200]
    gamma: float = Field(0.1, gt=0, le=1)
    grad_clip: float | None = Field(None, gt=0)


class LossTermParams(Strict):
    enabled: bool = True
    weight: float = Field(1.0, ge=0)


class LossParams(Strict):
    center: LossTermParams = LossTermParams()
    video: LossTermParams = LossTermParams()
    image: LossTermParams = LossTermParams()
    tau: float = Field(TAU, gt=0)
    gather: bool = Field(False, description="gather views across ranks so negatives come from the global batch")
    center_negatives: int | None = Field(None, ge=1, description="sample this many negative centroids when K exceeds it")

    @model_validator(mode="after")
    def _one_term(self) -> LossParams:
        if not (self.center.enabled or self.video.enabled or self.image.enabled):
            raise ValueError("at least one of center/video/image must be enabled")
        return self


class ClusteringParams(Strict):
    method: Literal["finch", "kmeans"] = "finch"
    partition: int = Field(1, ge=0, description="FINCH partition (0 = first, 1 = second as the paper)")
    kmeans_k: int | Literal["finch"] = Field("finch", description='K for K-means, or "finch" = K of the FINCH partition')
    spherical: bool = True
    group_size: int = Field(4, ge=1, description="M: samples of one cluster per batch group")
    warmup_epochs: int = Field(0, ge=0, description="instance discrimination epochs before the first clustering")
    concentration: Literal["pcl", "shared", "pcl_bounded"] = Field(
        "pcl", description="φ of CenterNCE: pcl = Eq. 3 with PCL's φ; shared = τ for all; pcl_bounded = pcl clipped to [τ/r, rτ]")
    concentration_bound: float = Field(2.0, ge=1, description="r of pcl_bounded")
    kmeans_impl: Literal["torch", "sklearn"] = Field(
        "torch", description="torch: on the training device (vi2clr.clustering.kmeans_torch); sklearn: host reference")
    kmeans_n_init: int = Field(3, ge=1, description="K-means restarts; the lowest inertia wins")
    kmeans_max_iter: int = Field(100, ge=1)


class AugmentParams(Strict):
    """Temporally consistent clip augmentation (``ClipAugment``): one draw per clip, applied to the whole clip tensor."""

    crop_scale: tuple[float, float] = (0.3, 1.0)
    ratio: tuple[float, float] = (0.75, 1.3333333333333333)
    flip_p: float = Field(0.5, ge=0, le=1)
    jitter_strength: float = Field(0.5, ge=0, description="ColorJitter (0.8s, 0.8s, 0.8s, 0.2s), SimCLR style")
    jitter_p: float = Field(0.8, ge=0, le=1)
    grayscale_p: float = Field(0.2, ge=0, le=1)
    blur_p: float = Field(0.5, ge=0, le=1)
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_frac: float = Field(0.1, gt=0, le=1)


class BackgroundSwapParams(Strict):
    """Foreground–background merging (FAME; ``vi2clr.data.background``): a training clip's moving
    foreground pasted onto the static background of another video, so a clip pair (and its middle
    frames) cannot be matched by the background they share. Not in the Vi2CLR paper."""

    p: float = Field(0.0, ge=0, le=1, description="probability per training clip; 0 = off (the paper)")
    foreground_fraction: float = Field(0.15, gt=0, lt=1, description="largest share of a clip's pixels kept as foreground")


class CurveParams(Strict):
    """Learning curve (``vi2clr.train.curves``): a frozen k-NN probe on a fixed validation subset."""

    every: int = Field(10, ge=0, description="probe after every K-th epoch (and the last); 0 = off")
    split: str = Field("val", description="Kinetics split the probe reads (never a test split)")
    videos: int = Field(200, ge=10, description="size of the fixed probe subset")
    k: int = Field(10, ge=1, description="neighbours of the k-NN classifier")


class PretrainParams(Strict):
    out_dir: str = "runs/pretrain/full"
    epochs: int = Field(300, ge=1)
    batch_size: int = Field(64, ge=2, description="per process")
    num_frames: int = Field(32, ge=1)
    stride: int = Field(1, ge=1)
    size: int = Field(128, ge=16)
    optim: OptimParams = OptimParams()
    loss: LossParams = LossParams()
    clustering: ClusteringParams = ClusteringParams()
    augment: AugmentParams = AugmentParams()
    background_swap: BackgroundSwapParams = BackgroundSwapParams()
    amp: Literal["none", "bf16", "fp16"] = "bf16"
    compile: bool = Field(False, description="torch.compile the model (long first step; CUDA)")
    sync_bn: bool | Literal["auto"] = Field("auto", description="SyncBatchNorm (CUDA); auto = on when world size > 1")
    dist_timeout_min: float = Field(60.0, gt=0, description="process-group timeout; must cover rank 0's clustering")
    seed: int = 0
    deterministic: bool = True
    max_nonfinite: int = Field(5, ge=1, description="stop after this many non-finite losses in a row")
    keep_every: int = Field(0, ge=0, description="also keep every K-th epoch's checkpoint (0 = last only)")
    keep_epochs: list[int] = Field([50, 100, 200], description="epochs whose encoders are exported for evaluation "
                                   "(the paper's Table 1 columns)")
    log_every: int = Field(10, ge=1)
    progress: bool = Field(True, description="show a progress bar per epoch (rank 0)")
    curve: CurveParams = CurveParams()
    tags: dict[str, str] = Field({}, description="extra MLflow tags, e.g. table/row of an ablation run")


# ----------------------------------------------------------------------------- eval


class LinearEvalParams(Strict):
    epochs: int = Field(100, ge=1)
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    milestones: list[int] = [60, 80]
    batch_size: int = Field(256, ge=1)
    augment: bool = Field(True, description="random-resized-crop + flip; off = fast path on cached features")


class FinetuneParams(Strict):
    epochs: int = Field(20, ge=1)
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    milestones: list[int] = [12, 16]
    batch_size: int = Field(64, ge=1)


class SemisupParams(FinetuneParams):
    """Table 4 fine-tuning with SwAV's eval_semisup recipe: the new linear head learns at lr × head_lr_mult
    (per label fraction), and every lr decays × gamma at the milestones."""

    head_lr_mult: dict[Literal["pct1", "pct10"], float] = Field(
        {"pct1": 250.0, "pct10": 20.0}, description="head lr = lr × this, per label fraction (SwAV: 250 at 1 %, 20 at 10 %)")
    gamma: float = Field(0.2, gt=0, le=1, description="lr decay factor at each milestone (SwAV eval_semisup: 0.2)")

    @field_validator("head_lr_mult")
    @classmethod
    def _both_fractions(cls, v: dict[str, float]) -> dict[str, float]:
        missing = {"pct1", "pct10"} - set(v)
        if missing:
            raise ValueError(f"needs a multiplier for {', '.join(sorted(missing))}")
        if any(m <= 0 for m in v.values()):
            raise ValueError("multipliers must be > 0")
        return v


class SvmParams(Strict):
    costs: list[float] = [0.01, 0.1, 1.0, 10.0, 100.0]
    cv_folds: int = Field(3, ge=2)
    pos_weight: float = Field(2.0, gt=0)
    fewshot_ks: list[int] = [1, 2, 4, 8, 16]
    fewshot_samples: int = Field(5, ge=1)


class RetrievalParams(Strict):
    ks: list[int] = [1, 5, 10, 20, 50]
    window_stride: int = Field(16, ge=1)


class VideoClsParams(Strict):
    datasets: list[Literal["ucf101", "hmdb51", "kinetics400"]] = ["ucf101", "hmdb51"]
    test_clips: int = Field(5, ge=1)
    linear: LinearEvalParams = LinearEvalParams()
    finetune: FinetuneParams = FinetuneParams()


class EvalParams(Strict):
    size: int = Field(128, ge=16, description="image side for 2D protocols")
    video_size: int = Field(128, ge=16)
    num_frames: int = Field(32, ge=1)
    stride: int = Field(2, ge=1, description="temporal stride of evaluation clips (frames); the pretraining stride")
    batch_size: int = Field(64, ge=1, description="feature extraction batch")
    linear: LinearEvalParams = LinearEvalParams()
    svm: SvmParams = SvmParams()
    semisup: SemisupParams = SemisupParams()
    retrieval: RetrievalParams = RetrievalParams()
    video: VideoClsParams = VideoClsParams()
    table1_epochs: dict[Literal["epoch_50", "epoch_100", "epoch_200"], int] = Field(
        {}, description="our pretraining epoch standing for each Table 1 column (same fraction of the schedule)")
    feature_cache: str = "features"
    out_dir: str = "runs/eval"
    seed: int = 0


Protocol = Literal["image-linear", "voc-svm", "voc-fewshot", "semisup", "retrieval", "video-linear",
                   "video-finetune", "table1", "probe"]


class EvalSuiteParams(Strict):
    """The protocols run on one pretraining (a dvc.yaml ``foreach`` entry) and the paper rows it fills."""

    encoders: str | None = Field(..., description="folder with video_encoder.pt / image_encoder.pt; null = random init")
    rows: dict[Literal["table1", "table2", "table3", "table4", "table5", "table6", "table7"], str] = {}
    protocols: list[Protocol] = []


class TrackingParams(Strict):
    experiment: str = "vi2clr"
    uri: str | None = Field(None, description="overrides MLFLOW_TRACKING_URI; default sqlite file in the project root")
    log_models: bool = Field(True, description="log the exported encoders as MLflow models and register them "
                             "(vi2clr-video-encoder, vi2clr-image-encoder)")


class SeedsParams(Strict):
    """Seeds of the main pipeline (dvc.yaml ``matrix``): every pretrained row is pretrained once per
    ``pretrain`` seed; the random-init baseline is initialised once per ``random_init`` seed."""

    pretrain: list[int] = Field([0], min_length=1)
    random_init: list[int] = Field([0], min_length=1)


class ComputeParams(Strict):
    """How each process uses the CPU.

    ``threads``: torch's intra-op threads in every pretraining and evaluation process (None = torch's
    default, one per core). A float sum split over another number of threads adds in another order,
    so the weights, and every number after them, depend on it: a fixed count gives the same numbers
    on any machine. ``seed_jobs``: how many seeds of one row ``vi2clr seeds`` runs at once (seeds are
    independent runs; it changes no number)."""

    threads: int | None = Field(None, ge=1, description="torch intra-op threads per process; null = one per core")
    seed_jobs: int = Field(1, ge=1, description="seeds of one row run side by side by `vi2clr seeds`")


class Params(Strict):
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    pretrain: PretrainParams = PretrainParams()
    eval: EvalParams = EvalParams()
    tracking: TrackingParams = TrackingParams()
    ablations: dict[str, dict[str, Any]] = Field(
        {}, description="named pretrain variants: partial params trees merged over this file (Tables 1 and 6)"
    )
    eval_suites: dict[str, EvalSuiteParams] = Field({}, description="protocols per pretraining (dvc.yaml foreach)")
    eval_random: EvalSuiteParams = Field(EvalSuiteParams(encoders=None), description="random-init baseline suite")
    seeds: SeedsParams = SeedsParams()
    compute: ComputeParams = ComputeParams()

    def digest(self) -> str:
        """sha256 of the canonical JSON of all these params."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def training_digest(self) -> str:
        """sha256 of what changes training (the resume guard): ``model``, the training set's
        ``data.kinetics400``, ``compute.threads`` and ``pretrain.*`` except :data:`RESUME_FREE` (where
        output goes, how it is logged, and how many epochs to run, so a resumed run may be extended)."""
        pre = self.pretrain.model_dump(mode="json")
        for key in RESUME_FREE:
            pre.pop(key)
        tree = {"model": self.model.model_dump(mode="json"),
                "data.kinetics400": self.data.kinetics400.model_dump(mode="json"), "pretrain": pre,
                "compute.threads": self.compute.threads}
        return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()


RESUME_FREE = ("out_dir", "epochs", "log_every", "progress", "curve", "tags", "keep_every", "keep_epochs")
"""``pretrain.*`` keys a resumed run may change (they do not change the weights of an epoch)."""


# ----------------------------------------------------------------------------- loading


class ParamsError(UserError, ValueError):
    """Invalid params; ``lines`` holds one ``key.path: problem`` line per error (exit code 2)."""

    exit_code = 2

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"pretrain.optim.lr=0.001"`` → (["pretrain", "optim", "lr"], 0.001), the value typed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ParamsError([f"-S {text!r}: expected key.path=value"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ParamsError([f"{key}: value {raw!r} is not valid YAML ({exc.__class__.__name__})"]) from None
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``key.path=value`` set (intermediate dicts created)."""
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ParamsError([f"{'.'.join(path[: i + 1])}: is a value, cannot set {'.'.join(path)}"])
            node = child
        node[path[-1]] = value
    return out


def validate(raw: dict[str, Any]) -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{loc}: {msg}")
        raise ParamsError(lines) from None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ParamsError([f"{path}: cannot read params file ({exc.strerror})"]) from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ParamsError([f"{path}:{where} invalid YAML"]) from None
    if not isinstance(raw, dict):
        raise ParamsError([f"{path}: top level must be a mapping of blocks"])
    return raw


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``update`` merged in: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(path: Path | str | None = "params.yaml", overrides: list[str] | None = None,
                ablation: str | None = None) -> Params:
    """Read ``path`` (missing default file → all defaults), merge an ablation row, then ``-S`` overrides.

    The ablation row ``ablations.<name>`` is a partial params tree merged over the file (so
    ``dvc exp run -S ablations.<name>.pretrain.seed=1`` edits one row), before the command-line
    overrides so ``-S`` always wins.
    """
    base: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if p.exists() or str(path) != "params.yaml":
            base = read_yaml(p)
    rows = base.get("ablations") or {}
    if ablation is not None:
        if ablation not in rows:
            raise ParamsError([f"ablations.{ablation}: no such row (have: {', '.join(sorted(rows)) or 'none'})"])
        if not isinstance(rows[ablation] or {}, dict):
            raise ParamsError([f"ablations.{ablation}: must be a mapping of params blocks"])
    overrides = list(overrides or [])
    params = validate(apply_overrides(deep_merge(base, rows.get(ablation) or {}) if ablation else base, overrides))
    # Every ablation row must also give valid params, so a typo in a row fails before any work.
    for name, row in rows.items():
        if name != ablation and isinstance(row, dict):
            try:
                validate(deep_merge(base, row))
            except ParamsError as exc:
                raise ParamsError([f"ablations.{name}: {line}" for line in exc.lines]) from None
    return params


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists stay values)."""
    if isinstance(tree, BaseModel):
        tree = tree.model_dump(mode="json")
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out
