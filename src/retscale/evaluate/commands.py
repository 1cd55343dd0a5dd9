"""``retscale evaluate``: zero-shot retrieval on BEIR tasks for a model (or BM25)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate a model (or bm25) as a retriever on BEIR tasks"
DESCRIPTION = (
    "Embed each task's corpus and queries with MODEL (a Hugging Face name, a local folder, a .gguf file, or 'bm25'), "
    "run exact cosine search, and score with pytrec_eval (nDCG@1/3/5/10/100, MAP@10/100, Recall@10/100/1000, P@10, "
    "MRR@10). Prints a table and writes DIR/<task>.json with metrics and provenance (a second task folder of the "
    "same name gets DIR/<task>-<hash of its path>.json). Corpus embeddings are cached "
    "on disk and reused. Shard encoding over processes with: "
    "torchrun --no-python --nproc_per_node N retscale evaluate ..."
)

TABLE_COLUMNS = (("nDCG@10", "ndcg_at_10"), ("MAP@100", "map_at_100"), ("R@100", "recall_at_100"),
                 ("MRR@10", "mrr_at_10"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model name/path, .gguf file, or 'bm25'")
    parser.add_argument("--revision", default=None,
                        help="hub branch, tag or commit of --model (e.g. step13000 for Pythia; unset: the default branch)")
    parser.add_argument("--tasks", default="scifact",
                        help="comma-separated registry names (or groups) and/or paths to BEIR folders or zips")
    parser.add_argument("--output", required=True, type=Path, help="folder for <task>.json results")
    parser.add_argument("--split", default=None, help="qrels split (None = the task's evaluation split)")
    from retscale.models.pooling import POOLINGS

    parser.add_argument("--pooling", choices=POOLINGS, default=None,
                        help="pooling (None = the model's sentence-transformers config, else mean)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="max tokens per text (None = the model's own; 128 for decoders)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="texts of max length per forward pass (shorter texts: same token budget)")
    parser.add_argument("--query-prefix", default="", help="text prepended to every query")
    parser.add_argument("--passage-prefix", default="", help="text prepended to every passage")
    parser.add_argument("--top-k", type=int, default=1000, help="documents retrieved per query")
    parser.add_argument("--score", choices=("cos", "dot"), default="cos", help="similarity for dense search")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32")
    parser.add_argument("--no-cache", action="store_true", help="re-encode the corpus and recompute results")


def format_table(rows: list[tuple[str, dict[str, float], dict]]) -> str:
    header = f"{'task':<22}" + "".join(f"{title:>9}" for title, _ in TABLE_COLUMNS) + f"{'seconds':>9}"
    lines = [header, "-" * len(header)]
    for task, metrics, timings in rows:
        cells = "".join(f"{metrics[key]:>9.4f}" for _, key in TABLE_COLUMNS)
        lines.append(f"{task:<22}{cells}{timings.get('total_seconds', 0.0):>9.1f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from retscale.data import load_task
    from retscale.data.registry import expand_tasks
    from retscale.errors import UserError
    from retscale.evaluate.retrievers import make_retriever
    from retscale.evaluate.runner import evaluate_task
    from retscale.fileio import stable_hash
    from retscale.runtime import distributed

    tasks = expand_tasks([t.strip() for t in args.tasks.split(",") if t.strip()])
    if not tasks:
        raise UserError("no tasks given", fix="e.g. --tasks scifact,arguana")
    if args.top_k < 1 or args.batch_size < 1:
        raise UserError("--top-k and --batch-size must be positive")
    with distributed() as ctx:
        retriever = make_retriever(args.model, pooling=args.pooling, max_length=args.max_length,
                                   batch_size=args.batch_size, query_prefix=args.query_prefix,
                                   passage_prefix=args.passage_prefix, dtype=args.dtype, score=args.score,
                                   use_cache=not args.no_cache, ctx=ctx, revision=args.revision)
        rows = []
        names: set[str] = set()
        for task in tasks:
            dataset = load_task(task, args.split)
            # Two folders named alike (a/tiny, b/tiny) must not share one result file.
            name = dataset.name
            if name in names:
                name = f"{name}-{stable_hash(str(dataset.source), length=8)}"
            names.add(name)
            result = evaluate_task(retriever, dataset, args.output, top_k=args.top_k, reuse=not args.no_cache,
                                   result_name=name)
            if ctx.is_main:
                rows.append((name, result.metrics, result.provenance.get("timings", {})))
                print(f"{name}: nDCG@10 {result.metrics['ndcg_at_10']:.4f} -> {result.path}", flush=True)
    if ctx.is_main:
        print(format_table(rows))
    return 0
