"""Pretraining throughput: tokens/s and MFU per preset model size, on this machine.

Each size runs with its preset's vocab, sequence length, batch and ``compile`` setting (the two extra sizes use
``mini``'s; ``--compile`` / ``--no-compile`` override). MFU = training FLOPs per token (retscale.flops "full" count:
incl. attention scores and the LM head) × tokens/s, divided by the fp32 matmul peak (a 1024² matmul, best of a short
burst) measured in the same process with the same thread count. The CPU is shared and drifts, so the peak is
re-measured after every timed step and each step is divided by the higher of the two peaks around it
(``retscale.pretrain.throughput``); the row gives the median over steps and the quartiles. Two larger sizes (3.7M
and 12M params), not in any preset, show where MFU ends up once matmuls dominate.
``--full-logits`` adds, per size and in the same minute, the plain loss (the whole ``tokens × vocabulary`` logits
tensor, then ``F.cross_entropy``) that pretraining used before ``retscale.pretrain.loss``, and the speed-up.

    python benchmarks/pretrain.py [--threads 1 2] [--steps 20] [--suites full] [--no-compile] [--full-logits]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from retscale.flops import DecoderShape, param_counts, training_flops_per_token
from retscale.pretrain.model import SizeSpec
from retscale.pretrain.suite import SUITES, SuiteSpec
from retscale.pretrain.throughput import TrainingSpeed, probe_training_speed, torch_threads
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
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES),
                        help="only these suites' sizes (default: every suite, plus two larger sizes)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the decoder or not (default: each preset's suite option compile)")
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
    print(f"fp32, torch {torch.__version__}; peak = 1024² fp32 matmul at the same thread count, re-measured after "
          "every step; MFU = median over steps [quartiles]")
    print(f"{'size':<8}{'preset':<7}{'batch':>9}{'vocab':>6}{'compile':>8}{'threads':>8}{'N':>12}{'head':>6}"
          f"{'tok/s':>9}{'GFLOP/s':>9}{'peak':>10}{'MFU [quartiles]':>24}")
    for key, (size, suite) in sizes.items():
        preset = "-" if key in EXTRA or args.candidates else suite.name
        compile_ = suite.compile if args.compile is None else args.compile
        shape = size.shape(suite.vocab_size, suite.seq_len)
        n = param_counts(shape).total
        head_share = 2 * shape.d_model * shape.vocab_size / (training_flops_per_token(shape) / 3)
        for threads in args.threads:
            with torch_threads(threads):
                speed = probe_training_speed(shape, suite.batch_size, steps=args.steps, compile=compile_,
                                             paired_peak=True)
                plain = probe_training_speed(shape, suite.batch_size, steps=args.steps, compile=compile_,
                                             paired_peak=True, loss_fn=full_logits_loss) if args.full_logits else None
            batch = f"{suite.batch_size}×{suite.seq_len}"
            print(f"{size.d_model}x{size.n_layers:<4}{preset:<7}{batch:>9}{suite.vocab_size:>6}{compile_!s:>8}"
                  f"{threads:>8}{n:>12,}{head_share:>6.0%}{_speed_columns(shape, speed)}")
            if plain is not None:
                print(f"{'  full logits':<64}{_speed_columns(shape, plain)}  blocked loss "
                      f"×{speed.tokens_per_second / plain.tokens_per_second:.2f}")


def _speed_columns(shape: DecoderShape, speed: TrainingSpeed) -> str:
    assert speed.mfu is not None and speed.mfu_quartiles is not None and speed.peak_range is not None
    low, high = speed.peak_range
    q1, q3 = speed.mfu_quartiles
    return (f"{speed.tokens_per_second:>9,.0f}{training_flops_per_token(shape) * speed.tokens_per_second / 1e9:>9.1f}"
            f"{f'{low / 1e9:.0f}–{high / 1e9:.0f}':>10}{f'{speed.mfu:.1%} [{q1:.1%}, {q3:.1%}]':>24}")

def full_logits_loss(model: torch.nn.Module, batch: torch.Tensor, decoder: torch.nn.Module | None = None
                     ) -> torch.Tensor:
    """The loss as pretraining computed it before ``retscale.pretrain.loss``: all logits at once."""
    hidden = (decoder or model.get_decoder())(input_ids=batch[:, :-1]).last_hidden_state
    logits = model.get_output_embeddings()(hidden)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


if __name__ == "__main__":
    main()
