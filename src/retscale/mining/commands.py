"""``retscale mine``: BM25 hard negatives for a pairs file, or a whole mined Wikipedia training set."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from retscale.errors import UserError

HELP = "mine BM25 hard negatives for training pairs (resumable)"
DESCRIPTION = (
    "For each query, BM25 top-DEPTH over a passage pool; positives, their exact/near duplicates, passages from a "
    "positive's own document and over-represented documents are skipped; queries left with fewer than "
    "--negatives follow --shortfall (default: dropped and counted). Output is canonical pairs jsonl, streamed; "
    "re-running the same command resumes. '--wiki-set DIR' instead builds pairs, pool and mined files from the "
    "offline Wikipedia sample in one go (reused when complete)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=Path, help="canonical / tevatron / FlagEmbedding jsonl")
    parser.add_argument("--pool", type=Path, help="passage jsonl: id (or _id), text, optional title and doc")
    parser.add_argument("--out", type=Path, help="mined canonical jsonl")
    parser.add_argument("--wiki-set", type=Path, metavar="DIR",
                        help="build the mined Wikipedia training set in DIR (ignores --pairs/--pool/--out)")
    parser.add_argument("--queries", type=int, default=None,
                        help="with --wiki-set: mine a seeded sample of at most this many train queries")
    parser.add_argument("--overlap", default="scifact,arguana,trec-dl19-pool",
                        help="with --wiki-set: BEIR tasks to check the mined text against ('' to skip)")
    parser.add_argument("--negatives", type=int, default=15)
    parser.add_argument("--depth", type=int, default=100, help="BM25 hits considered per query")
    parser.add_argument("--skip-top", type=int, default=0, help="skip this many top hits (likely false negatives)")
    parser.add_argument("--max-per-doc", type=int, default=1, help="negatives per source document")
    parser.add_argument("--allow-positive-docs", action="store_true",
                        help="allow negatives from a positive's own source document")
    parser.add_argument("--strategy", choices=["top", "sample"], default="top",
                        help="top: best-ranked survivors; sample: uniform among survivors")
    parser.add_argument("--shortfall", choices=["drop", "keep", "pad"], default="drop",
                        help="queries with too few negatives: drop them / keep them short / pad with random passages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-stats", action="store_true", help="skip the statistics pass over the output")


def run(args: argparse.Namespace) -> int:
    from retscale.configfile import validate
    from retscale.mining.miner import MiningConfig, mine_hard_negatives
    from retscale.pairs.stats import format_stats, pair_stats

    values = {"negatives": args.negatives, "depth": args.depth, "skip_top": args.skip_top,
              "max_per_doc": args.max_per_doc, "exclude_positive_docs": not args.allow_positive_docs,
              "strategy": args.strategy, "shortfall": args.shortfall, "seed": args.seed, "n_threads": args.threads}
    flags = {name: "--" + name.replace("_", "-") for name in values}
    flags.update(n_threads="--threads", exclude_positive_docs="--allow-positive-docs")
    cfg = validate(MiningConfig, values, path="<command line>", flags=flags)
    if args.wiki_set:
        from retscale.fileio import read_json
        from retscale.mining.training_set import build_training_set
        from retscale.pairs.wiki import WikiPairsOptions

        tasks = tuple(t.strip() for t in args.overlap.split(",") if t.strip())
        queries = validate(WikiPairsOptions, {"max_pairs": args.queries}, path="<command line>",
                           flags={"max_pairs": "--queries"})
        out = build_training_set(args.wiki_set, queries, cfg, seed=args.seed, overlap_tasks=tasks)
        stats = read_json(args.wiki_set / "stats.json")
        build = stats["build"]
        print(f"wiki pairs: train {build['pairs'].get('train', {})}, dev {build['pairs'].get('dev', {})}, "
              f"test {build['pairs'].get('test', {})}; mining pool {build['pool_passages'].get('train', 0):,} "
              f"passages; {build['articles_decontaminated']:,} train articles dropped (13-gram overlap with an "
              "evaluation text)")
        for name, rep in stats["mining"].items():
            print(f"mined {name}: {rep['written']:,} of {rep['queries_in']:,} queries written, {rep['dropped']:,} "
                  f"dropped (< {args.negatives} negatives); {rep['seconds']:.1f} s mining"
                  + (f", {(rep['queries_in'] - rep['resumed_from']) / rep['seconds']:.0f} q/s" if rep['seconds'] else ""))
        print(format_stats(stats["train"]))
        for task, counts in stats["beir_overlap"].items():
            print(f"  overlap with {task}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        print(f"training set: {out}")
        return 0
    missing = [f"--{n}" for n in ("pairs", "pool", "out") if getattr(args, n) is None]
    if missing:
        raise UserError(f"missing {', '.join(missing)}", fix="give --pairs, --pool and --out, or --wiki-set DIR")
    report = mine_hard_negatives(args.pairs, args.pool, args.out, cfg)
    done = report.queries_in - report.resumed_from
    print(f"{args.out}: {report.written:,} pairs written"
          + (f" (resumed after {report.resumed_from:,} input queries)" if report.resumed_from else "")
          + f"; this run: {done:,} queries, {report.short:,} with < {cfg.negatives} negatives "
            f"({'dropped' if cfg.shortfall == 'drop' else cfg.shortfall}); index {report.index_seconds:.1f} s, "
            f"mining {report.seconds:.1f} s ({report.queries_per_second:.0f} q/s)")
    if not args.no_stats:
        print(format_stats(pair_stats(args.out)))
    return 0
