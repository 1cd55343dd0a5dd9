"""`retscale report RUN_DIR`: rebuild report.html, figures and tables from a study's results store alone."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "rebuild a study's HTML report, figures and CSV tables from its results store"
DESCRIPTION = HELP + ". Needs only RUN_DIR/results.sqlite; nothing is recomputed."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="output folder of a `retscale study` run")
    parser.add_argument("--publish", metavar="DIR", type=Path, default=None,
                        help="also copy report.html, results.csv, config.json, tables/ and figures/ (no models "
                             "or caches) into DIR, e.g. docs/results/full")


def run(args: argparse.Namespace) -> int:
    from retscale.report.html import build_report
    from retscale.study.store import open_store

    with open_store(args.run_dir, readonly=True) as store:
        store.export_csv(args.run_dir / "results.csv")
        store.export_parquet(args.run_dir / "results.parquet")
        for note in store.status().notes():
            print(f"note: {note}")
    print(build_report(args.run_dir))
    if args.publish is not None:
        from retscale.report.publish import publish

        written = publish(args.run_dir, args.publish)
        print(f"published {len(written)} files to {args.publish}")
    return 0
