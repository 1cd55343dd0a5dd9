"""``retscale pretrain``: plan or train a checkpoint suite (smoke, mini, full)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

HELP = "pretrain a suite of tiny Llama-style decoders across sizes × token-per-parameter ratios"
DESCRIPTION = (
    "Train every (size, ratio) checkpoint of a suite preset into DIR/<checkpoint>/ (a Hugging Face model + "
    "tokenizer + retscale_checkpoint.json with N, D, FLOPs and losses). Resumable: re-run the same command after "
    "an interruption; finished checkpoints are skipped. --plan prints N, D, FLOPs and estimated time first.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", help="suite preset: smoke, mini or full")
    parser.add_argument("--plan", action="store_true",
                        help="print each checkpoint's N, D, ratio, FLOPs and estimated wall time, then exit")
    parser.add_argument("--no-probe", action="store_true", help="with --plan: skip the throughput probe")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads; unset: torch default (one per core). 1 is faster when other jobs share the CPU")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the decoder (a speed setting; needs a C++ compiler); unset: the suite's "
                             "own setting (on in full)")
    parser.add_argument("--output", type=Path, default=None,
                        help="output folder; unset: $RETSCALE_HOME/pretrain/suites/SUITE")


def run(args: argparse.Namespace) -> int:
    from retscale.pretrain.plan import format_plan, plan_suite
    from retscale.pretrain.suite import get_suite
    from retscale.settings import cache_dir

    spec = get_suite(args.suite)
    if args.threads:
        spec = dataclasses.replace(spec, threads=args.threads)
    if args.compile is not None:
        spec = dataclasses.replace(spec, compile=args.compile)
    print(format_plan(spec, plan_suite(spec, probe=not args.no_probe)))
    if args.plan:
        return 0
    from retscale.pretrain.train import pretrain_suite

    output = args.output or cache_dir("pretrain") / "suites" / spec.name
    infos = pretrain_suite(spec, output)
    print(f"\n{len(infos)} checkpoints in {output}")
    print(f"{'checkpoint':<14}{'N':>11}{'D':>13}{'D/N':>7}{'6ND':>11}{'train':>8}{'heldout':>9}{'epochs':>8}{'wall':>8}")
    for i in infos:
        print(f"{i.name:<14}{i.n_params:>11,}{i.tokens:>13,}{i.tokens_per_param:>7.1f}{i.flops_6nd:>11.2e}"
              f"{i.train_loss or float('nan'):>8.3f}{i.heldout_loss or float('nan'):>9.3f}"
              f"{i.epochs or 0:>8.2f}{i.wall_seconds or 0:>7.0f}s")
    return 0
