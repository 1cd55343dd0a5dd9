"""EXPERIMENTS.md §14: is training full's d64 bit-reproducible run to run, eager and compiled? 60 AdamW steps on
fixed random batches, each mode twice, 2 threads; prints the largest weight difference between the two runs.

    python docs/results/experiments/reference_rerun/determinism.py
"""

from __future__ import annotations

import torch
import torch._dynamo

from retscale.pretrain.loss import next_token_loss
from retscale.pretrain.model import build_model
from retscale.pretrain.suite import SUITES
from retscale.runtime import reuse_freed_memory


def train(compile_: bool, batches: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    spec = SUITES["full"]
    torch._dynamo.reset()
    model = build_model(spec.sizes[0].shape(spec.vocab_size, spec.seq_len), 0, 1, 0)
    decoder = torch.compile(model.get_decoder()) if compile_ else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95))
    for batch in batches:
        loss = next_token_loss(model, batch, decoder=decoder)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def main() -> None:
    reuse_freed_memory()
    spec = SUITES["full"]
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, spec.vocab_size, (spec.batch_size, spec.seq_len + 1), generator=generator)
               for _ in range(60)]
    for compile_ in (False, True):
        a, b = train(compile_, batches), train(compile_, batches)
        print(f"compile={compile_}: run-to-run max |Δ| {max(float((a[k] - b[k]).abs().max()) for k in a):.2e}")


if __name__ == "__main__":
    main()
