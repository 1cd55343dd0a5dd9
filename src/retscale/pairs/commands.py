"""``retscale pairs build|stats|convert``: make, inspect and convert query→passage training pairs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "build training pairs (Wikipedia), print their statistics, convert tevatron/FlagEmbedding files"
DESCRIPTION = (
    "Training pairs in the canonical jsonl format (query_id, query, positives, negatives, source; see "
    "docs/ARCHITECTURE.md). 'build --source wiki' makes title→lead, 'title: heading'→section and "
    "sentence→rest-of-passage pairs plus passage pools from the offline Wikipedia sample, per article split "
    "(train / dev / test), with the held-out tasks wiki-dev and wiki-val; 'stats' prints counts, lengths and "
    "overlap checks; "
    "'convert' reads tevatron or FlagEmbedding jsonl and writes canonical jsonl."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pairs_command", metavar="ACTION", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    build = sub.add_parser("build", help="build pairs and a passage pool", formatter_class=fmt)
    build.add_argument("--source", choices=["wiki"], default="wiki", help="which builder")
    build.add_argument("--input", type=Path, default=None,
                       help="Wikipedia jsonl(.gz) (default: the enwiki-sample data source, fetched on first use)")
    build.add_argument("--out", type=Path, required=True,
                       help="output folder: pairs.{train,dev,test}.jsonl, pool.{train,dev,test}.jsonl, wiki-dev/, "
                            "wiki-val/")
    build.add_argument("--dev-fraction", type=float, default=0.02, help="share of articles in the dev split")
    build.add_argument("--test-fraction", type=float, default=0.02, help="share of articles in the test split")
    build.add_argument("--kinds", default="title,section,sentence", help="pair builders, comma-separated")
    build.add_argument("--no-titles", action="store_true", help="write passages without their article title")
    build.add_argument("--decontaminate", default="scifact,arguana,trec-dl19-pool",
                       help="BEIR tasks no training article may share a 13-gram with ('' for none)")
    build.add_argument("--seed", type=int, default=0, help="seed of the held-out tasks' query sample")
    build.add_argument("--max-tokens", type=int, default=128, help="approximate tokens per passage (words × 4/3)")

    stats = sub.add_parser("stats", help="counts, lengths and overlap checks of a pairs file", formatter_class=fmt)
    stats.add_argument("file", type=Path)
    stats.add_argument("--format", default="auto", choices=["auto", "canonical", "tevatron", "flagembedding"])
    stats.add_argument("--overlap", default="",
                       help="comma-separated BEIR tasks to check text overlap against, e.g. scifact,arguana")
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")

    convert = sub.add_parser("convert", help="tevatron / FlagEmbedding jsonl → canonical jsonl", formatter_class=fmt)
    convert.add_argument("file", type=Path)
    convert.add_argument("--out", type=Path, required=True)
    convert.add_argument("--format", default="auto", choices=["auto", "canonical", "tevatron", "flagembedding"])


def run(args: argparse.Namespace) -> int:
    if args.pairs_command == "build":
        return _build(args)
    if args.pairs_command == "stats":
        return _stats(args)
    from retscale.pairs.formats import read_pairs, write_pairs

    n = write_pairs(args.out, read_pairs(args.file, args.format))
    print(f"wrote {n:,} canonical pairs to {args.out}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from retscale.data.source_fetch import source_path
    from retscale.data.splits import ArticleSplit
    from retscale.errors import UserError
    from retscale.pairs.heldout import DEV_TASK_NAME, TASK_NAME, write_heldout_task
    from retscale.pairs.wiki import build_wiki_pairs, pairs_path, pool_path

    source = args.input or source_path("enwiki-sample")
    for flag, value in (("--dev-fraction", args.dev_fraction), ("--test-fraction", args.test_fraction)):
        if not 0 < value < 0.5:
            raise UserError(f"{flag} must be > 0 and < 0.5, got {value}", fix=f"set {flag}, e.g. 0.02")
    split = ArticleSplit(dev_fraction=args.dev_fraction, test_fraction=args.test_fraction)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    tasks = tuple(t.strip() for t in args.decontaminate.split(",") if t.strip())
    report = build_wiki_pairs(source, args.out, split=split, max_tokens=args.max_tokens, kinds=kinds,
                              passage_titles=not args.no_titles, decontaminate=tasks)
    print(f"{source}: {report.articles_read:,} articles, {report.articles_kept:,} kept (stubs dropped), "
          f"{report.articles_decontaminated:,} train articles dropped for sharing a 13-gram with an evaluation text")
    for part in ("train", "dev", "test"):
        counts = report.pairs.get(part, {})
        detail = ", ".join(f"{src} {n:,}" for src, n in sorted(counts.items()))
        print(f"{part:<6} {report.articles_by_split.get(part, 0):>7,} articles {sum(counts.values()):>8,} pairs "
              f"({detail}) → {pairs_path(args.out, part)}; pool {report.pool_passages.get(part, 0):,} passages")
    for name, part in ((DEV_TASK_NAME, "dev"), (TASK_NAME, "test")):
        if report.pairs.get(part):
            task = write_heldout_task(pairs_path(args.out, part), pool_path(args.out, part), args.out / name,
                                      seed=args.seed)
            print(f"{name:<8} held-out task → {task}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from retscale.pairs.formats import read_pairs
    from retscale.pairs.stats import format_stats, pair_stats

    stats = pair_stats(args.file, args.format)
    tasks = [t.strip() for t in args.overlap.split(",") if t.strip()]
    if tasks:
        from retscale.pairs.overlap import beir_overlap

        texts = {p["text"] for pair in read_pairs(args.file, args.format)
                 for p in pair["positives"] + pair["negatives"]}
        texts |= {pair["query"] for pair in read_pairs(args.file, args.format)}
        stats["beir_overlap"] = beir_overlap(sorted(texts), tasks)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(format_stats(stats))
        for task, counts in stats.get("beir_overlap", {}).items():
            print(f"  overlap with {task}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0
