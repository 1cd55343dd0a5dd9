"""Scaling fits, correlations and the isoFLOP comparison recover known answers from synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retscale.analysis.fits import fit
from retscale.analysis.isoflop import isoflop_overlap
from retscale.analysis.stats import correlation
from retscale.analysis.table import load_table
from retscale.study.store import open_store
from synthetic_study import Truth, make_synthetic_study_dir


def _points(truth: Truth, n: int = 14, noise: float = 0.004, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = np.logspace(13, 18, n)
    return c, truth.score(c) + rng.normal(0, noise, n)


def test_powerlaw_recovers_exponent_and_ceiling_within_ci() -> None:
    truth = Truth()
    c, y = _points(truth)
    f = fit("powerlaw", c, y, n_boot=300, predict_flops=[3e18])
    assert f is not None and f.n == len(c) and f.n_boot_ok > 250
    lo, hi = f.ci["alpha"]
    assert lo <= truth.alpha <= hi and hi - lo < 0.2
    assert f.ci["L"][0] <= truth.ceiling <= f.ci["L"][1]
    assert f.r2 > 0.99
    # an unseen budget half a decade beyond the data: the prediction interval covers the true score
    pred = f.predictions[0]
    assert pred["low"] <= float(truth.score(3e18)) <= pred["high"]
    assert pred["low"] < pred["score"] < pred["high"]


def test_loglinear_recovers_slope_and_prefers_less_params_on_linear_data() -> None:
    rng = np.random.default_rng(3)
    c = np.logspace(14, 18, 12)
    y = 0.1 + 0.05 * np.log10(c / 1e14) + rng.normal(0, 0.003, len(c))
    lin = fit("loglinear", c, y, n_boot=500)
    assert lin is not None
    assert lin.ci["b"][0] <= 0.05 <= lin.ci["b"][1]
    assert abs(lin.params["b"] - 0.05) < 0.005


def test_too_few_points_give_no_fit() -> None:
    assert fit("powerlaw", [1e15, 1e16, 1e17], [0.1, 0.2, 0.3]) is None
    assert fit("loglinear", [1e15, 1e15, 1e15], [0.1, 0.2, 0.3]) is None
    with pytest.raises(ValueError):
        fit("cubic", [1, 2, 3, 4], [1, 2, 3, 4])


def test_correlation_ci_and_degenerate_input() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(20.0)
    y = x + rng.normal(0, 3, 20)
    for method in ("pearson", "spearman"):
        r = correlation(x, y, method, n_boot=400)
        assert r.n == 20 and 0.7 < r.r < 1
        assert r.low <= r.r <= r.high < 1.0001
    flat = correlation([1, 2, 3, 4], [5, 5, 5, 5])
    assert math.isnan(flat.r) and flat.n == 4 and "n/a" in flat.text()
    # independent noise: the interval straddles zero
    noise = correlation(rng.normal(size=40), rng.normal(size=40), "pearson", n_boot=400)
    assert noise.low < 0 < noise.high


@pytest.mark.parametrize(("size_effect", "holds"), [(0.0, True), (0.15, False)])
def test_isoflop_detects_a_size_effect_only_when_there_is_one(tmp_path, size_effect: float, holds: bool) -> None:
    with open_store(make_synthetic_study_dir(tmp_path, Truth(size_effect=size_effect))) as store:
        table = load_table(store)
    suite = table.suite()
    avg = {p.name: p.avg_ndcg(table.tasks) for p in suite}
    pooled = fit("powerlaw", [p.flops for p in suite], [avg[p.name] for p in suite], n_boot=100)
    assert pooled is not None
    iso = isoflop_overlap(suite, avg, trend=pooled.predict if holds else None, n_boot=400)
    assert iso.n_pairs >= 4 and iso.n_checkpoints >= 4
    assert all(p["bigger_size"] != p["smaller_size"] for p in iso.pairs)
    assert all(abs(p["dlog10_flops"]) <= iso.tolerance for p in iso.pairs)
    if holds:
        # no size effect was put in: any measured one is negligible next to what FLOPs explain
        assert iso.verdict.startswith("holds") and iso.ratio < 0.1
        assert max(abs(iso.low), abs(iso.high)) < 0.1 * iso.flops_spread
    else:
        assert iso.low > 0 and iso.verdict.startswith("does not hold") and "bigger" in iso.verdict


def test_isoflop_without_overlap_says_so() -> None:
    from retscale.analysis.table import Point

    pts = [Point(f"{s}-{i}", "suite", s, n, n * 10, 6 * n * n * 10 * 100**i)
           for s, n in (("a", 1e6), ("b", 1e9)) for i in range(3)]
    iso = isoflop_overlap(pts, {p.name: 0.1 * i for i, p in enumerate(pts)}, tolerance=0.1)
    assert iso.n_pairs == 0 and iso.verdict.startswith("no overlap")


def test_small_samples_get_exact_p_values_and_degenerate_fits_are_flagged() -> None:
    # 3 checkpoints perfectly ordered: 2 of the 6 orderings are as extreme, so p = 1/3, not scipy's 0
    assert correlation([1e15, 1e16, 1e17], [0.1, 0.2, 0.4]).p_value == pytest.approx(1 / 3)
    c = np.logspace(14, 18, 8)
    straight = fit("powerlaw", c, 0.1 + 0.01 * np.log10(c / 1e14), n_boot=50)  # no curvature to find
    assert straight is not None and straight.at_bound
    curved = fit("powerlaw", *_points(Truth()), n_boot=50)
    assert curved is not None and not curved.at_bound
