"""`retscale study [CONFIG|PRESET] [--output DIR]`: the whole experiment, resumable, ending in a report.

``run_experiment`` = ``retscale.study.run_study`` (every stage, results.csv) then ``retscale.report.build_report``.
It lives above both packages because the study must not import the report (the report reads the study's store).
Under torchrun it joins the process group (gloo on CPU, NCCL on GPUs): every rank shares the parallel stages, rank
0 writes the study folder and the report.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retscale.study.config import StudyConfig
    from retscale.study.orchestrate import StudySummary

# How long a rank may wait in a collective: the other ranks wait for rank 0 while it alone pretrains the built-in
# suite, mines and runs BM25, which can take hours (torch's default would stop them after 30 minutes).
RANK_WAIT = timedelta(hours=24)
HELP = "run a whole scaling study (pretrain → fine-tune → BEIR → ICL → fits, figures, report); resumable"
DESCRIPTION = (
    HELP + ". CONFIG is a YAML file or a preset name (smoke, mini, full, mpt-gpu). Re-run the same command after "
    "an interruption to resume: finished stages are never recomputed. Outputs: results.sqlite, results.csv, "
    "results.parquet, report.html, figures/, tables/, study.log in the output folder.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default="mini", metavar="CONFIG|PRESET",
                        help="study config YAML, or a built-in preset")
    parser.add_argument("--output", "-o", default=None, metavar="DIR",
                        help="output folder (default: the config's `output`, else runs/<name>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to study.log)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch threads for every stage (default: one per core). Use 1 when other jobs share "
                             "the CPU: tiny models can run several times slower with 2 contended threads. Not part of "
                             "any stage key, but float rounding differs with it and tiny models amplify that (a "
                             "few hundredths of nDCG@10 in `mini`): keep one value per study")


def run_experiment(config: StudyConfig, output_dir: str | Path | None = None, *,
                   show_progress: bool = True) -> StudySummary:
    """Run (or resume) the study of ``config``, then build its report; the summary names every output. Under
    torchrun every rank calls this; rank 0's summary names the report."""
    from retscale.report.html import build_report
    from retscale.runtime import distributed
    from retscale.study.orchestrate import run_study

    with distributed(timeout=RANK_WAIT) as ctx:
        summary = run_study(config, output_dir, show_progress=show_progress, ctx=ctx)
        if ctx.is_main:
            summary.report = build_report(summary.output_dir)
    return summary


def run(args: argparse.Namespace) -> int:
    from retscale.study.config import load_config

    config, path = load_config(args.config)
    if args.threads is not None:
        import torch

        if args.threads < 1:
            from retscale.errors import UserError

            raise UserError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    summary = run_experiment(config, args.output, show_progress=not args.no_progress)
    if summary.rank != 0:  # under torchrun rank 0 speaks for every rank
        return 1 if summary.failed else 0
    print(f"study {config.name} ({path.name}): {len(summary.ran)} stages ran, {len(summary.reused)} reused, "
          f"{len(summary.failed)} failed")
    for exported in summary.exports:
        print(exported)
    if summary.report is not None:
        print(summary.report)
    if summary.failed:
        print("failed stages (see study.log and the report's 'What was missing'): " + ", ".join(summary.failed))
        return 1
    return 0
