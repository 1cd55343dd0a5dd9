"""Run gauntlet tasks on one causal LM: encode prompts, score or generate, cache per item, aggregate, write JSON.

Per-item results go to ``DIR/cache/<task>.<k>shot.jsonl`` (one line per item, keyed by model, task definition
and context window), so an interrupted or repeated run only computes what is missing. ``DIR/icl.json`` holds
per-task accuracies, gauntlet benchmark/category/average scores, the tasks missing offline, and provenance.
Under torchrun (a ``DistContext`` of several ranks) each rank scores every ``world_size``-th item of a chunk on
its own device, the rows are gathered, and rank 0 alone writes the cache and ``icl.json``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from retscale.errors import UserError
from retscale.fileio import sha256_file, stable_hash, write_json
from retscale.icl.generate import greedy_generate
from retscale.icl.loglik import score_requests
from retscale.icl.prompts import EncodedItem, Encoder, encode_partition, max_answer_tokens
from retscale.icl.scoring import MC_RULES, choose, gauntlet_scores, generation_correct, gold_probability
from retscale.icl.tasks import Gauntlet, IclTaskSpec, TaskData, load_gauntlet, load_task_data, load_task_specs
from retscale.runtime import DistContext, all_gather_objects, provenance

# Tasks where models under ~10M parameters can beat chance: zero/few-shot multiple choice scored by likelihood,
# where word co-occurrence alone helps (PIQA, ARC-Easy, COPA physical/causal plausibility; HellaSwag endings).
# Exact-match tasks (LAMBADA, Jeopardy, arithmetic, QA) sit at ~0 for such models and only add noise.
TINY_TASKS = ("piqa", "arc_easy", "copa", "hellaswag")
CHUNK_ITEMS = 32  # items per cache flush


@dataclass
class LoadedLM:
    """A model ready to score: the torch module, its tokenizer, and a stable id for caches and provenance."""

    model: Any
    tokenizer: Any
    model_id: str
    describe: dict[str, Any] = field(default_factory=dict)


@dataclass
class IclResult:
    output_path: Path
    tasks: dict[str, dict[str, Any]]
    gauntlet: dict[str, Any]
    missing_tasks: list[str]
    core_average: float | None
    provenance: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["output_path"] = str(self.output_path)
        return out


def load_lm(name_or_path: str | Path, revision: str | None = None) -> LoadedLM:
    from retscale.models.loading import load_causal_lm, load_tokenizer, resolve_model

    resolved = resolve_model(name_or_path, revision=revision)
    info = resolved.describe()
    # The per-item cache key holds model_id: a revision joins it when one was asked for.
    model_id = info["weights_sha256"] + (f"@{revision}" if revision else "")
    return LoadedLM(load_causal_lm(resolved), load_tokenizer(resolved), model_id, info)


def resolve_task_names(selection: str | list[str], specs: dict[str, IclTaskSpec], gauntlet: Gauntlet) -> list[str]:
    """``gauntlet-v0.3`` (every gauntlet benchmark), ``tiny``, or task labels (comma-separated or a list)."""
    names = selection.split(",") if isinstance(selection, str) else list(selection)
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if name in ("gauntlet", "gauntlet-v0.3"):
            out.extend(b.name for b in gauntlet.benchmarks)
        elif name == "tiny":
            out.extend(TINY_TASKS)
        elif name in specs:
            out.append(name)
        elif name:
            raise UserError(f"unknown ICL task {name!r}",
                            fix=f"use gauntlet-v0.3, tiny, or labels from tasks_v0.3.yaml: {', '.join(sorted(specs))}")
    if not out:
        raise UserError("no ICL tasks selected", fix="pass --tasks gauntlet-v0.3|tiny|piqa,arc_easy")
    return list(dict.fromkeys(out))


def fewshot_for(label: str, spec: IclTaskSpec, gauntlet: Gauntlet) -> int:
    for b in gauntlet.benchmarks:
        if b.name == label:
            return b.num_fewshot
    return spec.num_fewshot[0]


def _read_cache(path: Path, key: str) -> dict[tuple[str, int], dict[str, Any]]:
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.is_file():
        return done
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interrupted run (or damaged): recompute that item
                continue
            if isinstance(row, dict) and row.get("key") == key and "partition" in row and "index" in row:
                done[(row["partition"], row["index"])] = row
    return done


def _end_with_newline(path: Path) -> None:
    """After an interrupted write the cache may end mid-line; start appends on a fresh line."""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb+") as fh:
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                fh.write(b"\n")


def _evaluate_chunk(lm: LoadedLM, spec: IclTaskSpec, chunk: list[EncodedItem], batch_size: int,
                    max_new_tokens: int, window: int, bar: Any) -> list[dict[str, Any]]:
    if spec.task_type == "generation_task_with_answers":
        # llm-foundry keeps room for the answer: the prompt is left-trimmed to window - max_new_tokens
        room = max(window - max_new_tokens, 1)
        outputs = greedy_generate(lm.model, lm.tokenizer, [e.prompt[-room:] for e in chunk], max_new_tokens,
                                  batch_size, on_done=bar.update)
        return [{"output": o, "correct": generation_correct(o, e.answers, spec.early_stopping_criteria,
                                                            spec.cot_delimiter, spec.do_normalization)}
                for e, o in zip(chunk, outputs, strict=True)]
    requests = [r for e in chunk for r in e.requests]
    scores = score_requests(lm.model, requests, batch_size)
    bar.update(len(chunk))
    rows, pos = [], 0
    for e in chunk:
        item_scores, pos = scores[pos:pos + len(e.requests)], pos + len(e.requests)
        if spec.task_type == "language_modeling":
            rows.append({"correct": item_scores[0].greedy, "logprob": item_scores[0].logprob})
            continue
        texts = [r.continuation_text for r in e.requests]
        picks = {rule: choose(item_scores, texts, rule) for rule in MC_RULES}
        rows.append({"gold": e.gold, "pred": picks, "correct": picks["per_token"] == e.gold,
                     "logprobs": [s.logprob for s in item_scores], "n_tokens": [s.n_tokens for s in item_scores]})
    return rows


def _task_summary(spec: IclTaskSpec, k: int, data: TaskData, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    part_acc = {p: sum(r["correct"] for r in rs) / len(rs) for p, rs in rows.items() if rs}
    summary: dict[str, Any] = {
        "task_type": spec.task_type, "num_fewshot": k, "source": data.source,
        "source_sha256": sha256_file(data.source) if Path(data.source).is_file() else None,
        "n_items": sum(len(rs) for rs in rows.values()),
        "n_items_available": sum(len(v) for v in data.partitions.values()),
        # has_categories tasks: the mean of the per-category accuracies, as the gauntlet averages its sub-loaders
        "accuracy": sum(part_acc.values()) / len(part_acc) if part_acc else None,
    }
    if spec.has_categories:
        summary["category_accuracy"] = part_acc
    if spec.task_type in ("multiple_choice", "schema"):
        for rule, name in (("raw", "acc_raw"), ("char", "acc_char_norm"), ("per_token", "acc_per_token")):
            per = [sum(r["pred"][rule] == r["gold"] for r in rs) / len(rs) for rs in rows.values() if rs]
            summary[name] = sum(per) / len(per) if per else None
        summary["gauntlet_metric"] = "acc_per_token (lowest per-token perplexity)"
        probs = [gold_probability(r["logprobs"], r["gold"]) for rs in rows.values() for r in rs]
        summary["gold_prob"] = sum(probs) / len(probs) if probs else None
        summary["gold_prob_per_item"] = probs  # the unit an item bootstrap resamples
    return summary


def run_icl(model: str | Path | LoadedLM, tasks: str | list[str], output_dir: str | Path,
            limit: int | None = None, batch_size: int = 16, max_seq_len: int | None = None,
            show_progress: bool = True, tasks_yaml: Path | None = None,
            gauntlet_yaml: Path | None = None, revision: str | None = None,
            ctx: DistContext | None = None) -> IclResult:
    """Evaluate ``tasks`` and write ``output_dir/icl.json``. ``limit`` = first N items per task (per category);
    ``revision``: the hub branch, tag or commit of ``model`` when it is a hub name; ``ctx``: the torchrun ranks
    to share the items between (and this rank's device); every rank returns the same result."""
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be >= 1, got {limit}")
    specs, gauntlet = load_task_specs(tasks_yaml), load_gauntlet(gauntlet_yaml)
    labels = resolve_task_names(tasks, specs, gauntlet)
    ctx = ctx or DistContext()
    if isinstance(model, LoadedLM):
        lm = model  # on the device its caller chose
    else:
        lm = load_lm(model, revision)
        lm.model.to(ctx.device)
    window = max_seq_len or min(int(getattr(lm.model.config, "max_position_embeddings", 2048) or 2048), 2048)
    encoder = Encoder(lm.tokenizer, window)
    out_dir = Path(output_dir)
    (out_dir / "cache").mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for label in labels:
        spec = specs[label]
        data = load_task_data(spec)
        if data is None:
            missing.append(label)
            continue
        k = fewshot_for(label, spec, gauntlet)
        key = stable_hash({"model": lm.model_id, "spec": asdict(spec), "k": k, "window": window, "v": 1})
        cache_path = out_dir / "cache" / f"{label}.{k}shot.jsonl"
        done = _read_cache(cache_path, key)
        rows: dict[str, list[dict[str, Any]]] = {}
        encoded = {p: encode_partition(spec, items, k, encoder, limit) for p, items in data.partitions.items()}
        todo = [(p, e) for p, es in encoded.items() for e in es if (p, e.index) not in done]
        max_new = 0
        if spec.task_type == "generation_task_with_answers" and todo:
            max_new = max(max_answer_tokens(spec, items, encoder) for items in data.partitions.values())
        total = sum(len(es) for es in encoded.values())
        if ctx.is_main:
            _end_with_newline(cache_path)
        step = CHUNK_ITEMS * ctx.world_size
        with tqdm(total=total, initial=total - len(todo), desc=f"{label} {k}-shot", unit="item",
                  disable=not (show_progress and ctx.is_main)) as bar, \
                open(cache_path if ctx.is_main else os.devnull, "a", encoding="utf-8") as cache:  # rank 0 writes
            for start in range(0, len(todo), step):
                chunk = todo[start:start + step]
                mine = _evaluate_chunk(lm, spec, [e for _, e in chunk[ctx.rank::ctx.world_size]], batch_size,
                                       max_new, window, bar)
                shares = all_gather_objects(mine, ctx)
                new = [shares[i % ctx.world_size][i // ctx.world_size] for i in range(len(chunk))]
                bar.update(len(chunk) - len(mine))
                for (p, e), row in zip(chunk, new, strict=True):
                    row.update(key=key, partition=p, index=e.index)
                    done[(p, e.index)] = row
                    cache.write(json.dumps(row) + "\n")
                cache.flush()
        for p, es in encoded.items():
            rows[p] = [done[(p, e.index)] for e in es]
        results[label] = _task_summary(spec, k, data, rows)
        results[label]["n_items_truncated_continuation"] = sum(
            any(r.truncated for r in e.requests) for es in encoded.values() for e in es)
    scores = gauntlet_scores(results, gauntlet)
    core = scores["averages"].get("core_average", {}).get("score")
    provenance = _provenance(lm, tasks_yaml, gauntlet_yaml, labels, limit, batch_size, window, started,
                             ctx.world_size)
    result = IclResult(out_dir / "icl.json", results, scores, missing, core, provenance)
    if ctx.is_main:
        write_json(result.output_path, result.to_json())
    return result


def _provenance(lm: LoadedLM, tasks_yaml: Path | None, gauntlet_yaml: Path | None, labels: list[str],
                limit: int | None, batch_size: int, window: int, started: float,
                world_size: int) -> dict[str, Any]:
    from retscale.icl.tasks import default_yaml_dir

    tasks_yaml = tasks_yaml or default_yaml_dir() / "tasks_v0.3.yaml"
    gauntlet_yaml = gauntlet_yaml or default_yaml_dir() / "eval_gauntlet_v0.3.yaml"
    return provenance(
        model=lm.describe or {"model_id": lm.model_id}, tasks_requested=labels, limit=limit, batch_size=batch_size,
        max_seq_len=window, tasks_yaml={"path": str(tasks_yaml), "sha256": sha256_file(tasks_yaml)},
        gauntlet_yaml={"path": str(gauntlet_yaml), "sha256": sha256_file(gauntlet_yaml)},
        wall_seconds=round(time.time() - started, 2), world_size=world_size)
