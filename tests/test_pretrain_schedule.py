"""WSD schedule shape and the suite's step budgets."""

from __future__ import annotations

from itertools import pairwise

import pytest

from retscale.errors import UserError
from retscale.pretrain.schedule import WsdSchedule
from retscale.pretrain.suite import SUITES, get_suite


def test_wsd_shape() -> None:
    s = WsdSchedule(peak_lr=1e-3, warmup_steps=10, decay_start=60, total_steps=100)
    lrs = [s.lr(i) for i in range(100)]
    assert lrs[0] == pytest.approx(1e-4)
    assert all(a < b for a, b in pairwise(lrs[:10]))  # warmup rises
    assert lrs[9] == pytest.approx(1e-3)
    assert set(lrs[10:61]) == {1e-3}  # stable
    assert all(a > b for a, b in pairwise(lrs[60:]))  # decay falls
    assert 0 < lrs[99] < 0.2e-3
    assert s.lr(100) == 0.0  # reaches zero exactly at the budget
    # 1 - sqrt: half-way through the decay the LR is 1 - sqrt(0.5) of peak
    assert s.lr(80) == pytest.approx(1e-3 * (1 - 0.5**0.5))


def test_wsd_rejects_inconsistent_steps() -> None:
    with pytest.raises(ValueError):
        WsdSchedule(peak_lr=1e-3, warmup_steps=10, decay_start=5, total_steps=100)


def test_trunk_is_shared_by_branches() -> None:
    for spec in SUITES.values():
        for size in spec.sizes:
            cks = [c for c in spec.checkpoints() if c.size == size]
            assert len({c.warmup_steps for c in cks}) == 1
            starts = [c.decay_start for c in cks]
            assert starts == sorted(starts)
            for c in cks:
                assert c.tokens >= c.ratio * c.n_params
                assert c.tokens - c.ratio * c.n_params < spec.tokens_per_step
                # two branches agree on every step before the earlier one's decay
                other = cks[-1].schedule(spec.peak_lr)
                mine = c.schedule(spec.peak_lr)
                assert all(mine.lr(i) == other.lr(i) for i in range(c.decay_start))


def test_reference_suite_keeps_the_papers_proportions() -> None:
    """Issue 11: every checkpoint at ≥ 20 tokens/param, ≥ 3 sizes, one size at ≥ 4 durations over ≥ 1 decade of D
    (per-size ratios: only that size carries the long budgets), a vocabulary well above 1,024."""
    full = SUITES["full"]
    cks = full.checkpoints()
    assert len(full.sizes) >= 3 and full.vocab_size >= 4096
    assert all(c.tokens / c.n_params >= 20 for c in cks)
    by_size = {s.name: [c for c in cks if c.size == s] for s in full.sizes}
    longest = max(by_size.values(), key=len)
    assert len(longest) >= 4 and longest[-1].tokens / longest[0].tokens >= 10
    assert [len(v) for v in by_size.values()] == [4, 1, 1]  # the others train to the suite's ratio only
    assert {c.ratio for v in list(by_size.values())[1:] for c in v} == set(full.ratios)
    mini = SUITES["mini"]
    assert len(mini.sizes) >= 2 and len(mini.ratios) >= 3
    with pytest.raises(UserError):
        get_suite("nope")


def test_a_size_with_empty_or_non_positive_ratios_is_refused() -> None:
    from retscale.pretrain.model import SizeSpec

    for bad in ((), (20.0, 0.0), (-1.0,)):
        with pytest.raises(ValueError, match="ratios"):
            SizeSpec("d64", d_model=64, n_layers=2, n_heads=2, ratios=bad)
    assert SizeSpec("d64", d_model=64, n_layers=2, n_heads=2, ratios=(20.0,)).ratios == (20.0,)
