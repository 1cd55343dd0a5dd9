"""Uncertainty of a study's scores, from its per-query results: intervals, gains, the duration effect, isoFLOP.

Every interval here is a percentile bootstrap, and it says what it resamples:

- **queries** (items, for ICL). A task's queries are a sample of the queries it could have had. Every checkpoint
  answers the same queries, so one replicate draws one set of query indices per task and applies it to every
  checkpoint: comparisons between checkpoints stay paired and the difficulty shared by all of them cancels.
  Tasks are resampled independently; the multi-task average weights each task equally, not each query.
- **fine-tuning seeds** (``resample_seeds=True``, "queries+seeds"): each replicate also redraws, per checkpoint,
  its seeds with replacement — one draw for all tasks, since one seed is one model evaluated on every task.
  Two moment corrections (``_seed_scale``; cf. Davison & Hinkley 1997, §3.8) make the redraw add the seed
  variance once and at its size: a plain redraw of s seeds understates it by (s−1)/s, and the spread of seed
  means also holds seed × query noise that the query resample already carries (ignoring that made intervals
  ~1.4× too wide on synthetic data). Two seeds still give one degree of freedom per checkpoint: one
  checkpoint's seed interval is rough; quantities pooled over checkpoints (regression, isoFLOP) are steadier.
- **not captured: pretraining-seed variance.** One pretraining run (trunk) per size, and the durations of a size
  share it, so no interval says how far another pretraining run would move a checkpoint. Intervals are
  conditional on the checkpoints trained; checkpoint-level scatter shows up only in the classical OLS errors and
  in the bootstrap over checkpoints (``analysis.stats.correlation``), which are reported beside them.

Inputs: ``PerQueryScores`` (checkpoints × seeds × queries per task). ``bootstrap`` turns them into
``Replicates`` (checkpoint × task scores in each replicate); every analysis below reads replicates, so one
bootstrap serves the intervals, the regression, the correlations and the isoFLOP verdict consistently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from retscale.analysis.stats import correlation, permutation_p
from retscale.study.names import CheckpointKind

KINDS = (CheckpointKind.SUITE, CheckpointKind.CONTROL)  # pretrained (or external on the axes), control
AVERAGE = "average"  # task label of the equal-weight mean over tasks
NOT_CAPTURED = "pretraining-seed variance is not captured (one pretraining run per size)"
_MAX_WEIGHT_CELLS = 4_000_000  # replicates × queries drawn at once: bounds memory for 10k-item ICL tasks


@dataclass(frozen=True)
class ModelOnAxes:
    """A model on the study's axes as the statistics see it: its size, N, D (0 for a control) and kind."""

    name: str
    size: str  # size label; a pretrained checkpoint's control is the control of the same size
    n_params: float
    tokens: float  # pretraining tokens D (0 for a random-init control)
    kind: str = CheckpointKind.SUITE  # SUITE (pretrained) | CONTROL (random init)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"checkpoint {self.name!r}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def flops(self) -> float:
        return 6.0 * self.n_params * self.tokens


@dataclass(frozen=True)
class PerQueryScores:
    """Per-query scores of every checkpoint × fine-tuning seed on every task.

    ``tasks[t]`` has shape (checkpoints, seeds, queries of t); row c belongs to ``checkpoints[c]``. A checkpoint
    with fewer seeds than the widest one has all-NaN rows for the missing seeds (after its real ones). Query j of
    a task is the same query for every checkpoint: that is what pairs the comparisons. ICL: one "seed", items as
    queries (``from_items``)."""

    checkpoints: tuple[ModelOnAxes, ...]
    tasks: Mapping[str, np.ndarray]
    metric: str = "ndcg_at_10"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", {t: np.asarray(a, dtype=float) for t, a in self.tasks.items()})
        names = [c.name for c in self.checkpoints]
        if len(set(names)) != len(names):
            raise ValueError("checkpoint names must be unique")
        if not self.tasks:
            raise ValueError("no tasks")
        seeds: np.ndarray | None = None
        for task, arr in self.tasks.items():
            if arr.ndim != 3 or arr.shape[0] != len(names) or arr.shape[2] < 2:
                raise ValueError(f"task {task!r}: scores must be (checkpoints={len(names)}, seeds, queries ≥ 2), "
                                 f"got {arr.shape}")
            present = ~np.isnan(arr).all(axis=2)
            if not np.isfinite(arr[present]).all():
                raise ValueError(f"task {task!r}: a seed has NaN or infinite scores for some queries")
            n_s = present.sum(axis=1)
            if (n_s == 0).any() or not all(present[c, :k].all() for c, k in enumerate(n_s)):
                raise ValueError(f"task {task!r}: every checkpoint needs ≥ 1 seed, padding rows last")
            if seeds is not None and not np.array_equal(seeds, n_s):
                raise ValueError(f"task {task!r}: seeds per checkpoint differ from the other tasks'")
            seeds = n_s

    @classmethod
    def from_runs(cls, checkpoints: Sequence[ModelOnAxes], runs: Mapping[str, Mapping[str, Sequence[Sequence[float]]]],
                  metric: str = "ndcg_at_10") -> PerQueryScores:
        """``runs[task][checkpoint name]`` = one per-query score vector per fine-tuning seed."""
        tasks = {}
        for task, by_name in runs.items():
            width = max(len(by_name[c.name]) for c in checkpoints)
            n_q = len(by_name[checkpoints[0].name][0])
            arr = np.full((len(checkpoints), width, n_q), np.nan)
            for i, c in enumerate(checkpoints):
                for s, vec in enumerate(by_name[c.name]):
                    if len(vec) != n_q:
                        raise ValueError(f"task {task!r}, {c.name} seed {s}: {len(vec)} queries, expected {n_q}")
                    arr[i, s] = vec
            tasks[task] = arr
        return cls(tuple(checkpoints), tasks, metric)

    @classmethod
    def from_items(cls, checkpoints: Sequence[ModelOnAxes], items: Mapping[str, Mapping[str, Sequence[float]]],
                   metric: str = "gold_probability") -> PerQueryScores:
        """ICL: ``items[task][checkpoint name]`` = per-item scores (no fine-tuning, so one "seed")."""
        return cls.from_runs(checkpoints, {t: {n: [v] for n, v in d.items()} for t, d in items.items()}, metric)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checkpoints)

    @property
    def n_seeds(self) -> np.ndarray:
        first = next(iter(self.tasks.values()))
        return (~np.isnan(first).all(axis=2)).sum(axis=1)

    @property
    def n_queries(self) -> dict[str, int]:
        return {t: int(a.shape[2]) for t, a in self.tasks.items()}

    def per_seed(self, task: str) -> np.ndarray:
        """(checkpoints, seeds) task score of each seed (mean over queries); NaN for padding."""
        return self.tasks[task].mean(axis=2)

    def point(self) -> np.ndarray:
        """(checkpoints, tasks): mean over queries, then over seeds."""
        return np.stack([np.nanmean(self.per_seed(t), axis=1) for t in self.tasks], axis=1)


@dataclass(frozen=True)
class Replicates:
    """Bootstrap replicates of every checkpoint's task scores (seeds averaged), from one set of draws."""

    checkpoints: tuple[ModelOnAxes, ...]
    tasks: tuple[str, ...]
    point: np.ndarray  # (checkpoints, tasks): the estimate from the data as observed
    boot: np.ndarray  # (replicates, checkpoints, tasks)
    resampling: str  # "queries" | "queries+seeds"
    n_queries: dict[str, int]
    n_seeds: dict[str, int]  # checkpoint → fine-tuning seeds

    @property
    def n_boot(self) -> int:
        return int(self.boot.shape[0])

    def index(self, name: str) -> int:
        for i, c in enumerate(self.checkpoints):
            if c.name == name:
                return i
        raise KeyError(f"no checkpoint {name!r}")

    def scores(self, names: Sequence[str] | None = None, tasks: Sequence[str] | str | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(point (n,), boot (B, n)) for ``names`` (default: the pretrained checkpoints, in order): one task's
        score, or the equal-weight mean over ``tasks`` (default: all tasks)."""
        if names is None:
            names = [c.name for c in self.checkpoints if c.kind == CheckpointKind.SUITE]
        return _mean_over_tasks(self.point, self.boot, [self.index(n) for n in names], self.task_columns(tasks))

    def difference(self, name: str, reference: str, tasks: Sequence[str] | str | None = None, level: float = 0.95
                   ) -> tuple[float, float, float]:
        """score(name) − score(reference) and its percentile CI: paired, as both come from the same draws."""
        point, boot = self.scores([name, reference], tasks)
        low, high = _percentiles(boot[:, 0] - boot[:, 1], level)
        return float(point[0] - point[1]), float(low), float(high)

    def task_columns(self, tasks: Sequence[str] | str | None) -> list[int]:
        chosen = [tasks] if isinstance(tasks, str) else list(tasks or self.tasks)
        missing = [t for t in chosen if t not in self.tasks]
        if missing:
            raise KeyError(f"no task {missing[0]!r}; have {self.tasks}")
        return [self.tasks.index(t) for t in chosen]


def _mean_over_tasks(point: np.ndarray, boot: np.ndarray, rows: list[int], cols: list[int]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight mean over task columns ``cols`` of checkpoint rows ``rows``: (n,) and (B, n)."""
    return point[rows][:, cols].mean(axis=1), boot[:, rows][:, :, cols].mean(axis=2)


def bootstrap(scores: PerQueryScores, *, n_boot: int = 2000, resample_seeds: bool = False, seed: int = 0,
              seed_correction: bool = True) -> Replicates:
    """Replicates of every checkpoint's task scores: queries resampled within each task with the same indices
    for every checkpoint (paired); with ``resample_seeds`` also each checkpoint's fine-tuning seeds (module
    docstring: what that does and does not capture)."""
    boot = _bootstrap_scores(scores, np.random.default_rng(seed), n_boot, resample_seeds, seed_correction)
    return Replicates(scores.checkpoints, tuple(scores.tasks), scores.point(), boot,
                      "queries+seeds" if resample_seeds else "queries", scores.n_queries,
                      dict(zip(scores.names, map(int, scores.n_seeds), strict=True)))


def _bootstrap_scores(scores: PerQueryScores, rng: np.random.Generator, n_boot: int, resample_seeds: bool,
                      seed_correction: bool) -> np.ndarray:
    n_s = scores.n_seeds
    n_ckpt, width = len(n_s), int(n_s.max())
    valid = np.arange(width)[None, :] < n_s[:, None]  # (C, S)
    mean_w = valid / n_s[:, None]
    if resample_seeds:
        # per replicate and checkpoint, n_s draws of one of its n_s seeds; weight = draws / n_s
        draws = np.floor(rng.random((n_boot, n_ckpt, width)) * n_s[None, :, None]).astype(int)
        hits = (draws[..., None] == np.arange(width)) & valid[None, :, :, None]  # (B, C, draw, seed)
        weights = hits.sum(axis=2) / n_s[None, :, None]
    else:
        weights = np.broadcast_to(mean_w, (n_boot, n_ckpt, width))
    out = np.empty((n_boot, n_ckpt, len(scores.tasks)))
    for t, arr in enumerate(scores.tasks.values()):
        filled = np.nan_to_num(arr)
        per_seed = _query_resampled_means(rng, filled.reshape(n_ckpt * width, -1), n_boot)
        per_seed = per_seed.reshape(n_boot, n_ckpt, width)
        redrawn = (weights * per_seed).sum(axis=2)
        if resample_seeds and seed_correction:
            centre = (mean_w[None] * per_seed).sum(axis=2)
            redrawn = centre + _seed_scale(filled, valid, n_s)[None, :] * (redrawn - centre)
        out[:, :, t] = redrawn
    return out


def _seed_scale(scores: np.ndarray, valid: np.ndarray, n_s: np.ndarray) -> np.ndarray:
    """Per checkpoint, the factor k for its seed deviations in ``centre + k·(redrawn − centre)``.

    Two corrections, both method-of-moments for the crossed seed × query design of one checkpoint:
    a plain redraw of s seeds has variance MS_seed·(s−1)/(s²·Q), short of the seed mean's MS_seed/(s·Q), so
    k² = s/(s−1); and a seed mean's spread holds the seed × query noise as well (MS_seed estimates
    Q·σ²_seed + σ²_resid), which the query resample already carries, so k² also takes the factor
    max(0, 1 − MS_resid/MS_seed): only σ²_seed is added on top. Without it the interval counts that noise twice."""
    n_q = scores.shape[2]
    seed_means = scores.mean(axis=2)  # (C, S)
    centre = (seed_means * valid).sum(axis=1) / n_s  # (C,)
    query_means = (scores * valid[:, :, None]).sum(axis=1) / n_s[:, None]  # (C, Q): seed-averaged per query
    resid = (scores - seed_means[:, :, None] - query_means[:, None, :] + centre[:, None, None]) * valid[:, :, None]
    dof = np.maximum(n_s - 1, 1)
    ms_resid = (resid**2).sum(axis=(1, 2)) / (dof * (n_q - 1))
    ms_seed = n_q * (((seed_means - centre[:, None]) * valid) ** 2).sum(axis=1) / dof
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(ms_seed > 0, np.clip(1 - ms_resid / ms_seed, 0.0, 1.0), 0.0)
    return np.where(n_s > 1, np.sqrt(n_s / dof * share), 0.0)


def _query_resampled_means(rng: np.random.Generator, rows: np.ndarray, n_boot: int) -> np.ndarray:
    """(B, rows): each row's mean over a resample (with replacement) of its columns — the same resample for
    every row in a replicate, which is what keeps checkpoints paired. Counts × scores instead of gathering."""
    n_q = rows.shape[1]
    out = np.empty((n_boot, rows.shape[0]))
    step = max(1, _MAX_WEIGHT_CELLS // n_q)
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        idx = rng.integers(0, n_q, (b, n_q)) + (np.arange(b) * n_q)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n_q).reshape(b, n_q)
        out[start:start + b] = counts @ rows.T / n_q
    return out


def _percentiles(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - level) / 2
    return np.quantile(boot, alpha, axis=0), np.quantile(boot, 1 - alpha, axis=0)


def _what(resampling: str) -> str:
    return "queries and fine-tuning seeds" if resampling == "queries+seeds" else "queries"


# --- 1. per-checkpoint intervals ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreInterval:
    """A checkpoint's score on a task (or the equal-weight average over tasks) with a bootstrap CI. The CI is a
    resampling of queries (and seeds, if ``resampling`` says so): how much the score would move on another draw
    of queries from the same task — not on another pretraining run."""

    checkpoint: str
    task: str  # a task, or "average"
    score: float
    low: float
    high: float
    n_queries: dict[str, int]  # per task the score rests on
    n_seeds: int
    n_boot: int
    resampling: str
    level: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        return (f"{self.score:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.level:.0%} CI over "
                f"{_what(self.resampling)}; {_queries(self.n_queries)}, {self.n_seeds} seeds)")


def _queries(n_queries: Mapping[str, int]) -> str:
    return ", ".join(f"{t} {n} queries" for t, n in n_queries.items())


def checkpoint_intervals(reps: Replicates, *, tasks: Sequence[str] | None = None, level: float = 0.95
                         ) -> list[ScoreInterval]:
    """Each checkpoint's score per task and averaged over ``tasks`` (default all), with percentile CIs."""
    tasks = list(tasks or reps.tasks)
    names = [c.name for c in reps.checkpoints]
    out = []
    for label in [*tasks, AVERAGE]:
        point, boot = reps.scores(names, tasks if label == AVERAGE else label)
        low, high = _percentiles(boot, level)
        nq = {t: reps.n_queries[t] for t in (tasks if label == AVERAGE else [label])}
        out += [ScoreInterval(n, label, float(point[i]), float(low[i]), float(high[i]), nq, reps.n_seeds[n],
                              reps.n_boot, reps.resampling, level) for i, n in enumerate(names)]
    return out


# --- 2. gain over the random-init control, and the seed spread ---------------------------------------------------

@dataclass(frozen=True)
class Gain:
    """score(checkpoint) − score(its size's random-init control), seeds averaged. ``paired``: both resampled
    with the same query indices, so per-query difficulty cancels (the design: both answer the same queries)."""

    checkpoint: str
    control: str
    size: str
    task: str  # a task, or "average"
    gain: float
    low: float
    high: float
    paired: bool
    n_queries: dict[str, int]
    n_seeds_checkpoint: int
    n_seeds_control: int
    n_boot: int
    resampling: str
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"excludes_zero": self.excludes_zero}

    def text(self) -> str:
        design = "paired" if self.paired else "unpaired"
        return (f"{self.gain:+.3f} [{self.low:+.3f}, {self.high:+.3f}] over {self.control} ({self.level:.0%} CI, "
                f"{design} bootstrap over {_what(self.resampling)}; {_queries(self.n_queries)}, "
                f"{self.n_seeds_checkpoint}+{self.n_seeds_control} seeds)")


def controls_by_size(checkpoints: Sequence[ModelOnAxes]) -> dict[str, str]:
    """size → the name of its random-init control (at most one per size)."""
    out: dict[str, str] = {}
    for c in checkpoints:
        if c.kind == CheckpointKind.CONTROL:
            if c.size in out:
                raise ValueError(f"size {c.size!r} has two controls: {out[c.size]!r} and {c.name!r}")
            out[c.size] = c.name
    return out


def gains_over_control(scores: PerQueryScores, *, tasks: Sequence[str] | None = None, paired: bool = True,
                       resample_seeds: bool = False, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                       seed_correction: bool = True) -> list[Gain]:
    """Gain of every pretrained checkpoint whose size has a control, per task and averaged over ``tasks``.

    The CI resamples queries with the same indices for checkpoint and control (``paired=False`` draws them
    independently — only to show what pairing buys); with ``resample_seeds`` each side's seeds are redrawn too."""
    controls = controls_by_size(scores.checkpoints)
    rng = np.random.default_rng(seed)
    boot = _bootstrap_scores(scores, rng, n_boot, resample_seeds, seed_correction)
    boot_ctrl = boot if paired else _bootstrap_scores(scores, rng, n_boot, resample_seeds, seed_correction)
    point, names, all_tasks = scores.point(), scores.names, list(scores.tasks)
    tasks = list(tasks or all_tasks)
    n_s = dict(zip(names, map(int, scores.n_seeds), strict=True))
    out = []
    for c in scores.checkpoints:
        if c.kind != CheckpointKind.SUITE or c.size not in controls:
            continue
        ctrl = controls[c.size]
        for label in [*tasks, AVERAGE]:
            which = tasks if label == AVERAGE else [label]
            cols = [all_tasks.index(t) for t in which]
            p1, b1 = _mean_over_tasks(point, boot, [names.index(c.name)], cols)
            p0, b0 = _mean_over_tasks(point, boot_ctrl, [names.index(ctrl)], cols)
            low, high = _percentiles(b1[:, 0] - b0[:, 0], level)
            out.append(Gain(c.name, ctrl, c.size, label, float(p1[0] - p0[0]), float(low), float(high), paired,
                            {t: scores.n_queries[t] for t in which}, n_s[c.name], n_s[ctrl], n_boot,
                            "queries+seeds" if resample_seeds else "queries", level))
    return out


@dataclass(frozen=True)
class SeedSpread:
    """How far a checkpoint's fine-tuning seeds disagree: their task scores, sample std (ddof 1) and range."""

    checkpoint: str
    task: str  # a task, or "average"
    per_seed: tuple[float, ...]
    mean: float
    std: float  # NaN with one seed
    range: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f} (std over {len(self.per_seed)} seeds; range {self.range:.3f})"


def seed_spread(scores: PerQueryScores, *, tasks: Sequence[str] | None = None) -> list[SeedSpread]:
    """Per checkpoint and task (and the equal-weight task average of each seed): the seeds' scores."""
    tasks = list(tasks or scores.tasks)
    per_task = {t: scores.per_seed(t) for t in tasks}
    per_task[AVERAGE] = np.mean([per_task[t] for t in tasks], axis=0)
    out = []
    for i, c in enumerate(scores.checkpoints):
        k = int(scores.n_seeds[i])
        for label, table in per_task.items():
            v = table[i, :k]
            out.append(SeedSpread(c.name, label, tuple(map(float, v)), float(v.mean()),
                                  float(v.std(ddof=1)) if k > 1 else math.nan, float(np.ptp(v))))
    return out


# --- 4. the duration effect: score ~ a + b·log10 N + c·log10 D ---------------------------------------------------

@dataclass(frozen=True)
class Coefficient:
    """One regression coefficient with two intervals that answer different questions:
    ``low``/``high`` — bootstrap over queries (and seeds), refitting each replicate: the measurement noise of
    these checkpoints' scores. ``se_ols``/``low_ols``/``high_ols`` — classical OLS (t with n − 3 df): the
    checkpoints' scatter around the plane, which also holds whatever varies between checkpoints beyond N and D."""

    name: str
    estimate: float
    low: float
    high: float
    se_ols: float
    low_ols: float
    high_ols: float

    def text(self) -> str:
        return (f"{self.estimate:+.4f} [{self.low:+.4f}, {self.high:+.4f}] (bootstrap), "
                f"± {self.se_ols:.4f} OLS s.e. [{self.low_ols:+.4f}, {self.high_ols:+.4f}]")


@dataclass(frozen=True)
class DurationEffect:
    """OLS of score ~ a + b·log10 N + c·log10 D over pretrained checkpoints (controls excluded): c is the
    change in score per decade of pretraining tokens at a fixed model size."""

    log10_d: Coefficient
    log10_n: Coefficient
    intercept: float
    r2: float
    n_checkpoints: int
    n_sizes: int
    task: str  # a task, or "average"
    n_queries: dict[str, int]
    n_seeds: dict[str, int]
    n_boot: int
    resampling: str
    level: float = 0.95
    note: str = ""  # why the fit is missing, when it is

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if self.note:
            return f"duration effect not estimated: {self.note}"
        seeds = sorted(set(self.n_seeds.values()))
        return (f"per decade of D: {self.log10_d.text()}; per decade of N: {self.log10_n.text()}; "
                f"R² {self.r2:.2f}; n = {self.n_checkpoints} checkpoints of {self.n_sizes} sizes, "
                f"{_queries(self.n_queries)}, {'/'.join(map(str, seeds))} seeds; {self.level:.0%} CIs; "
                f"bootstrap over {_what(self.resampling)}; {NOT_CAPTURED}")


def duration_effect(reps: Replicates, *, tasks: Sequence[str] | str | None = None, level: float = 0.95
                    ) -> DurationEffect:
    """Fit score ~ log10 N + log10 D on the pretrained checkpoints, and refit it on every replicate."""
    pts = [c for c in reps.checkpoints if c.kind == CheckpointKind.SUITE]
    label = tasks if isinstance(tasks, str) else AVERAGE
    task_list = [tasks] if isinstance(tasks, str) else list(tasks or reps.tasks)
    nan = math.nan
    blank = Coefficient("", nan, nan, nan, nan, nan, nan)
    common = {"n_checkpoints": len(pts), "n_sizes": len({c.size for c in pts}), "task": label,
              "n_queries": {t: reps.n_queries[t] for t in task_list},
              "n_seeds": {c.name: reps.n_seeds[c.name] for c in pts}, "n_boot": reps.n_boot,
              "resampling": reps.resampling, "level": level}
    x = np.column_stack([np.ones(len(pts)), np.log10([c.n_params for c in pts]), np.log10([c.tokens for c in pts])]) \
        if pts and all(c.n_params > 0 and c.tokens > 0 for c in pts) else np.empty((0, 3))
    note = ("needs ≥ 4 pretrained checkpoints with N, D > 0 (one residual degree of freedom)" if len(x) < 4
            else "" if np.linalg.matrix_rank(x) == 3
            else "log10 N and log10 D are collinear (one size, one duration, or a fixed tokens-per-parameter)")
    if note:
        return DurationEffect(blank, blank, nan, nan, **common, note=note)
    point, boot = reps.scores([c.name for c in pts], task_list)
    pinv = np.linalg.pinv(x)
    beta = pinv @ point
    beta_boot = boot @ pinv.T  # (B, 3): every replicate refitted at once
    resid = point - x @ beta
    dof = len(pts) - 3
    sse, sst = float(resid @ resid), float(((point - point.mean()) ** 2).sum())
    se = np.sqrt(sse / dof * np.diag(np.linalg.inv(x.T @ x)))
    tq = float(sps.t.ppf(0.5 + level / 2, dof))
    low, high = _percentiles(beta_boot, level)

    def coef(i: int, name: str) -> Coefficient:
        return Coefficient(name, float(beta[i]), float(low[i]), float(high[i]), float(se[i]),
                           float(beta[i] - tq * se[i]), float(beta[i] + tq * se[i]))

    return DurationEffect(coef(2, "log10_D"), coef(1, "log10_N"), float(beta[0]),
                          1 - sse / sst if sst > 0 else nan, **common)


# --- 5. correlations: exact permutation p, two intervals ----------------------------------------------------------

@dataclass(frozen=True)
class CorrelationTest:
    """r between checkpoint-level x and y, with a permutation p and two CIs that answer different questions:
    ``checkpoint_low``/``checkpoint_high`` — bootstrap over checkpoints (pairs resampled): would r hold for
    other checkpoints like these. ``noise_low``/``noise_high`` — bootstrap of the scores over queries (and seeds),
    checkpoints fixed: how much measurement noise alone moves r."""

    method: str
    r: float
    p_value: float  # two-sided permutation p
    p_kind: str  # "exact" | "monte-carlo"
    n_permutations: int
    n: int  # checkpoints
    checkpoint_low: float
    checkpoint_high: float
    noise_low: float
    noise_high: float
    n_boot: int
    resampling: str  # of the noise interval: "queries" | "queries+seeds" | "" (none given)
    level: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if math.isnan(self.r):
            return f"{self.method} n/a (n={self.n})"
        noise = (f", [{self.noise_low:+.2f}, {self.noise_high:+.2f}] over {_what(self.resampling)}"
                 if self.resampling else "")
        return (f"{self.method} {self.r:+.2f} ({self.level:.0%} CI [{self.checkpoint_low:+.2f}, "
                f"{self.checkpoint_high:+.2f}] over checkpoints{noise}); p = {self.p_value:.3g} "
                f"({self.p_kind} permutation, n = {self.n})")


def correlation_test(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, method: str = "spearman", *,
                     x_boot: np.ndarray | None = None, y_boot: np.ndarray | None = None, resampling: str = "",
                     level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> CorrelationTest:
    """``x``/``y``: checkpoint-level values (e.g. FLOPs and average nDCG@10); ``x_boot``/``y_boot``: their
    (B, n) score replicates (``Replicates.scores``) when they are measured with noise (None: held fixed)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    by_ckpt = correlation(xa, ya, method, n_boot=n_boot, level=level, seed=seed)
    nan = math.nan
    if math.isnan(by_ckpt.r):
        return CorrelationTest(method, nan, nan, "", 0, len(xa), nan, nan, nan, nan, n_boot, resampling, level)
    perm = permutation_p(method, xa, ya, seed=seed)
    noise_low = noise_high = nan
    if x_boot is not None or y_boot is not None:
        b = len(x_boot if x_boot is not None else y_boot)  # type: ignore[arg-type]
        xb = np.broadcast_to(xa, (b, len(xa))) if x_boot is None else x_boot
        yb = np.broadcast_to(ya, (b, len(ya))) if y_boot is None else y_boot
        rs = _rowwise_r(method, xb, yb)
        rs = rs[np.isfinite(rs)]
        if len(rs):
            noise_low, noise_high = (float(v) for v in _percentiles(rs, level))
    return CorrelationTest(method, by_ckpt.r, perm.p_value, perm.kind, perm.n_permutations, len(xa), by_ckpt.low,
                           by_ckpt.high, noise_low, noise_high, n_boot, resampling, level)


def _rowwise_r(method: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if method == "spearman":
        x, y = sps.rankdata(x, axis=1), sps.rankdata(y, axis=1)
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))


# --- 6. isoFLOP: does size matter at matched compute? ------------------------------------------------------------

OUTCOMES = ("holds", "fails", "inconclusive")


@dataclass(frozen=True)
class IsoflopVerdict:
    """Pairs of checkpoints of different sizes within ``tolerance`` decades of FLOPs; per pair the score
    difference bigger − smaller minus what the pooled score-vs-log10 FLOPs trend explains of it; ``effect`` is
    their mean, its CI a bootstrap over queries (and seeds) refitting the trend in each replicate.

    An equivalence test (TOST at α = (1 − level)/2 each side): "holds" when the whole CI lies inside
    ±``margin`` (``equivalence_share`` × the spread the trend explains over the FLOPs covered); "fails" when it
    lies wholly outside; "inconclusive" otherwise, or with fewer than ``min_pairs`` pairs or no FLOPs trend."""

    outcome: str  # "holds" | "fails" | "inconclusive"
    effect: float
    low: float
    high: float
    margin: float
    equivalence_share: float
    flops_slope: float  # pooled trend: score per decade of FLOPs
    flops_spread: float  # |slope| × decades of FLOPs covered by the pretrained checkpoints
    n_pairs: int
    n_checkpoints: int  # distinct checkpoints in at least one pair
    tolerance: float
    min_pairs: int
    n_boot: int
    resampling: str
    level: float
    reason: str
    pairs: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if math.isnan(self.effect):
            return f"{self.outcome}: {self.reason}"
        return (f"{self.outcome}: at matched FLOPs bigger − smaller = {self.effect:+.4f} "
                f"[{self.low:+.4f}, {self.high:+.4f}] against an equivalence margin of ±{self.margin:.4f} "
                f"({self.equivalence_share:.0%} of the {self.flops_spread:.4f} FLOPs explain); {self.reason}; "
                f"{self.n_pairs} pairs of {self.n_checkpoints} checkpoints within {self.tolerance} decades; "
                f"{self.level:.0%} CI over {_what(self.resampling)}; {NOT_CAPTURED}")


def isoflop_verdict(reps: Replicates, *, tasks: Sequence[str] | str | None = None, tolerance: float = 0.3,
                    equivalence_share: float = 0.1, min_pairs: int = 2, level: float = 0.95) -> IsoflopVerdict:
    """Three-outcome isoFLOP verdict on the pretrained checkpoints (class docstring)."""
    pts = [c for c in reps.checkpoints if c.kind == CheckpointKind.SUITE and c.flops > 0]
    nan = math.nan

    def verdict(outcome: str, reason: str, **kw: Any) -> IsoflopVerdict:
        base: dict[str, Any] = {"effect": nan, "low": nan, "high": nan, "margin": nan, "flops_slope": nan,
                                "flops_spread": nan, "n_pairs": 0, "n_checkpoints": 0}
        return IsoflopVerdict(outcome=outcome, equivalence_share=equivalence_share, tolerance=tolerance,
                              min_pairs=min_pairs, n_boot=reps.n_boot, resampling=reps.resampling, level=level,
                              reason=reason, **(base | kw))

    logf = np.log10([c.flops for c in pts])
    if len(pts) < 3 or np.ptp(logf) == 0:
        return verdict("inconclusive", "too few checkpoints for a FLOPs trend (needs ≥ 3 at ≥ 2 FLOPs)")
    point, boot = reps.scores([c.name for c in pts], [tasks] if isinstance(tasks, str) else tasks)
    pairs = [(i, j) if pts[i].n_params > pts[j].n_params else (j, i)
             for i in range(len(pts)) for j in range(i + 1, len(pts))
             if pts[i].size != pts[j].size and pts[i].n_params != pts[j].n_params
             and abs(logf[i] - logf[j]) <= tolerance]
    slope = float(np.polyfit(logf, point, 1)[0])
    xc = logf - logf.mean()
    slopes = (boot - boot.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)  # the trend refitted per replicate
    spread = abs(slope) * float(np.ptp(logf))
    margin = equivalence_share * spread
    if not pairs:
        return verdict("inconclusive", f"no pairs of different sizes within {tolerance} decades of FLOPs",
                       flops_slope=slope, flops_spread=spread, margin=margin)
    big, small = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    dx = logf[big] - logf[small]
    adjusted = point[big] - point[small] - slope * dx
    adjusted_boot = boot[:, big] - boot[:, small] - slopes[:, None] * dx[None, :]
    effect = float(adjusted.mean())
    low, high = (float(v) for v in _percentiles(adjusted_boot.mean(axis=1), level))
    table = tuple({"bigger": pts[b].name, "smaller": pts[s].name, "bigger_size": pts[b].size,
                   "smaller_size": pts[s].size, "dlog10_flops": float(d), "difference": float(point[b] - point[s]),
                   "adjusted": float(a)} for b, s, d, a in zip(big, small, dx, adjusted, strict=True))
    members = len(set(big.tolist()) | set(small.tolist()))
    if len(pairs) < min_pairs:
        outcome, reason = "inconclusive", f"only {len(pairs)} pair(s), fewer than {min_pairs}"
    elif not margin > 0:
        outcome, reason = "inconclusive", "scores do not change with FLOPs, so there is no margin to judge by"
    elif -margin < low and high < margin:
        outcome, reason = "holds", "the whole CI is inside the margin: size makes no practical difference"
    elif low >= margin or high <= -margin:
        who = "bigger" if effect > 0 else "smaller (trained longer)"
        outcome, reason = "fails", f"the whole CI is outside the margin: the {who} model scores higher"
    else:
        outcome, reason = "inconclusive", "the CI crosses the margin: neither equivalence nor a difference shown"
    return verdict(outcome, reason, effect=effect, low=low, high=high, margin=margin, flops_slope=slope,
                   flops_spread=spread, n_pairs=len(pairs), n_checkpoints=members, pairs=table)


# --- 7. extrapolation guard ---------------------------------------------------------------------------------------

def extrapolation_warning(data_flops: Sequence[float] | np.ndarray, budget: float, *, max_decades: float = 1.0
                          ) -> str | None:
    """A warning to print beside a prediction at ``budget`` FLOPs when it lies more than ``max_decades``
    beyond the FLOPs the fit saw (either side); None when it is within reach."""
    f = np.asarray(data_flops, dtype=float)
    f = f[f > 0]
    if not len(f) or not budget > 0:
        return f"extrapolation: no FLOPs range to compare {budget:.3g} FLOPs with"
    lo, hi, at = math.log10(f.min()), math.log10(f.max()), math.log10(budget)
    span = f"the data cover {f.min():.2g}–{f.max():.2g} FLOPs"
    if at - hi > max_decades:
        return (f"extrapolation: {budget:.2g} FLOPs is {at - hi:.1f} decades above the largest checkpoint ({span}); "
                f"the fit does not support a prediction that far out")
    if lo - at > max_decades:
        return (f"extrapolation: {budget:.2g} FLOPs is {lo - at:.1f} decades below the smallest checkpoint "
                f"({span}); the fit does not support a prediction that far out")
    return None
