"""Correlations with bootstrap confidence intervals (resampling checkpoints, the unit the claim is about)."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Correlation:
    method: str  # "pearson" | "spearman"
    r: float  # nan when undefined (fewer than 3 points, or a constant input)
    low: float  # bootstrap percentile interval
    high: float
    p_value: float  # two-sided permutation p: exact (all n! orderings) for n ≤ EXACT_MAX_N, Monte-Carlo beyond
    n: int  # checkpoints the number rests on
    level: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if math.isnan(self.r):
            return f"n/a (n={self.n})"
        return f"{self.r:+.2f} [{self.low:+.2f}, {self.high:+.2f}] (n={self.n})"


EXACT_MAX_N = 9  # up to 9! = 362,880 pairings: exact p-values where asymptotic ones are wrong (0.099 vs 0.108 at n=9)
MONTE_CARLO_PERMUTATIONS = 20_000  # beyond EXACT_MAX_N: random pairings; p's Monte-Carlo SE ≤ 0.0036
_CHUNK = 1 << 16  # permutations scored per block: bounds memory at n=9


def _corr(method: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    res = stats.pearsonr(x, y) if method == "pearson" else stats.spearmanr(x, y)
    # scipy's Spearman p for n=3, r=1 is 0; the truth is 1/3 (2 of 6 orderings are as extreme)
    return float(res[0]), permutation_p(method, x, y).p_value


@dataclass(frozen=True)
class PermutationP:
    p_value: float  # two-sided: share of pairings whose |r| is at least the observed |r|
    kind: str  # "exact" (all n! pairings) | "monte-carlo" (random pairings, p = (1 + hits) / (1 + draws))
    n_permutations: int


@functools.lru_cache(maxsize=4)
def _all_permutations(n: int) -> np.ndarray:
    flat = np.fromiter(itertools.chain.from_iterable(itertools.permutations(range(n))), dtype=np.int8,
                       count=n * math.factorial(n))
    return flat.reshape(-1, n)


def permutation_p(method: str, x: np.ndarray, y: np.ndarray, *, exact_max_n: int = EXACT_MAX_N,
                  n_permutations: int = MONTE_CARLO_PERMUTATIONS, seed: int = 0) -> PermutationP:
    """Two-sided permutation test of no association between x and y (the null pairs x with a random ordering of y).

    Exact over all n! orderings for n ≤ ``exact_max_n``; beyond, ``n_permutations`` random orderings with the
    observed one counted in, so p is never 0. Spearman is Pearson on tie-averaged ranks, and permuting y permutes
    its ranks, so both reduce to ``|Σ xc·yc[perm]| ≥ |Σ xc·yc|`` on centred (ranked) values."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if method == "spearman":
        x, y = stats.rankdata(x), stats.rankdata(y)
    xc, yc = x - x.mean(), y - y.mean()
    observed = abs(float(xc @ yc))
    tol = 1e-9 * float(np.sqrt((xc @ xc) * (yc @ yc)))  # equal |r| computed in another order still counts
    n = len(x)
    if n <= exact_max_n:
        perms = _all_permutations(n)
        hits = sum(int(np.count_nonzero(np.abs(yc[perms[i:i + _CHUNK]] @ xc) >= observed - tol))
                   for i in range(0, len(perms), _CHUNK))
        return PermutationP(hits / len(perms), "exact", len(perms))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_permutations, _CHUNK // 4):
        rows = min(_CHUNK // 4, n_permutations - start)
        shuffled = rng.permuted(np.broadcast_to(yc, (rows, n)), axis=1)
        hits += int(np.count_nonzero(np.abs(shuffled @ xc) >= observed - tol))
    return PermutationP((1 + hits) / (1 + n_permutations), "monte-carlo", n_permutations)


def _rowwise_r(method: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Correlation of each row pair of (B, n) arrays at once; Spearman = Pearson on (tie-averaged) ranks."""
    if method == "spearman":
        x, y = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))


def correlation(x: list[float] | np.ndarray, y: list[float] | np.ndarray, method: str = "spearman", *,
                n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Correlation:
    """Pearson or Spearman r with a percentile bootstrap CI over (x, y) pairs."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"unknown correlation method {method!r}")
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise ValueError("x and y must have the same length")
    r, p = _corr(method, xa, ya)
    if math.isnan(r):
        return Correlation(method, math.nan, math.nan, math.nan, math.nan, len(xa), level)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(xa), (n_boot, len(xa)))
    boots = _rowwise_r(method, xa[idx], ya[idx])
    boots = boots[np.isfinite(boots)]  # a resample with a constant column has no correlation; skip it
    alpha = (1 - level) / 2
    low, high = (np.quantile(boots, [alpha, 1 - alpha]) if len(boots) else (math.nan, math.nan))
    return Correlation(method, r, float(low), float(high), p, len(xa), level)


def both(x: list[float] | np.ndarray, y: list[float] | np.ndarray, *, n_boot: int = 1000,
         seed: int = 0) -> dict[str, Correlation]:
    return {m: correlation(x, y, m, n_boot=n_boot, seed=seed) for m in ("pearson", "spearman")}
