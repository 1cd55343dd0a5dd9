"""Hard-negative mining throughput: queries/s mining 15 negatives from the ≥100k-passage Wikipedia pool.

    python benchmarks/mining.py [--queries 20000] [--threads 2] [--work DIR]

Builds (or reuses) the Wikipedia pairs + pool in --work, builds the BM25 index once (timed separately), then mines
the same queries three ways in one process and prints their ratios:
- ``retscale``: ``mine_hard_negatives`` (batched sparse scoring on --threads threads + all dedup rules);
- ``retscale 1 thread``: the same on one thread;
- ``bm25s retrieve``: bm25s's own per-query ``retrieve`` (numpy backend, n_threads=--threads) for the same top-100,
  scoring only, on a 2,000-query subset — the peer path the miner's batched scoring replaces.
Peak memory is the process's maximum resident set size. Target: ≥ 500 q/s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from retscale.data.source_fetch import source_path
from retscale.mining.miner import MiningConfig, PoolIndex, mine_hard_negatives
from retscale.pairs.formats import read_pairs, write_pairs
from retscale.pairs.wiki import build_wiki_pairs


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "retscale-bench-mining")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "pool.jsonl").exists():
        build_wiki_pairs(source_path("enwiki-sample"), work / "train.jsonl", work / "val.jsonl",
                         work / "pool.jsonl")
    pairs = list(read_pairs(work / "train.jsonl"))[: args.queries]
    write_pairs(work / "bench.jsonl", pairs)

    t = time.perf_counter()
    index = PoolIndex.build(work / "pool.jsonl")
    print(f"pool: {len(index.pool.ids):,} passages; index + dedup keys built in {time.perf_counter() - t:.1f} s")

    rates = {}
    for name, threads in (("retscale", args.threads), ("retscale 1 thread", 1)):
        out = work / f"mined-{threads}.jsonl"
        out.unlink(missing_ok=True)
        cfg = MiningConfig(negatives=15, n_threads=threads)
        report = mine_hard_negatives(work / "bench.jsonl", index, out, cfg, show_progress=False)
        rates[name] = len(pairs) / report.seconds
        print(f"{name:<20} {rates[name]:>8.0f} q/s  ({len(pairs):,} queries, {report.written:,} written, "
              f"{report.dropped:,} dropped, {report.seconds:.1f} s)")

    sub = [p["query"] for p in pairs[:2000]]
    t = time.perf_counter()
    index.bm25.retrieve(sub, 100, n_threads=args.threads)
    rates["bm25s retrieve"] = len(sub) / (time.perf_counter() - t)
    print(f"{'bm25s retrieve':<20} {rates['bm25s retrieve']:>8.0f} q/s  (scoring only, {len(sub):,} queries)")

    base = rates["retscale"]
    print("ratios vs retscale: " + ", ".join(f"{k} {v / base:.2f}x" for k, v in rates.items()))
    print(f"peak memory: {peak_mb():,.0f} MB; target ≥ 500 q/s: {'met' if base >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
