"""Quick measurements on this machine: training tokens/s per size (the matmul peak is ``flops.measure_matmul_flops``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import torch

from retscale.flops import DecoderShape
from retscale.pretrain.loss import next_token_loss
from retscale.pretrain.model import build_model


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


def probe_tokens_per_second(shape: DecoderShape, batch_size: int, steps: int = 3, warmup: int = 1, *,
                            compile: bool = False, loss_fn: Callable[..., torch.Tensor] = next_token_loss) -> float:
    """Training tokens/s (forward, backward, AdamW step) on random tokens; the median of ``steps`` timed steps.
    ``compile``: as pretraining with the suite option ``compile`` (the first steps, which compile, are warmup).
    ``loss_fn(model, batch, decoder=...)``: the pretraining loss by default; a benchmark passes another to compare."""
    model = build_model(shape, eos_token_id=0, pad_token_id=1, seed=0)
    decoder = torch.compile(model.get_decoder()) if compile else None
    warmup = max(warmup, 2) if compile else warmup
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randint(0, shape.vocab_size, (batch_size, shape.seq_len + 1))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = loss_fn(model, batch, decoder=decoder)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return batch_size * shape.seq_len / times[len(times) // 2]
