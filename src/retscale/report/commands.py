"""`retscale report STUDY_DIR`: rebuild report.html, figures and tables from a study's results store alone."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "rebuild a study's HTML report, figures and CSV tables from its results store"
DESCRIPTION = HELP + ". Needs only STUDY_DIR/results.sqlite; nothing is recomputed."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study_dir", metavar="STUDY_DIR", type=Path, help="output folder of a `retscale study` run")
    parser.add_argument("--publish", metavar="DIR", type=Path, default=None,
                        help="also copy report.html, results.csv, config.json, tables/ and figures/ (no models "
                             "or caches) into DIR, e.g. docs/results/full")
    parser.add_argument("--compare-to", metavar="OTHER_STUDY_DIR", type=Path, action="append", default=[],
                        help="also set this study's external models (checkpoints.models) beside that study's "
                             "pretrained suite on the tasks both evaluated (a figure and paired differences), "
                             "e.g. real decoders beside runs/full; repeatable")


def run(args: argparse.Namespace) -> int:
    from retscale.analysis.comparison import compared_models
    from retscale.report.html import build_report
    from retscale.study.names import RESULTS_CSV, RESULTS_PARQUET
    from retscale.study.store import open_store

    for other in args.compare_to:  # a wrong folder stops here, before anything is rewritten
        with open_store(other, readonly=True):
            pass
    with open_store(args.study_dir, readonly=True) as store:
        store.export_csv(args.study_dir / RESULTS_CSV)
        store.export_parquet(args.study_dir / RESULTS_PARQUET)
        for note in store.status().notes():
            print(f"note: {note}")
        if args.compare_to and not compared_models(store):
            print(f"note: --compare-to: {args.study_dir} has no external models (checkpoints.models) to set beside "
                  "another study's suite; no comparison is made")
    print(build_report(args.study_dir, compare_to=args.compare_to))
    if args.publish is not None:
        from retscale.report.publish import publish

        written = publish(args.study_dir, args.publish)
        print(f"published {len(written)} files to {args.publish}")
    return 0
