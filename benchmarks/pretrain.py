"""Pretraining throughput: tokens/s and MFU per preset model size, on this machine.

Each size runs with its preset's vocab, sequence length and batch (the two extra sizes use ``mini``'s).
MFU = training FLOPs per token (retscale.flops "full" count: incl. attention scores and the LM head) × tokens/s,
divided by the fp32 matmul peak measured in the same process with the same thread count (a 1024² matmul). Two
larger sizes (3.7M and 12M params), not in any preset, show where MFU ends up once matmuls dominate.
The CPU is shared with other jobs: every number is noisy; the peak is re-measured next to each size.
``--full-logits`` adds, per size and in the same minute, the plain loss (the whole ``tokens × vocabulary`` logits
tensor, then ``F.cross_entropy``) that pretraining used before ``retscale.pretrain.loss``, and the speed-up.

    python benchmarks/pretrain.py [--threads 1 2] [--steps 4] [--suites full] [--full-logits]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from retscale.flops import measure_matmul_flops, param_counts, training_flops_per_token
from retscale.pretrain.model import SizeSpec
from retscale.pretrain.suite import SUITES, SuiteSpec
from retscale.pretrain.throughput import probe_tokens_per_second, torch_threads
from retscale.runtime import reuse_freed_memory

EXTRA = {"256x4": SizeSpec("d256x4", d_model=256, n_layers=4, n_heads=4),
         "384x6": SizeSpec("d384x6", d_model=384, n_layers=6, n_heads=6)}
# candidate shapes of the next reference design (issue 11): vocabulary above 1,024, widths 96–192
CANDIDATES = {"v4096-96x3": (SizeSpec("d96x3", d_model=96, n_layers=3, n_heads=3), 4096),
              "v4096-128x2": (SizeSpec("d128x2", d_model=128, n_layers=2, n_heads=4), 4096),
              "v4096-128x4": (SizeSpec("d128x4", d_model=128, n_layers=4, n_heads=4), 4096),
              "v8192-128x4": (SizeSpec("d128x4", d_model=128, n_layers=4, n_heads=4), 8192),
              "v4096-192x3": (SizeSpec("d192x3", d_model=192, n_layers=3, n_heads=6), 4096)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES),
                        help="only these suites' sizes (default: every suite, plus two larger sizes)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step (suite option)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc at its defaults (the CLI applies runtime.reuse_freed_memory)")
    parser.add_argument("--candidates", action="store_true",
                        help="the candidate shapes of the next reference design instead of the presets' sizes")
    parser.add_argument("--full-logits", action="store_true",
                        help="also time the plain full-logits loss, alternating with the blocked one")
    args = parser.parse_args()
    if not args.default_malloc:
        reuse_freed_memory()  # as every retscale command does
    sizes: dict[tuple[int, int, int, int] | str, tuple[SizeSpec, SuiteSpec]] = {}
    for suite in (SUITES[name] for name in args.suites):
        for size in suite.sizes:  # one row per shape, vocabulary and batch (full's d64 is not mini's d64)
            sizes.setdefault((size.d_model, size.n_layers, suite.vocab_size, suite.batch_size), (size, suite))
    extra = {} if args.suites != list(SUITES) else EXTRA
    for name, size in extra.items():
        sizes[name] = (size, SUITES["mini"])
    if args.candidates:
        import dataclasses

        sizes = {name: (size, dataclasses.replace(SUITES["full"], name=name, vocab_size=vocab))
                 for name, (size, vocab) in CANDIDATES.items()}
    print(f"fp32, torch {torch.__version__}; peak = 1024² fp32 matmul at the same thread count")
    print(f"{'size':<8}{'preset':<7}{'batch':>9}{'vocab':>6}{'threads':>8}{'N':>12}{'head':>6}{'tok/s':>9}"
          f"{'GFLOP/s':>9}{'peak':>7}{'MFU':>6}")
    for key, (size, suite) in sizes.items():
        preset = "-" if key in EXTRA or args.candidates else suite.name
        shape = size.shape(suite.vocab_size, suite.seq_len)
        n = param_counts(shape).total
        head_share = 2 * shape.d_model * shape.vocab_size / (training_flops_per_token(shape) / 3)
        for threads in args.threads:
            with torch_threads(threads):
                peak = measure_matmul_flops()
                tok_s = probe_tokens_per_second(shape, suite.batch_size, steps=args.steps, compile=args.compile)
                plain = probe_tokens_per_second(shape, suite.batch_size, steps=args.steps, compile=args.compile,
                                                loss_fn=full_logits_loss) if args.full_logits else None
            achieved = training_flops_per_token(shape) * tok_s
            batch = f"{suite.batch_size}×{suite.seq_len}"
            print(f"{size.d_model}x{size.n_layers:<4}{preset:<7}{batch:>9}{suite.vocab_size:>6}{threads:>8}{n:>12,}"
                  f"{head_share:>6.0%}{tok_s:>9,.0f}{achieved / 1e9:>9.1f}{peak / 1e9:>7.1f}{achieved / peak:>6.0%}")
            if plain is not None:
                plain_flops = training_flops_per_token(shape) * plain
                print(f"{'  full logits':<41}{plain:>9,.0f}{plain_flops / 1e9:>9.1f}{peak / 1e9:>7.1f}"
                      f"{plain_flops / peak:>6.0%}  blocked loss ×{tok_s / plain:.2f}")


def full_logits_loss(model: torch.nn.Module, batch: torch.Tensor, decoder: torch.nn.Module | None = None
                     ) -> torch.Tensor:
    """The loss as pretraining computed it before ``retscale.pretrain.loss``: all logits at once."""
    hidden = (decoder or model.get_decoder())(input_ids=batch[:, :-1]).last_hidden_state
    logits = model.get_output_embeddings()(hidden)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


if __name__ == "__main__":
    main()
