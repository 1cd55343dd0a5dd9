"""``retscale data``: fetch, inspect and list the data sets: BEIR retrieval tasks and the public sources of the
pretraining text and ICL data."""

from __future__ import annotations

import argparse
import time

HELP = "fetch, inspect and list data sets (BEIR tasks, Wikipedia, NLTK, Eval Gauntlet, HellaSwag, MMLU)"
DESCRIPTION = (
    "Manage the data sets retscale reads. 'fetch' downloads registry tasks or data sources into the cache (from "
    "RETSCALE_DATA_MIRROR, a base laid out like the offline data folder, defaulting to RETSCALE_SHARED_DATA; else "
    "the official pinned URL), verifying counts and checksums; 'info' loads a BEIR task or folder/zip and prints "
    "its counts and checksum; 'list' shows every task and source, whether it is cached and whether the mirror has "
    "it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    fetch = sub.add_parser("fetch", help="download and verify registry tasks into the cache",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fetch.add_argument("names", nargs="+", metavar="NAME",
                       help="registry task names (or 'cqadupstack', 'all') or data source names (see 'list')")
    fetch.add_argument("--force", action="store_true", help="download again even if a verified copy is cached")
    info = sub.add_parser("info", help="load a task or a BEIR folder/zip and print its counts",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    info.add_argument("name", metavar="NAME|PATH", help="registry task name, BEIR folder, or BEIR zip")
    info.add_argument("--split", default=None, help="qrels split (default: the task's evaluation split, else test)")
    sub.add_parser("list", help="list registry tasks and data sources, whether they are cached and on the mirror")
    parser.set_defaults(_data_parser=parser)


def _fetch(names: list[str], force: bool) -> int:
    from retscale.data.fetch import fetch_task
    from retscale.data.registry import TASKS, expand_tasks, get_task
    from retscale.data.source_fetch import member_paths, source_path
    from retscale.data.sources import SOURCES

    wanted = list(TASKS) if names == ["all"] else expand_tasks(names)
    done: set[str] = set()
    for name in wanted:
        if name in SOURCES:  # a public data source: found in place, cached, or fetched (--force does not apply)
            paths = member_paths(name) if SOURCES[name].form == "members" else [source_path(name)]
            for path in paths:
                print(f"{name}\t{path}")
            continue
        spec = get_task(name)
        if spec.archive_name in done:
            continue
        path = fetch_task(spec.name, force=force)
        done.add(spec.archive_name)
        print(f"{spec.archive_name}\t{path}")
    return 0


def _info(name: str, split: str | None) -> int:
    from retscale.data.fetch import load_task

    start = time.perf_counter()
    ds = load_task(name, split)
    seconds = time.perf_counter() - start
    spec = ds.spec
    rows = [
        ("name", ds.name),
        ("source", str(ds.source)),
        ("split", ds.split),
        ("checksum", ds.checksum),
        ("docs", f"{len(ds.corpus):,}"),
        ("queries", f"{len(ds.queries):,} evaluated (with qrels) of {ds.all_query_count:,} in queries.jsonl"),
        ("qrels rows", f"{ds.qrels_rows:,}"),
        ("unknown-doc rows", f"{ds.unknown_doc_rows:,}"),
        ("unknown-query rows", f"{ds.unknown_query_rows:,}"),
        ("ignore_identical_ids", str(ds.ignore_identical_ids)),
    ]
    if spec is not None:
        expected = "/".join("?" if v is None else f"{v:,}" for v in (spec.docs, spec.queries, spec.qrels))
        rows.append(("registry docs/queries/qrels", f"{expected} ({spec.split})"))
        rows.append(("url", spec.url or "none (mirror only)"))
    rows.append(("load seconds", f"{seconds:.2f}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _table(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())


def _list() -> int:
    from retscale.data.fetch import mirror_status, read_manifest
    from retscale.data.registry import TASK_GROUPS, TASKS
    from retscale.data.source_fetch import source_status
    from retscale.data.sources import SOURCES
    from retscale.settings import MIRROR_SETTING, data_mirror

    mirror = data_mirror()
    print(f"mirror: {mirror} ({MIRROR_SETTING}, default RETSCALE_SHARED_DATA)" if mirror else
          f"mirror: none set ({MIRROR_SETTING} or RETSCALE_SHARED_DATA); data comes from the official URLs")
    rows = [("task", "split", "docs", "queries", "qrels", "no-self", "cached", "mirror", "source")]
    for spec in TASKS.values():
        rows.append((spec.name, spec.split, f"{spec.docs:,}" if spec.docs else "?",
                     f"{spec.queries:,}" if spec.queries else "?", f"{spec.qrels:,}" if spec.qrels else "?",
                     "yes" if spec.ignore_identical_ids else "no", "yes" if read_manifest(spec) else "no",
                     mirror_status(spec), "BEIR" if spec.url else "mirror only"))
    _table(rows, right=(2, 3, 4))
    for group, members in TASK_GROUPS.items():
        print(f"\ngroup {group}: {', '.join(members)}")
    print("no-self: results whose doc id equals the query id are dropped before scoring (MTEB convention)\n")
    rows = [("source", "path", "cached", "mirror", "licence", "official location")]
    for source in SOURCES.values():
        status = source_status(source)
        rows.append((source.name, source.path, status.cached, status.mirror, source.licence, source.url))
    _table(rows)
    print("in place: read from a local mirror folder without copying; cached: in $RETSCALE_HOME/sources")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.data_command == "fetch":
        return _fetch(args.names, args.force)
    if args.data_command == "info":
        return _info(args.name, args.split)
    if args.data_command == "list":
        return _list()
    args._data_parser.print_help()
    return 0
