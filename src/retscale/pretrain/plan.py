"""``retscale pretrain --plan``: every checkpoint's N, D, ratio, FLOPs and estimated wall time, before any training.

Wall time comes from a throughput probe per size on this machine (a few training steps on random tokens). The time
to *train* a checkpoint counts only what it adds to its size's shared trunk (see :mod:`retscale.pretrain.train`):
its stretch of trunk since the previous branch point plus its own decay branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from retscale.pretrain.suite import PlannedCheckpoint, SuiteSpec


@dataclass(frozen=True)
class PlanRow:
    checkpoint: PlannedCheckpoint
    steps_to_train: int  # trunk stretch + decay branch
    tokens_per_second: float | None
    est_seconds: float | None


def plan_suite(spec: SuiteSpec, probe: bool = True) -> list[PlanRow]:
    """The suite's checkpoints with their compute; with ``probe``, estimated seconds from measured tokens/s."""
    rows = []
    speed: dict[str, float] = {}
    previous_branch: dict[str, int] = {}
    for ck in spec.checkpoints():
        if probe and ck.size.name not in speed:
            from retscale.pretrain.throughput import (
                compiler_failures_reported,
                probe_training_speed,
                torch_threads,
            )

            with torch_threads(spec.threads), compiler_failures_reported(spec.name, compiled=spec.compile):
                speed[ck.size.name] = probe_training_speed(ck.shape, spec.batch_size,
                                                           compile=spec.compile).tokens_per_second
        start = previous_branch.get(ck.size.name, 0)
        previous_branch[ck.size.name] = ck.decay_start
        steps = (ck.decay_start - start) + (ck.steps - ck.decay_start)
        tok_s = speed.get(ck.size.name)
        est = steps * spec.tokens_per_step / tok_s if tok_s else None
        rows.append(PlanRow(ck, steps, tok_s, est))
    return rows


def format_plan(spec: SuiteSpec, rows: list[PlanRow]) -> str:
    head = (f"suite {spec.name}: {len(rows)} checkpoints, batch {spec.batch_size}×{spec.seq_len} tokens, "
            f"vocab {spec.vocab_size}, WSD schedule (peak LR {spec.peak_lr:g}, decay {spec.decay_fraction:.0%})")
    lines = [head, f"{'checkpoint':<14}{'N':>11}{'N_nonemb':>11}{'D':>13}{'D/N':>8}{'6ND':>11}{'full':>11}"
                   f"{'steps':>8}{'tok/s':>9}{'est':>9}"]
    total = 0.0
    for r in rows:
        ck = r.checkpoint
        est = "?" if r.est_seconds is None else _duration(r.est_seconds)
        tok_s = "?" if r.tokens_per_second is None else f"{r.tokens_per_second:,.0f}"
        total += r.est_seconds or 0.0
        lines.append(f"{ck.name:<14}{ck.n_params:>11,}{ck.n_params_non_embedding:>11,}{ck.tokens:>13,}"
                     f"{ck.tokens / ck.n_params:>8.1f}{ck.flops_6nd:>11.2e}{ck.flops_full:>11.2e}"
                     f"{r.steps_to_train:>8,}{tok_s:>9}{est:>9}")
    if any(r.est_seconds is not None for r in rows):
        lines.append(f"estimated total: {_duration(total)} (+ corpus build on first use; the CPU is shared, so "
                     "expect noise)")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"
