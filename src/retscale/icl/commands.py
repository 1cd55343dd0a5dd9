"""``retscale icl``: score a causal LM on the MosaicML Eval Gauntlet (offline data) and print a table."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "in-context learning scores (MosaicML Eval Gauntlet v0.3, offline)"
DESCRIPTION = (
    "Score a causal LM (HF folder, .gguf, retscale checkpoint, or alias such as smollm2-135m-instruct) on the "
    "Eval Gauntlet tasks (the gauntlet's data sources: the offline data folder or a mirror, else fetched on first "
    "use; see 'retscale data list'). Writes OUTPUT/icl.json (per-task accuracies, "
    "gauntlet category scores, core_average, missing tasks, provenance) and a per-item cache for resuming. "
    "Task sets: gauntlet-v0.3 (all benchmarks), tiny (piqa, arc_easy, copa, hellaswag: tasks where very small "
    "models can beat chance), or comma-separated labels from tasks_v0.3.yaml."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder, .gguf file, or alias")
    parser.add_argument("--revision", default=None,
                        help="hub branch, tag or commit of --model (e.g. step13000 for Pythia; unset: the default branch)")
    parser.add_argument("--tasks", default="tiny", help="gauntlet-v0.3 | tiny | label,label,...")
    parser.add_argument("--output", required=True, help="output folder (icl.json + cache/)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items of each task (per category)")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    parser.add_argument("--max-seq-len", type=int, default=None,
                        help="context window (default: the model's, capped at 2048)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a busy shared CPU, 1 is often much faster than several)")


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}"


def format_table(result: Any) -> str:
    lines = [f"{'task':32} {'k':>3} {'n':>6} {'accuracy':>9} {'score':>8}  category"]
    bench = result.gauntlet["benchmarks"]
    for label, res in result.tasks.items():
        b = bench.get(label, {})
        lines.append(f"{label:32} {res['num_fewshot']:>3} {res['n_items']:>6} {_fmt(res['accuracy']):>9} "
                     f"{_fmt(b.get('score')):>8}  {b.get('category', '(not in gauntlet)')}")
    for label in result.missing_tasks:
        lines.append(f"{label:32} {'':>3} {'':>6} {'missing':>9} {'':>8}  (no offline data)")
    lines.append("")
    for name, cat in result.gauntlet["categories"].items():
        if cat["score"] is None:
            note = "  (no benchmark of this category was run)"
        else:
            note = "" if cat["complete"] else f"  partial: without {', '.join(cat['benchmarks_missing'])}"
        lines.append(f"{name:32} {_fmt(cat['score']):>9}{note}")
    for name, avg in result.gauntlet["averages"].items():
        note = "complete" if avg["complete"] else (
            f"covers {len(avg['categories_covered'])} categories"
            + (f"; no data: {', '.join(avg['categories_without_data'])}" if avg["categories_without_data"] else "")
            + (f"; partial: {', '.join(avg['categories_partial'])}" if avg["categories_partial"] else ""))
        lines.append(f"{name:32} {_fmt(avg['score']):>9}  ({note})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from retscale.icl.runner import run_icl

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)

    from retscale.runtime import distributed

    with distributed() as ctx:  # under torchrun the ranks share the items; rank 0 writes and prints
        result = run_icl(args.model, args.tasks, args.output, limit=args.limit, batch_size=args.batch_size,
                         max_seq_len=args.max_seq_len, revision=args.revision, ctx=ctx)
    if not ctx.is_main:
        return 0
    print(format_table(result))
    print(f"\nwrote {result.output_path}")
    return 0
