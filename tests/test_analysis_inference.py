"""The statistical engine recovers known answers from per-query scores drawn from a known model.

Synthetic model: score[c, s, q] = a + b·log10 N + (c + g_q)·log10 D + u_q + e[c, s] + ε[c, s, q] — a query
effect u_q shared by every checkpoint (what pairing cancels), a per-query slope g_q (mean 0: why the estimate of
c varies with the query sample), seed noise e and per-query noise ε. Controls score a0 + u_q + e + ε.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy import stats as sps

from retscale.analysis.inference import (
    AVERAGE,
    ModelOnAxes,
    PerQueryScores,
    bootstrap,
    checkpoint_intervals,
    correlation_test,
    duration_effect,
    extrapolation_warning,
    gains_over_control,
    isoflop_verdict,
    seed_spread,
)
from retscale.analysis.stats import correlation, permutation_p

A, B_N, C_D, A0 = 0.05, 0.02, 0.03, 0.04  # intercept, per decade of N, per decade of D, control level
SIZES = {"s": 1e6, "m": 4e6, "l": 16e6}
TOKENS_PER_PARAM = (20, 60, 200)


def suite(*, controls: bool = True, tpp: tuple[float, ...] = TOKENS_PER_PARAM) -> list[ModelOnAxes]:
    ckpts = [ModelOnAxes(f"{s}-{r:g}x", s, n, n * r) for s, n in SIZES.items() for r in tpp]
    if controls:
        ckpts += [ModelOnAxes(f"{s}-control", s, n, 0.0, "control") for s, n in SIZES.items()]
    return ckpts


def truth(c: ModelOnAxes) -> float:
    """Population mean score of a checkpoint (over queries and seeds)."""
    return A0 if c.kind == "control" else A + B_N * math.log10(c.n_params) + C_D * math.log10(c.tokens)


def simulate(rng: np.random.Generator, ckpts: list[ModelOnAxes], *, n_queries: tuple[int, ...] = (200, 150),
             n_seeds: int = 2, query_sd: float = 0.1, slope_sd: float = 0.03, seed_sd: float = 0.004,
             noise_sd: float = 0.05, checkpoint_sd: float = 0.0) -> PerQueryScores:
    tasks = {}
    for t, nq in enumerate(n_queries):
        u = rng.normal(0, query_sd, nq)
        g = rng.normal(0, slope_sd, nq)
        arr = np.empty((len(ckpts), n_seeds, nq))
        for i, c in enumerate(ckpts):
            logd = math.log10(c.tokens) - 8 if c.kind == "suite" else 0.0
            base = truth(c) + g * logd + u + rng.normal(0, checkpoint_sd)
            arr[i] = base + rng.normal(0, seed_sd, (n_seeds, 1)) + rng.normal(0, noise_sd, (n_seeds, nq))
        tasks[f"task{t}"] = arr
    return PerQueryScores(tuple(ckpts), tasks)


def test_duration_coefficient_and_intervals_cover_the_truth_across_simulated_studies() -> None:
    rng = np.random.default_rng(1)
    ckpts = suite()
    covered_c = covered_n = covered_score = 0
    estimates, boot_widths = [], []
    n_studies = 40
    for _ in range(n_studies):
        reps = bootstrap(simulate(rng, ckpts), n_boot=600, resample_seeds=True, seed=int(rng.integers(1 << 30)))
        fit = duration_effect(reps)
        assert fit.n_checkpoints == 9 and fit.n_sizes == 3 and not fit.note
        assert fit.log10_d.low <= fit.log10_d.estimate <= fit.log10_d.high
        covered_c += fit.log10_d.low <= C_D <= fit.log10_d.high
        covered_n += fit.log10_n.low <= B_N <= fit.log10_n.high
        estimates.append(fit.log10_d.estimate)
        boot_widths.append(fit.log10_d.high - fit.log10_d.low)
        interval = next(i for i in checkpoint_intervals(reps) if i.checkpoint == "m-60x" and i.task == AVERAGE)
        covered_score += interval.low <= truth(ckpts[4]) <= interval.high
    assert covered_c >= 0.9 * n_studies and covered_n >= 0.9 * n_studies
    assert covered_score >= 0.85 * n_studies  # one checkpoint's average: coverage of the score CI itself
    assert abs(np.mean(estimates) - C_D) < 0.003
    # the interval's width matches the spread of the estimate across studies (95% ≈ ±1.96 sd)
    assert 0.7 < np.mean(boot_widths) / (2 * 1.96 * np.std(estimates)) < 1.4


def test_interval_width_shrinks_with_more_queries() -> None:
    rng = np.random.default_rng(2)
    widths = {}
    for nq in (100, 1600):
        reps = bootstrap(simulate(rng, suite(), n_queries=(nq,), seed_sd=0.0), n_boot=500)
        fit = duration_effect(reps)
        score = next(i for i in checkpoint_intervals(reps) if i.checkpoint == "s-20x" and i.task == AVERAGE)
        widths[nq] = (fit.log10_d.high - fit.log10_d.low, score.high - score.low)
        assert score.n_queries == {"task0": nq} and score.n_seeds == 2 and score.resampling == "queries"
    # 16× the queries: about a quarter of the width
    assert widths[1600][0] < 0.4 * widths[100][0] and widths[1600][1] < 0.4 * widths[100][1]


def test_paired_gain_is_narrower_than_unpaired_when_queries_differ_a_lot() -> None:
    rng = np.random.default_rng(3)
    # no seed noise: a query bootstrap does not claim to cover it (the hierarchical one does)
    scores = simulate(rng, suite(), query_sd=0.3, noise_sd=0.02, seed_sd=0.0, n_queries=(300,))
    paired = {(g.checkpoint, g.task): g for g in gains_over_control(scores, n_boot=800)}
    unpaired = {(g.checkpoint, g.task): g for g in gains_over_control(scores, n_boot=800, paired=False)}
    assert len(paired) == 9 * 2  # 9 pretrained checkpoints × (1 task + average)
    gain = paired[("l-200x", AVERAGE)]
    assert gain.control == "l-control" and gain.paired and gain.n_seeds_checkpoint == 2
    true_gain = truth(next(c for c in scores.checkpoints if c.name == "l-200x")) - A0
    assert gain.low <= true_gain <= gain.high and gain.excludes_zero
    assert gain.gain == pytest.approx(unpaired[("l-200x", AVERAGE)].gain)  # same point, different interval
    for key, g in paired.items():
        u = unpaired[key]
        assert g.high - g.low < 0.5 * (u.high - u.low)


def test_hierarchical_bootstrap_adds_the_seed_noise_at_the_right_size() -> None:
    rng = np.random.default_rng(4)
    scores = simulate(rng, suite(), seed_sd=0.03, noise_sd=0.01, n_seeds=3)
    by_queries = gains_over_control(scores, n_boot=800)
    with_seeds = gains_over_control(scores, n_boot=800, resample_seeds=True)
    w_q = np.mean([g.high - g.low for g in by_queries if g.task == AVERAGE])
    w_s = np.mean([g.high - g.low for g in with_seeds if g.task == AVERAGE])
    assert w_s > 2 * w_q and with_seeds[0].resampling == "queries+seeds"
    # the replicates' spread of a gain matches its true sd — seed noise of 3 seeds on both sides, drawn per task
    # and averaged over 2 tasks (query noise is negligible here); a plain redraw understates it by √(2/3)
    true_sd = math.sqrt(2 * 0.03**2 / 3 / 2)
    controls = [f"{c.size}-control" for c in scores.checkpoints if c.kind == "suite"]
    sds = {True: [], False: []}
    for k in range(12):
        study = simulate(rng, suite(), seed_sd=0.03, noise_sd=0.01, slope_sd=0.0, n_seeds=3)
        for corrected in (True, False):
            reps = bootstrap(study, n_boot=500, resample_seeds=True, seed_correction=corrected, seed=k)
            sds[corrected].append((reps.scores()[1] - reps.scores(controls)[1]).std(axis=0).mean())
    assert np.mean(sds[True]) == pytest.approx(true_sd, rel=0.1)
    assert np.mean(sds[False]) < 0.9 * true_sd


def test_seed_redraw_does_not_count_query_noise_twice() -> None:
    # seeds differ only by per-query noise, which the query resample already carries: redrawing seeds on top
    # must add little (a naive redraw adds it again: ×1.41 in sd; the moment correction's remaining bias,
    # from clipping a 1-df variance estimate at 0, is conservative and smaller)
    rng = np.random.default_rng(12)
    ratios = []
    for k in range(5):
        study = simulate(rng, suite(), seed_sd=0.0, query_sd=0.0, slope_sd=0.0, noise_sd=0.1)
        with_seeds = bootstrap(study, n_boot=500, resample_seeds=True, seed=k).boot.std(axis=0).mean()
        ratios.append(with_seeds / bootstrap(study, n_boot=500, seed=k).boot.std(axis=0).mean())
    assert 1.0 <= np.mean(ratios) < 1.32


def test_seed_spread_reports_each_seed() -> None:
    ckpts = suite(controls=False)[:2]
    per_seed = {"a": {ckpts[0].name: [[0.1, 0.3], [0.2, 0.4]], ckpts[1].name: [[0.5, 0.5], [0.6, 0.6], [0.7, 0.7]]},
                "b": {ckpts[0].name: [[0.0, 0.0], [0.0, 0.2]], ckpts[1].name: [[0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]}}
    scores = PerQueryScores.from_runs(ckpts, per_seed)
    assert scores.n_seeds.tolist() == [2, 3] and scores.point()[0].tolist() == pytest.approx([0.25, 0.05])
    spread = {(s.checkpoint, s.task): s for s in seed_spread(scores)}
    first = spread[(ckpts[0].name, AVERAGE)]
    assert first.per_seed == pytest.approx((0.1, 0.2)) and first.range == pytest.approx(0.1)
    assert first.std == pytest.approx(np.std([0.1, 0.2], ddof=1))
    second = spread[(ckpts[1].name, "a")]
    assert second.per_seed == pytest.approx((0.5, 0.6, 0.7)) and second.mean == pytest.approx(0.6)
    # a checkpoint with fewer seeds is padded, and the bootstrap redraws only its real seeds
    reps = bootstrap(scores, n_boot=300, resample_seeds=True)
    assert np.isfinite(reps.boot).all() and reps.n_seeds == {ckpts[0].name: 2, ckpts[1].name: 3}


def test_bad_per_query_input_is_refused() -> None:
    ckpts = suite(controls=False)[:2]
    with pytest.raises(ValueError, match="queries"):
        PerQueryScores.from_runs(ckpts, {"a": {ckpts[0].name: [[0.1, 0.2]], ckpts[1].name: [[0.1, 0.2, 0.3]]}})
    one_seed_short = np.zeros((2, 2, 3))
    one_seed_short[1, 1] = np.nan
    with pytest.raises(ValueError, match="seeds per checkpoint"):
        PerQueryScores(tuple(ckpts), {"a": np.zeros((2, 2, 3)), "b": one_seed_short})
    with pytest.raises(ValueError, match="padding rows last"):
        PerQueryScores(tuple(ckpts), {"a": one_seed_short[::-1, ::-1]})
    with pytest.raises(ValueError, match="kind"):
        ModelOnAxes("x", "s", 1.0, 1.0, "baseline")


def test_duration_effect_needs_an_identified_design_and_ols_errors_see_checkpoint_scatter() -> None:
    rng = np.random.default_rng(5)
    one_ratio = duration_effect(bootstrap(simulate(rng, suite(tpp=(20,))), n_boot=50))
    assert one_ratio.note and math.isnan(one_ratio.log10_d.estimate) and "not estimated" in one_ratio.text()
    # scatter between checkpoints that no query or seed resample sees (a stand-in for pretraining-seed variance):
    # the bootstrap interval stays narrow, the classical OLS interval widens — why both are reported
    fit = duration_effect(bootstrap(simulate(rng, suite(), checkpoint_sd=0.03, noise_sd=0.005, slope_sd=0.0,
                                             n_queries=(400,)), n_boot=400, resample_seeds=True))
    assert (fit.log10_d.high_ols - fit.log10_d.low_ols) > 3 * (fit.log10_d.high - fit.log10_d.low)
    assert 0 <= fit.r2 <= 1 and "not captured" in fit.text()


def test_exact_permutation_p_values() -> None:
    # n = 3 perfectly ordered: identity and reversal are as extreme, 2 of 6 orderings
    for method in ("spearman", "pearson"):
        p = permutation_p(method, np.array([1.0, 2, 3]), np.array([0.1, 0.2, 0.3]))
        assert p.kind == "exact" and p.n_permutations == 6 and p.p_value == pytest.approx(1 / 3)
    assert correlation([1e15, 1e16, 1e17], [0.1, 0.2, 0.4]).p_value == pytest.approx(1 / 3)
    # n = 9 against a brute-force count on Σd² (exact integers): |r| ≥ |r_obs| ⇔ |n(n²−1) − 6Σd²| ≥ observed
    x = np.arange(9)
    y = np.array([2, 0, 1, 4, 3, 6, 8, 5, 7])
    full = 9 * 80

    def stat(order: Sequence[int]) -> int:
        return abs(full - 6 * sum((i - v) ** 2 for i, v in enumerate(order)))

    observed = stat(y.tolist())
    brute = sum(stat(perm) >= observed for perm in itertools.permutations(range(9))) / math.factorial(9)
    p9 = permutation_p("spearman", x.astype(float), y.astype(float))
    assert p9.kind == "exact" and p9.n_permutations == 362_880 and p9.p_value == pytest.approx(brute, abs=1e-12)
    assert correlation(x, y, "spearman", n_boot=50).p_value == pytest.approx(brute, abs=1e-12)
    assert p9.p_value != pytest.approx(sps.spearmanr(x, y)[1], rel=1e-3)  # the asymptotic p is not it
    # Pearson with ties-free continuous data, n = 7, against scipy's exact pairing test
    rng = np.random.default_rng(6)
    xc, yc = rng.normal(size=7), rng.normal(size=7)
    yc += 0.8 * xc
    ref = sps.permutation_test((yc,), lambda v: abs(sps.pearsonr(xc, v)[0]), permutation_type="pairings",
                               n_resamples=np.inf, alternative="greater").pvalue
    assert permutation_p("pearson", xc, yc).p_value == pytest.approx(ref, abs=1e-12)


def test_monte_carlo_permutation_p_beyond_nine() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=9), rng.normal(size=9)
    y += 0.6 * x
    exact = permutation_p("spearman", x, y).p_value
    mc = permutation_p("spearman", x, y, exact_max_n=8)
    assert mc.kind == "monte-carlo" and mc.n_permutations >= 20_000
    assert abs(mc.p_value - exact) < 4 * math.sqrt(exact * (1 - exact) / mc.n_permutations) + 1e-4
    big = permutation_p("spearman", np.arange(12.0), np.arange(12.0))
    assert big.kind == "monte-carlo" and big.p_value == pytest.approx(1 / (1 + big.n_permutations), abs=3e-4)


def test_correlation_reports_a_checkpoint_and_a_measurement_noise_interval() -> None:
    rng = np.random.default_rng(8)
    ckpts = suite(controls=False)
    widths = []
    for nq, noise in ((40, 0.3), (2000, 0.3)):
        reps = bootstrap(simulate(rng, ckpts, n_queries=(nq,), noise_sd=noise, slope_sd=0.0), n_boot=500,
                         resample_seeds=True)
        y, y_boot = reps.scores()
        flops = [c.flops for c in ckpts]
        res = correlation_test(flops, y, "pearson", y_boot=y_boot, resampling=reps.resampling, n_boot=500)
        assert res.n == 9 and res.p_kind == "exact" and res.resampling == "queries+seeds"
        assert res.noise_low <= res.r <= res.noise_high and res.checkpoint_low <= res.r <= res.checkpoint_high
        assert "over checkpoints" in res.text() and "queries and fine-tuning seeds" in res.text()
        widths.append(res.noise_high - res.noise_low)
    assert widths[1] < 0.5 * widths[0]  # 50× the queries: measurement noise moves r much less


def isoflop_suite() -> list[ModelOnAxes]:
    """Three sizes at three matched FLOPs levels (6·N·D equal across sizes within a level)."""
    return [ModelOnAxes(f"{s}-{k}", s, n, 2e13 * 4**k / n) for s, n in SIZES.items() for k in range(3)]


def isoflop_scores(rng: np.random.Generator, ckpts: list[ModelOnAxes], *, size_effect: float, n_queries: int,
                   noise_sd: float) -> PerQueryScores:
    u = rng.normal(0, 0.1, n_queries)
    arr = np.stack([0.1 + 0.05 * math.log10(c.flops / 1e14) + size_effect * math.log10(c.n_params / 1e6) + u
                    + rng.normal(0, noise_sd, (2, n_queries)) for c in ckpts])
    return PerQueryScores(tuple(ckpts), {"t": arr})


@pytest.mark.parametrize(("size_effect", "n_queries", "noise_sd", "outcome"),
                         [(0.0, 1000, 0.03, "holds"), (0.05, 1000, 0.03, "fails"), (0.0, 30, 0.3, "inconclusive")])
def test_isoflop_verdict_has_three_outcomes(size_effect: float, n_queries: int, noise_sd: float,
                                            outcome: str) -> None:
    rng = np.random.default_rng(9)
    ckpts = isoflop_suite()
    reps = bootstrap(isoflop_scores(rng, ckpts, size_effect=size_effect, n_queries=n_queries, noise_sd=noise_sd),
                     n_boot=600, resample_seeds=True)
    v = isoflop_verdict(reps, tolerance=0.1)
    assert v.n_pairs == 9 and v.n_checkpoints == 9 and v.outcome == outcome, v.text()
    assert all(p["bigger_size"] != p["smaller_size"] and abs(p["dlog10_flops"]) <= 0.1 for p in v.pairs)
    assert v.margin == pytest.approx(0.1 * v.flops_spread) and v.text().startswith(outcome)
    if outcome == "fails":
        assert v.low > v.margin and "bigger" in v.reason
    if outcome == "holds":
        assert -v.margin < v.low <= v.effect <= v.high < v.margin


def test_isoflop_without_enough_pairs_is_inconclusive() -> None:
    rng = np.random.default_rng(10)
    reps = bootstrap(isoflop_scores(rng, isoflop_suite(), size_effect=0.0, n_queries=500, noise_sd=0.01),
                     n_boot=200)
    assert isoflop_verdict(reps, tolerance=0.1, min_pairs=10).outcome == "inconclusive"
    apart = isoflop_verdict(bootstrap(simulate(rng, suite(tpp=(20,)), n_queries=(50,)), n_boot=100),
                            tolerance=0.05)
    assert apart.outcome == "inconclusive" and apart.n_pairs == 0 and "no pairs" in apart.text()


def test_extrapolation_warning_beyond_one_decade_either_side() -> None:
    data = [1e14, 3e15, 1e16]
    assert extrapolation_warning(data, 5e16) is None and extrapolation_warning(data, 1e17) is None
    assert extrapolation_warning(data, 1.5e13) is None
    above = extrapolation_warning(data, 1e18)
    assert above is not None and "2.0 decades above" in above
    below = extrapolation_warning(data, 5e12)
    assert below is not None and "below" in below


def test_icl_items_are_one_seed_per_checkpoint() -> None:
    ckpts = suite(controls=False)
    rng = np.random.default_rng(11)
    items = {"hellaswag": {c.name: 0.25 + 0.01 * math.log10(c.flops) + rng.normal(0, 0.1, 500) for c in ckpts}}
    reps = bootstrap(PerQueryScores.from_items(ckpts, items), n_boot=200, resample_seeds=True)
    assert set(reps.n_seeds.values()) == {1} and reps.boot.shape == (200, 9, 1)
    # one seed: nothing to redraw, so the hierarchical bootstrap is as wide as the query bootstrap
    plain = bootstrap(PerQueryScores.from_items(ckpts, items), n_boot=200)
    assert np.allclose(reps.point, plain.point)
    assert np.allclose(reps.boot.std(axis=0), plain.boot.std(axis=0), rtol=0.25)
    assert np.allclose(reps.boot.std(axis=0), 0.1 / math.sqrt(500), rtol=0.25)
