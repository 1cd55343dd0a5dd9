"""Suite specs: model sizes × token-per-parameter ratios, and the shipped presets.

Presets (ratios are tokens per *total* parameter, see :mod:`retscale.flops`):

* ``smoke`` — two ~24k/71k-parameter models, ratios 0.5 and 1; seconds; for the tests.
* ``mini`` — the default study's suite: 3 sizes (105k, 166k, 320k params) × ratios 1, 2, 4 = 9 checkpoints,
  sized so the whole study fits in 20 minutes on a 2-core CPU (its pretraining takes about 75 s there). That budget
  only allows ratios 1–4, far below the paper's 20–10,000: the mini suite exercises the pipeline and the FLOPs axis,
  not the paper's regime.
* ``full`` — the reference suite (issue 11; docs/results/EXPERIMENTS.md): vocabulary 4,096, batch 64 × 128, three
  widths (d64, d128, d192; 0.36M, 0.93M, 1.67M params) at 20 tokens/param, and the smallest also at 50, 100 and 210
  (one decade of D on one WSD trunk; 210, not 200, because whole steps make 20 → 200 a factor 9.998). Every checkpoint is at ≥ 20 tokens/param, as the paper's are. The duration
  axis sits on the smallest size because a trunk costs its longest budget: d64 to 210 tokens/param is ~65 minutes
  in session 4's ``--plan`` estimate (83 measured on a shared CPU), d128 would have been ~3 hours. With the blocked
  LM-head loss (``retscale.pretrain.loss``) and ``compile`` on (this preset; EXPERIMENTS.md §9, §13), d64, whose
  LM head dominates, runs at 40–43% MFU, d128 at 52–54%, d192 at 59–61% (eager: d64 35–37%).
  ``retscale pretrain --plan full`` prints the estimate (about an hour of pretraining on an idle CPU today).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from retscale.errors import UserError
from retscale.flops import DecoderShape, flops_6nd, flops_full, param_counts
from retscale.pretrain.corpus import CorpusSpec
from retscale.pretrain.model import SizeSpec
from retscale.pretrain.schedule import WsdSchedule

CONTROL_SUFFIX = "-init"


def control_name(size: str) -> str:
    """The name of a size's random-init control checkpoint (``retscale.pretrain.control``)."""
    return f"{size}{CONTROL_SUFFIX}"


@dataclass(frozen=True)
class PlannedCheckpoint:
    """One (size, ratio) checkpoint a suite will train (before it exists): its step budget and where its decay
    branch leaves the size's trunk. Once trained, its ``PretrainingRecord`` describes it."""

    name: str
    size: SizeSpec
    ratio: float
    shape: DecoderShape
    n_params: int
    n_params_non_embedding: int
    steps: int
    tokens: int  # steps × tokens per step (≥ ratio × N: budgets round up to whole steps)
    warmup_steps: int
    decay_start: int

    def schedule(self, peak_lr: float) -> WsdSchedule:
        return WsdSchedule(peak_lr=peak_lr, warmup_steps=self.warmup_steps, decay_start=self.decay_start,
                           total_steps=self.steps)

    @property
    def flops_6nd(self) -> float:
        return flops_6nd(self.n_params, self.tokens)

    @property
    def flops_full(self) -> float:
        return flops_full(self.shape, self.tokens)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    sizes: tuple[SizeSpec, ...]
    ratios: tuple[float, ...]
    vocab_size: int = 1024
    seq_len: int = 128
    batch_size: int = 32
    peak_lr: float = 3e-3
    weight_decay: float = 0.1
    warmup_fraction: float = 0.1  # of the size's shortest checkpoint (the warmup is shared by its branches)
    decay_fraction: float = 0.2  # of each checkpoint's steps (Hägele et al.: ~20 % cooldown ≈ cosine)
    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    eval_sequences: int = 256  # held-out windows scored for heldout_loss (same for every checkpoint)
    save_every: int = 50  # steps between resumable training-state saves
    seed: int = 0
    # torch threads while training (None: torch's default, one per core). On an idle 2-core CPU two threads are
    # ~1.6–1.8× faster for the mini sizes, but tiny models are per-op-overhead bound and on a CPU shared with other
    # jobs two spinning OpenMP threads are often 3–10× *slower* than one (measured here): set 1 when sharing.
    # Not part of any cache key (it is a speed setting), though float rounding differs with it.
    threads: int | None = None
    # torch.compile the decoder (fuses RMSNorm, SwiGLU, RoPE): on in `full`, whose d64 it takes from 35–37% to
    # 40–43% MFU (EXPERIMENTS.md §13); off in the small presets (not measured there since §2's +3–11%). A
    # speed setting like threads, in no cache key: d64-r20 trained with it ranks every evaluation query exactly as
    # the committed eager one (§13). Compiled training is not bit-reproducible run to run (eager is): repeats agree
    # to float chaos, not to the bit (§14). Needs a C++ compiler (a one-line error says so).
    compile: bool = False

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    def without_speed_settings(self) -> SuiteSpec:
        """This spec with the settings that change speed or crash granularity but not what is trained (threads,
        compile, save_every) at fixed values: what cache keys and training fingerprints hash."""
        return dataclasses.replace(self, threads=None, compile=False, save_every=0)

    def checkpoints(self) -> list[PlannedCheckpoint]:
        """All checkpoints, size by size and by increasing ratio (the order they are trained in)."""
        out = []
        for size in self.sizes:
            shape = size.shape(self.vocab_size, self.seq_len)
            counts = param_counts(shape)
            ratios = sorted(size.ratios or self.ratios)
            steps = [max(2, math.ceil(r * counts.total / self.tokens_per_step)) for r in ratios]
            warmup = max(1, round(self.warmup_fraction * steps[0]))
            for ratio, n_steps in zip(ratios, steps, strict=True):
                decay_start = max(warmup, n_steps - max(1, round(self.decay_fraction * n_steps)))
                out.append(PlannedCheckpoint(
                    name=f"{size.name}-r{ratio:g}", size=size, ratio=ratio, shape=shape, n_params=counts.total,
                    n_params_non_embedding=counts.non_embedding, steps=n_steps,
                    tokens=n_steps * self.tokens_per_step, warmup_steps=warmup, decay_start=decay_start))
        return out


class SuiteOptions(BaseModel):
    """Overrides of a built-in suite's ``SuiteSpec`` fields (the study's ``checkpoints.suite_options``).

    Sizes, the corpus and the name stay the preset's; unset fields keep the preset's values. ``ratios`` replaces the
    suite's budgets, not those of a size that has its own.
    """

    model_config = ConfigDict(extra="forbid")

    ratios: tuple[float, ...] | None = Field(None, min_length=1)
    vocab_size: int | None = Field(None, ge=2)
    seq_len: int | None = Field(None, ge=2)
    batch_size: int | None = Field(None, ge=1)
    peak_lr: float | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)
    warmup_fraction: float | None = Field(None, ge=0, le=1)
    decay_fraction: float | None = Field(None, ge=0, le=1)
    eval_sequences: int | None = Field(None, ge=1)
    save_every: int | None = Field(None, ge=1)
    seed: int | None = None
    threads: int | None = Field(None, ge=1)
    compile: bool | None = None

    def apply(self, spec: SuiteSpec) -> SuiteSpec:
        """``spec`` with the fields given here replaced (``threads: null`` means torch's default; any other null,
        the preset's value)."""
        given = self.model_dump(exclude_unset=True)
        out = dataclasses.replace(spec, **{k: v for k, v in given.items() if v is not None or k == "threads"})
        if out.vocab_size != out.corpus.vocab_size:  # the tokenizer is trained for the model's vocabulary
            out = dataclasses.replace(out, corpus=dataclasses.replace(out.corpus, vocab_size=out.vocab_size))
        return out


SUITES: dict[str, SuiteSpec] = {
    "smoke": SuiteSpec(
        name="smoke",
        sizes=(SizeSpec("xs", d_model=32, n_layers=1, n_heads=2), SizeSpec("s", d_model=48, n_layers=2, n_heads=4)),
        ratios=(0.5, 1.0), vocab_size=320, seq_len=32, batch_size=16, peak_lr=1e-2, eval_sequences=64,
        save_every=10, threads=1, corpus=CorpusSpec(vocab_size=320, max_chars=1_000_000, tokenizer_chars=1_000_000)),
    "mini": SuiteSpec(
        name="mini",
        sizes=(SizeSpec("d48", d_model=48, n_layers=2, n_heads=4), SizeSpec("d64", d_model=64, n_layers=2, n_heads=4),
               SizeSpec("d80", d_model=80, n_layers=3, n_heads=4)),
        ratios=(1.0, 2.0, 4.0), vocab_size=1024, seq_len=128, batch_size=16, peak_lr=5e-3,
        corpus=CorpusSpec(vocab_size=1024, max_chars=12_000_000)),
    "full": SuiteSpec(
        name="full",
        sizes=(SizeSpec("d64", d_model=64, n_layers=2, n_heads=2, ratios=(20.0, 50.0, 100.0, 210.0)),
               SizeSpec("d128", d_model=128, n_layers=2, n_heads=4),
               SizeSpec("d192", d_model=192, n_layers=2, n_heads=6)),
        ratios=(20.0,), vocab_size=4096, seq_len=128, batch_size=64, peak_lr=3e-3,
        save_every=200, eval_sequences=512, compile=True, corpus=CorpusSpec(vocab_size=4096, max_chars=None)),
}


def get_suite(name: str) -> SuiteSpec:
    try:
        return SUITES[name]
    except KeyError:
        raise UserError(f"unknown suite {name!r}", fix=f"choose one of {', '.join(SUITES)}") from None
