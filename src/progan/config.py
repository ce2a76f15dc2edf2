"""Typed configuration: one dataclass per concern, presets as data, validation in one place.

Defaults follow Karras et al. 2018 and the authors' TF release (tkarras/progressive_growing_of_gans,
``master``), whose code is the default where it and the paper differ; BigGAN options follow Brock et al.
2019 and the authors' BigGAN-PyTorch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from progan.augment_names import parse_pipeline, parse_policy
from progan.errors import UserError


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise UserError(message)


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


@dataclass
class NetworkConfig:
    """Architecture of the progressive G and D (ProGAN paper, Sec. 2-4 and App. A)."""

    resolution: int = 32            # final output resolution, power of two, 4..1024
    channels: int = 3               # image channels (1 gray, 3 RGB, or any N)
    num_classes: int = 0            # 0 = unconditional
    latent_size: int = 512          # z dimension
    fmap_base: int = 8192           # nf(s) = min(fmap_base / 2**(s*fmap_decay), fmap_max)
    fmap_decay: float = 1.0
    fmap_max: int = 512
    equalized_lr: bool = True       # run-time weight scaling by He's constant (Sec. 4.1)
    pixelnorm: bool = True          # pixelwise feature normalisation in G (Sec. 4.2)
    normalize_latents: bool = True  # pixel-normalise z before the first layer
    # Minibatch stddev group (Sec. 3; TF release: 4); a group is min(this, minibatch), so 16 spans the
    # paper's whole minibatch; 0 disables.
    mbstd_group_size: int = 4
    mbstd_num_features: int = 1
    # D's downsampling conv, named after the TF release's ``fused_scale`` (``D_paper``); only D's math
    # changes: in G the release's fused transposed conv equals nearest-up + 3x3 conv, which progan runs
    # for both values. True: the TF release's default (master ``networks.py``, ``Conv1_down``): conv ->
    # 2x2 average -> bias -> leaky ReLU. False: the Theano release's (branch ``original-theano-version``,
    # which made the paper's tables), the paper's Table 2 and the TF release's non-fused path
    # (``Conv1``; its ``legacy.py`` imports Theano networks this way): conv -> bias -> leaky ReLU -> average.
    fused_scale: bool = True
    conditioning: str = "none"      # "none" | "acgan" (D predicts labels) | "projection" (Miyato & Koyama D)
    # BigGAN options (Brock et al. 2019). Spectral norm and equalized lr are alternatives: the progan
    # architecture rejects both at once; the biggan architecture ignores equalized_lr, pixelnorm,
    # mbstd_*, fmap_* and fused_scale (its widths come from biggan_ch) but honours normalize_latents (false in
    # its presets).
    architecture: str = "progan"    # "progan" (progressive growing) | "biggan" (residual blocks, no growing)
    g_norm: str = "auto"            # G's normalisation: "pixel" | "cbn" (conditional BN); auto: pixel for
                                    # progan, cbn for biggan. Labels reach a pixel-norm G as a one-hot, a
                                    # cbn G through a shared embedding
    shared_dim: int = 128           # shared class embedding of a cbn G (BigGAN: 128)
    hierarchical_z: bool = False    # split z into equal chunks: input layer + one per block (cbn G only)
    spectral_norm: str = "none"     # "none" | "g" | "d" | "both": 1 power iteration per training forward
    attention: list[int] = field(default_factory=list)  # resolutions with a self-attention block (G and D)
    ortho_init: bool = False        # orthogonal init of conv/linear/embedding weights (no equalized lr)
    biggan_ch: int = 64             # biggan channel multiplier (BigGAN: 96 at 128x128)

    def validate(self) -> None:
        _check(is_power_of_two(self.resolution) and 4 <= self.resolution <= 1024,
               f"resolution must be a power of two in 4..1024, got {self.resolution}")
        _check(self.channels >= 1, f"channels must be >= 1, got {self.channels}")
        _check(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        _check(self.latent_size >= 1, f"latent_size must be >= 1, got {self.latent_size}")
        _check(self.fmap_base >= 1 and self.fmap_max >= 1, "fmap_base and fmap_max must be >= 1")
        _check(self.fmap_decay >= 0, f"fmap_decay must be >= 0, got {self.fmap_decay}")
        _check(self.mbstd_group_size >= 0,
               f"mbstd_group_size must be >= 0 (0 disables), got {self.mbstd_group_size}")
        _check(self.mbstd_num_features >= 1, "mbstd_num_features must be >= 1")
        _check(isinstance(self.fused_scale, bool),
               f"fused_scale must be true or false, got {self.fused_scale!r}")
        _check(self.conditioning in ("none", "acgan", "projection"),
               f"conditioning must be 'none', 'acgan' or 'projection', got {self.conditioning!r}")
        _check(self.conditioning == "none" or self.num_classes > 0,
               "conditioning needs labels: num_classes must be > 0 (prepare the data set with --labels)")
        self._validate_biggan_options()

    def _validate_biggan_options(self) -> None:
        _check(self.architecture in ("progan", "biggan"),
               f"architecture must be 'progan' or 'biggan', got {self.architecture!r}")
        _check(self.g_norm in ("auto", "pixel", "cbn"),
               f"g_norm must be auto, pixel or cbn, got {self.g_norm!r}")
        _check(self.spectral_norm in ("none", "g", "d", "both"),
               f"spectral_norm must be none, g, d or both, got {self.spectral_norm!r}")
        _check(self.shared_dim >= 1, f"shared_dim must be >= 1, got {self.shared_dim}")
        _check(self.biggan_ch >= 1, f"biggan_ch must be >= 1, got {self.biggan_ch}")
        for r in self.attention:
            _check(is_power_of_two(r) and 8 <= r <= self.resolution,
                   f"attention resolutions must be powers of two in 8..{self.resolution}, got {r}")
        if self.architecture == "biggan":
            _check(self.resolution in (16, 32, 64, 128, 256),
                   f"the biggan architecture makes 16, 32, 64, 128 or 256 pixels, got {self.resolution}")
            _check(self.g_norm in ("auto", "cbn"),
                   "the biggan architecture normalises G with cbn; set g_norm=auto")
        else:
            _check(self.spectral_norm == "none" or not self.equalized_lr,
                   "spectral_norm and equalized_lr are alternatives: "
                   "set network.equalized_lr=false to use SN")
            _check(not self.ortho_init or not self.equalized_lr,
                   "ortho_init needs network.equalized_lr=false (equalized layers store N(0, 1) weights)")
            _check(not self.hierarchical_z or self.resolved_g_norm == "cbn",
                   "hierarchical_z needs conditional BN in G: set network.g_norm=cbn")
        if self.hierarchical_z:
            _check(self.latent_size % self.num_z_chunks == 0,
                   f"hierarchical_z splits latent_size {self.latent_size} into {self.num_z_chunks} equal "
                   f"chunks; use a multiple of {self.num_z_chunks}")

    @property
    def resolved_g_norm(self) -> str:
        """``g_norm`` with ``auto`` resolved: cbn for biggan, pixel for progan."""
        if self.g_norm != "auto":
            return self.g_norm
        return "cbn" if self.architecture == "biggan" else "pixel"

    @property
    def num_z_chunks(self) -> int:
        """Chunks of a hierarchical z: one for the input layer and one per G block with norms (biggan:
        the up-blocks 8..resolution; progan: the 4x4 block too)."""
        return self.resolution_log2 - (1 if self.architecture == "biggan" else 0)

    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    def nf(self, stage: int) -> int:
        """Feature maps at stage ``stage`` (stage 1 = 4x4 block), as ``nf()`` in the TF release."""
        return min(int(self.fmap_base / (2.0 ** (stage * self.fmap_decay))), self.fmap_max)


@dataclass
class LossConfig:
    """GAN objective. Default: WGAN-GP with drift, as the ProGAN paper (Sec. A.1)."""

    kind: str = "wgan-gp"           # "wgan-gp" | "minimax" | "non-saturating" | "lsgan" | "hinge"
    gp_lambda: float = 10.0         # gradient penalty weight (wgan-gp)
    gp_gamma: float = 1.0           # gradient penalty target norm (750 for CIFAR-10)
    drift: float = 0.001            # epsilon_drift * D(real)^2
    r1_gamma: float = 0.0           # optional R1 penalty on reals (0 disables)
    # Which images the GP / R1 gradient is taken with respect to. "full": the full-resolution images the
    # authors' releases feed D at every lod (TF loss.py, Theano train.py), i.e. the working-resolution
    # gradient norm divided by 2**floor(lod). "working": the images D sees at the current level, which
    # makes early phases' target effectively 2**floor(lod) times smaller and their weight larger.
    gp_scale: str = "full"
    acgan_weight: float = 1.0       # weight of the AC-GAN label cross-entropy
    ortho_reg: float = 0.0          # BigGAN's off-diagonal orthogonal regularisation of G (1e-4 there; 0 off)
    # "code": BigGAN-PyTorch utils.ortho, which adds 2*beta*(W W^T * (1-I)) W to the gradient; "paper": the
    # gradient of the paper's eq. 3, beta*||W W^T * (1-I)||_F^2, i.e. 4*beta*(...)W (twice the code's).
    ortho_form: str = "code"

    KINDS = ("wgan-gp", "minimax", "non-saturating", "lsgan", "hinge")

    def validate(self) -> None:
        _check(self.kind in self.KINDS, f"loss must be one of {', '.join(self.KINDS)}, got {self.kind!r}")
        for name in ("gp_lambda", "drift", "r1_gamma", "acgan_weight", "ortho_reg"):
            _check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        _check(self.gp_gamma > 0, f"gp_gamma must be > 0, got {self.gp_gamma}")
        _check(self.gp_scale in ("full", "working"),
               f"gp_scale must be 'full' or 'working', got {self.gp_scale!r}")
        _check(self.ortho_form in ("code", "paper"),
               f"ortho_form must be 'code' or 'paper', got {self.ortho_form!r}")


# Kimg per tick of the TF release (``TrainingSchedule.tick_kimg_dict``): shorter ticks at higher resolutions.
TF_TICK_KIMG: dict[int, float] = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 20,
                                  1024: 10}


@dataclass
class ScheduleConfig:
    """Progressive-growing schedule in kimg; defaults are those of ``TrainingSchedule`` in the TF release's
    ``train.py`` (the presets in :mod:`progan.presets` set the rest of each recipe)."""

    initial_resolution: int = 4
    lod_training_kimg: float = 600.0     # stable phase per resolution (paper: 800)
    lod_transition_kimg: float = 600.0   # fade-in phase per resolution (paper: 800)
    # Per-resolution overrides of the two (a budgeted run's plan fills them): the level of resolution r fades
    # in for transition_kimg[r] and then trains stable for training_kimg[r] (the last level until the end).
    training_kimg: dict[int, float] = field(default_factory=dict)
    transition_kimg: dict[int, float] = field(default_factory=dict)
    total_kimg: float = 15000.0
    minibatch_base: int = 16             # global minibatch where ``minibatch`` has no entry
    minibatch: dict[int, int] = field(default_factory=dict)
    lr_base: float = 0.001               # G and D (paper Sec. A.1)
    # G's rate where g_lr has no entry (0: lr_base); BigGAN: G 5e-5, D 2e-4
    g_lr_base: float = 0.0
    d_lr_base: float = 0.0               # D's rate where d_lr has no entry (0: lr_base)
    g_lr: dict[int, float] = field(default_factory=dict)
    d_lr: dict[int, float] = field(default_factory=dict)
    # Learning-rate ramp-up of the Theano release (misc.rampup): rate * exp(-5 (1 - kimg / rampup)^2) for
    # kimg < rampup; its config.py uses 40 kimg. The TF release has none (0).
    lr_rampup_kimg: float = 0.0
    # The TF release evaluates the schedule (lod, minibatch, rates, Adam reset, end of tick) once every
    # ``minibatch_repeats`` minibatches (its train.py default: 4); the Theano release every minibatch (1).
    minibatch_repeats: int = 4
    tick_kimg_base: float = 160.0
    tick_kimg: dict[int, float] = field(default_factory=lambda: dict(TF_TICK_KIMG))

    def validate(self, resolution: int) -> None:
        _check(is_power_of_two(self.initial_resolution) and 4 <= self.initial_resolution <= resolution,
               f"initial_resolution must be a power of two in 4..{resolution}, got {self.initial_resolution}")
        _check(self.lod_training_kimg >= 0 and self.lod_transition_kimg >= 0, "lod_*_kimg must be >= 0")
        _check(self.total_kimg > 0, f"total kimg must be > 0, got {self.total_kimg}")
        _check(self.minibatch_base >= 1, "minibatch_base must be >= 1")
        for table in ("minibatch", "g_lr", "d_lr", "tick_kimg", "training_kimg", "transition_kimg"):
            for res, value in getattr(self, table).items():
                _check(is_power_of_two(res), f"{table} keys must be powers of two, got {res}")
                positive = table not in ("training_kimg", "transition_kimg")
                _check(value > 0 if positive else value >= 0,
                       f"{table}[{res}] must be {'> 0' if positive else '>= 0'}, got {value}")
        _check(self.lr_base > 0, f"lr_base must be > 0, got {self.lr_base}")
        _check(self.g_lr_base >= 0 and self.d_lr_base >= 0,
               "g_lr_base and d_lr_base must be >= 0 (0: lr_base)")
        _check(self.lr_rampup_kimg >= 0, "lr_rampup_kimg must be >= 0")
        _check(self.minibatch_repeats >= 1, f"minibatch_repeats must be >= 1, got {self.minibatch_repeats}")
        _check(self.tick_kimg_base > 0, "tick_kimg_base must be > 0")


@dataclass
class OptimConfig:
    """Adam, EMA of G and step control (paper Sec. A.1; TF release)."""

    beta1: float = 0.0
    beta2: float = 0.99
    eps: float = 1e-8
    reset_on_lod_change: bool = True     # both releases reset Adam state at each lod change
    ema_beta: float = 0.999              # G weight average; continuous across growth (0 disables)
    # When G_ema follows G. "d_step": the TF release (train.py runs Gs_update_op with every D step, i.e.
    # from G as it was before that iteration's G step, ema_beta per D step). "g_step": BigGAN-PyTorch
    # (ema.update once after each G step, ema_beta per G step).
    ema_update: str = "d_step"
    ema_start_kimg: float = 0.0          # before this, G_ema simply copies G (BigGAN's EMA start)
    d_steps: int = 1                     # D steps per G step
    # The Theano release's separate_funcs=False (its CIFAR-10 run): one function updates G and D at once
    # from the same fakes, each from the other's weights before the step (needs d_steps=1).
    joint_step: bool = False
    max_consecutive_skips: int = 20      # non-finite steps in a row before training stops

    def validate(self) -> None:
        _check(0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0, "Adam betas must be in [0, 1)")
        _check(self.eps > 0, "Adam eps must be > 0")
        _check(0.0 <= self.ema_beta < 1.0, f"ema_beta must be in [0, 1), got {self.ema_beta}")
        _check(self.ema_start_kimg >= 0, "ema_start_kimg must be >= 0")
        _check(self.d_steps >= 1, f"d_steps must be >= 1, got {self.d_steps}")
        _check(self.ema_update in ("d_step", "g_step"),
               f"ema_update must be 'd_step' or 'g_step', got {self.ema_update!r}")
        _check(not self.joint_step or self.d_steps == 1,
               "joint_step updates G and D together: set optim.d_steps=1")
        _check(self.max_consecutive_skips >= 1, "max_consecutive_skips must be >= 1")


@dataclass
class RunConfig:
    """Where the data comes from, where results go, and how often they are written."""

    data: str | None = None              # prepared data set or image source; None = Fashion-MNIST demo
    outdir: str = "runs"
    seed: int = 0
    device: str = "auto"                 # "auto" | "cpu" | "cuda" | "cuda:N"
    mirror: bool = False                 # random horizontal flips of the reals
    snap: int = 10                       # ticks between network snapshots
    image_snap: int = 1                  # ticks between fakes grids
    grid_size: int = 0                   # images in the fakes grid (0: automatic)
    metrics: list[str] = field(default_factory=list)
    metrics_every: int = 0               # ticks between metric evaluations (0: at snapshots)
    metrics_num: int = 2048              # generated images per metric evaluation
    resume: str | None = None            # None | "latest" | path to a checkpoint or run folder
    init_from: str | None = None         # fine-tuning: G, D, G_ema weights of a snapshot; a new run at kimg 0
    # hard stop: a snapshot at the first tick past this many minutes; 0 = none
    max_minutes: float = 0.0
    # A budget that plans the run (progan.training.budget): the schedule's kimg per level are scaled to the
    # measured speed of each level so that the run reaches the final resolution, spends final_share of the
    # budget there and ends on time. 0 = train the schedule's kimg as given.
    minutes: float = 0.0
    final_share: float = 0.5
    replan: bool = True                  # re-plan the levels ahead at the speed measured so far, every tick
    # seconds per kimg by level, measured at start
    plan_speeds: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        _check(self.snap >= 1, f"snap must be >= 1, got {self.snap}")
        _check(self.image_snap >= 1, f"image_snap must be >= 1, got {self.image_snap}")
        _check(self.grid_size >= 0, "grid_size must be >= 0")
        _check(self.metrics_every >= 0, "metrics_every must be >= 0")
        _check(self.metrics_num >= 2, "metrics_num must be >= 2")
        _check(self.max_minutes >= 0, "max_minutes must be >= 0 (0: no limit)")
        _check(self.minutes >= 0, f"minutes must be >= 0 (0: no budget), got {self.minutes}")
        _check(0.05 <= self.final_share <= 0.95,
               f"final_share must be in [0.05, 0.95], got {self.final_share}")
        _check(not (self.init_from and self.resume),
               "init_from starts a new run and resume continues one: pick one")
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
               f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")


@dataclass
class ComputeConfig:
    """How the step is computed. Processes, batch_per_device, channels_last, compile, sync_bn and
    deterministic give the plain run's result to float rounding (except batch_per_device with batch norm
    in G, which ``progan train`` warns about); precision and tf32 round more coarsely by choice. README,
    "Speed and scale", lists each with the test that shows it."""

    # "fp32" | "bf16" | "fp16" (autocast; GP and reductions in fp32) | "auto" (the fastest measured here);
    # bf16/fp16 are refused where this CPU computes them slower than fp32.
    precision: str = "fp32"
    # false: accept a bf16/fp16 this CPU computes slower than fp32 (tests)
    check_precision: bool = True
    # Gather the next real minibatch in a background thread while the step runs: "auto" does it for data of
    # 128 pixels and more, where gathering costs milliseconds (benchmarks/bench_data.py); small images are
    # gathered faster than a thread hand-off. Batches are the same either way.
    prefetch: str = "auto"               # "auto" | "on" | "off"
    batch_per_device: int = 0            # micro-batch for gradient accumulation (0: the whole per-rank batch)
    channels_last: bool = False          # NHWC memory format (faster convolutions on recent GPUs)
    compile: bool = False                # torch.compile G and D, falling back to eager if it fails
    sync_bn: bool = True                 # batch-norm statistics over every process's batch (cross-replica BN)
    # TF32 matmuls/convolutions on Ampere+ GPUs (10-bit mantissa products)
    tf32: bool = False
    # let cuDNN time and pick convolution algorithms (not bitwise resumable)
    cudnn_benchmark: bool = False
    deterministic: bool = False          # torch's deterministic algorithms: bitwise resume on GPUs too
    dist_timeout_s: int = 1800           # a rank silent this long stops the whole job
    threads: int = 0                     # CPU threads for torch (0: every core other processes leave free)

    PRECISIONS = ("fp32", "bf16", "fp16", "auto")

    def validate(self) -> None:
        _check(self.precision in self.PRECISIONS,
               f"precision must be one of {', '.join(self.PRECISIONS)}, got {self.precision!r}")
        _check(self.batch_per_device >= 0, "batch_per_device must be >= 0 (0: no accumulation)")
        _check(self.dist_timeout_s >= 1, "dist_timeout_s must be >= 1")
        _check(self.threads >= 0, "threads must be >= 0 (0: follow the machine's load)")
        _check(self.prefetch in ("auto", "on", "off"),
               f"prefetch must be auto, on or off, got {self.prefetch!r}")
        _check(not (self.deterministic and self.cudnn_benchmark),
               "deterministic and cudnn_benchmark exclude each other: cuDNN's timed choice of algorithms "
               "is not reproducible")


@dataclass
class AugmentConfig:
    """Augmentation of every image D sees, for small data sets: ADA (Karras et al. 2020) or DiffAugment
    (Zhao et al. 2020). See ``progan.augment``."""

    kind: str = "none"                   # "none" | "ada" | "diffaug"
    p: float = 0.0                       # ADA: initial probability (adaptive) or the fixed one (target 0)
    target: float = 0.6                  # ADA: r_t = E[sign D(reals)] is steered to this; 0 = fixed p
    speed_kimg: float = 500.0            # ADA: p can move by 1 in this many images (thousands)
    interval: int = 4                    # ADA: D minibatches between p updates
    pipeline: str = "bgc"                # ADA: groups (blit, geom, color, filter, noise, cutout, bg, bgc,
                                         # bgcf, bgcfn, bgcfnc) and/or operations, comma-separated
    policy: str = "color,translation,cutout"  # DiffAugment policies, comma-separated

    KINDS = ("none", "ada", "diffaug")

    def validate(self) -> None:
        _check(self.kind in self.KINDS,
               f"augment.kind must be one of {', '.join(self.KINDS)}, got {self.kind!r}")
        _check(0.0 <= self.p <= 1.0, f"augment.p must be in [0, 1], got {self.p}")
        _check(0.0 <= self.target < 1.0, f"augment.target must be in [0, 1) (0: fixed p), got {self.target}")
        _check(self.speed_kimg > 0, f"augment.speed_kimg must be > 0, got {self.speed_kimg}")
        _check(self.interval >= 1, f"augment.interval must be >= 1, got {self.interval}")
        try:
            parse_pipeline(self.pipeline)
            parse_policy(self.policy)
        except ValueError as e:
            raise UserError(f"augment: {e}") from None

    @property
    def ada_ops(self) -> tuple[str, ...]:
        return parse_pipeline(self.pipeline)

    @property
    def adaptive(self) -> bool:
        return self.kind == "ada" and self.target > 0


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as ``training_options.json`` in the run folder."""

    preset: str = "custom"
    network: NetworkConfig = field(default_factory=NetworkConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        self.network.validate()
        self.loss.validate()
        self.schedule.validate(self.network.resolution)
        _check(self.network.architecture != "biggan"
               or self.schedule.lod_training_kimg + self.schedule.lod_transition_kimg == 0,
               "the biggan architecture does not grow: set schedule.lod_training_kimg=0 and "
               "schedule.lod_transition_kimg=0")
        self.optim.validate()
        self.run.validate()
        self.compute.validate()
        self.augment.validate()
        # ADA's r_t needs D's decision boundary at a known place; WGAN's critic has none (its drift term
        # merely centres D(real) at 0, so E[sign D(real)] does not measure overfitting).
        _check(not self.augment.adaptive or self.loss.kind != "wgan-gp",
               "adaptive ADA (augment.target > 0) needs a loss with a decision boundary: use --loss "
               "non-saturating (with loss.r1_gamma) or hinge, or a fixed p with augment.target=0")
        _check(self.augment.kind != "ada" or self.network.channels in (1, 3)
               or not set(self.augment.ada_ops) & {"brightness", "contrast", "lumaflip", "hue", "saturation"},
               f"ADA's colour operations need 1 or 3 channels, the data has {self.network.channels}; "
               "leave them out of augment.pipeline (e.g. bg)")
