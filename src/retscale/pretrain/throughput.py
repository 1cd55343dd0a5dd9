"""Quick measurements on this machine: training tokens/s per size and, against the fp32 matmul peak
(``flops.measure_matmul_flops``), MFU.

The CPU here is shared and its speed drifts by up to 2× within a minute (the 1024² matmul has been measured at
230–445 GFLOP/s minutes apart). A peak measured once and steps timed afterwards then put that drift into the MFU.
With ``paired_peak`` the peak is re-measured (best of a short burst) after every timed step, and each step is
divided by the higher of the two peaks around it: the conservative choice, the same "best observed" peak as before,
taken at the step's own moment.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from retscale.errors import UserError
from retscale.flops import DecoderShape, measure_matmul_flops, training_flops_per_token
from retscale.pretrain.loss import next_token_loss
from retscale.pretrain.model import build_model

PAIRED_PEAK_SECONDS = 0.2  # each peak burst: long enough for several 1024² matmuls, short beside a step pair


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads (None: leave torch's setting), restoring the previous count."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def compiler_failures_reported(suite: str, compiled: bool) -> Iterator[None]:
    """Run a block that may build ``torch.compile`` kernels; if ``compiled`` and the compiler cannot build them (no
    C++ compiler, say), raise the one-line user error: ``compile`` is a speed setting in no cache key, so turning it
    off resumes the same run. Any other error, and any error of an eager block, passes through unchanged."""
    from torch._dynamo.exc import BackendCompilerFailed
    from torch._inductor.exc import InductorError

    try:
        yield
    except (BackendCompilerFailed, InductorError) as error:
        if not compiled:
            raise
        lines = str(error).strip().splitlines()
        raise UserError(f"torch.compile failed for suite {suite!r}: {lines[0] if lines else type(error).__name__}",
                        fix="install a C++ compiler, or turn compile off: `retscale pretrain --no-compile`, or "
                            "checkpoints.suite_options.compile: false in the study config (the run resumes)"
                        ) from None


@dataclass(frozen=True)
class TrainingSpeed:
    """Median training tokens/s over the timed steps; with a paired peak, the median MFU over the steps, its
    quartiles and the range of the peaks measured (FLOP/s)."""

    tokens_per_second: float
    mfu: float | None = None
    mfu_quartiles: tuple[float, float] | None = None
    peak_range: tuple[float, float] | None = None


def probe_training_speed(shape: DecoderShape, batch_size: int, steps: int = 3, warmup: int = 1, *,
                         compile: bool = False, paired_peak: bool = False,
                         loss_fn: Callable[..., torch.Tensor] = next_token_loss) -> TrainingSpeed:
    """Time ``steps`` training steps (forward, backward, AdamW step) on random tokens after ``warmup`` untimed ones.
    ``compile``: as pretraining with the suite option ``compile`` (the first steps, which compile, are warmup).
    ``paired_peak``: also MFU, each step against the peak measured right around it (module docstring).
    ``loss_fn(model, batch, decoder=...)``: the pretraining loss by default; a benchmark passes another to compare."""
    model = build_model(shape, eos_token_id=0, pad_token_id=1, seed=0)
    decoder = torch.compile(model.get_decoder()) if compile else None
    warmup = max(warmup, 2) if compile else warmup
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randint(0, shape.vocab_size, (batch_size, shape.seq_len + 1))
    step_flops = training_flops_per_token(shape) * batch.shape[0] * shape.seq_len
    times: list[float] = []
    ratios: list[float] = []
    peaks: list[float] = []
    for i in range(warmup + steps):
        if paired_peak and i == warmup:
            peaks.append(measure_matmul_flops(seconds=PAIRED_PEAK_SECONDS))
        t0 = time.perf_counter()
        loss = loss_fn(model, batch, decoder=decoder)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i < warmup:
            continue
        times.append(time.perf_counter() - t0)
        if paired_peak:
            peaks.append(measure_matmul_flops(seconds=PAIRED_PEAK_SECONDS))
            ratios.append(step_flops / times[-1] / max(peaks[-2], peaks[-1]))
    tok_s = batch_size * shape.seq_len / statistics.median(times)
    if not paired_peak:
        return TrainingSpeed(tok_s)
    quartiles = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else [ratios[0]] * 3
    return TrainingSpeed(tok_s, statistics.median(ratios), (quartiles[0], quartiles[2]), (min(peaks), max(peaks)))
