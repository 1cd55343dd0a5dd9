"""``evaluate_task``: run a retriever on one BEIR task, score it, and write ``DIR/<task>.json``.

The JSON has top-level ``"metrics"`` (0–1 scale) and ``"provenance"``: the retriever's description (model path,
weights hash, pooling, max length, prefixes), the dataset (name, checksum, split, counts, identical-id rule),
library versions and timings. A result whose provenance key matches an existing file is reused, not recomputed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retscale.evaluate.metrics import CONTRASTIVE_ENTROPY, score_run
from retscale.fileio import read_json, stable_hash, write_json
from retscale.runtime import provenance as make_provenance

if TYPE_CHECKING:
    from retscale.data import BeirDataset

log = logging.getLogger(__name__)


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    reused: bool = False
    # per-query values (``{"qids": [...], metric: [...]}``, one value per qid): what a query bootstrap resamples
    per_query: dict[str, list[Any]] = field(default_factory=dict)


def dataset_provenance(dataset: BeirDataset) -> dict[str, Any]:
    return {"name": dataset.name, "checksum": dataset.checksum, "split": dataset.split, "source": str(dataset.source),
            "counts": dataset.counts(), "ignore_identical_ids": dataset.ignore_identical_ids}


def evaluate_task(retriever: Any, task: str | Path | BeirDataset, output_dir: str | Path, *,
                  split: str | None = None, top_k: int = 1000, reuse: bool = True,
                  result_name: str | None = None) -> TaskResult:
    """Evaluate ``retriever`` on ``task`` (registry name, BEIR path, or a loaded dataset) into ``output_dir``.

    The result goes to ``output_dir/<result_name>.json`` (default: the dataset's name).
    """
    from retscale.data import BeirDataset, load_task

    dataset = task if isinstance(task, BeirDataset) else load_task(task, split)
    description = retriever.describe()
    key = stable_hash({"retriever": description, "dataset": dataset.checksum, "split": dataset.split,
                       "top_k": top_k, "ignore_identical_ids": dataset.ignore_identical_ids})
    path = Path(output_dir) / f"{result_name or dataset.name}.json"
    if reuse and path.is_file():
        previous = read_json(path)
        if previous.get("provenance", {}).get("key") == key and "metrics" in previous:
            log.info("%s: reusing %s (same model, settings and data)", dataset.name, path)
            return TaskResult(dataset.name, previous["metrics"], previous["provenance"], path, reused=True,
                              per_query=previous.get("per_query", {}))

    start = time.perf_counter()
    run = retriever.search(dataset, top_k)
    total = time.perf_counter() - start
    ctx = getattr(retriever, "ctx", None)
    if ctx is not None and not ctx.is_main:
        return TaskResult(dataset.name, {})  # torchrun helper rank: rank 0 scores and writes
    metrics, by_query = score_run(dataset.qrels, run)
    qids = sorted(q for q in dataset.qrels if q in dataset.queries)
    per_query: dict[str, list[Any]] = {"qids": qids}
    for name, values in by_query.items():
        per_query[name] = [values.get(q, 0.0) for q in qids]
    entropy = getattr(retriever, "contrastive_entropy", None)
    if entropy is not None:  # dense retrievers: a smooth metric next to the rank-based ones
        values = entropy(dataset, qids)
        per_query[CONTRASTIVE_ENTROPY] = [float(v) for v in values]
        metrics[CONTRASTIVE_ENTROPY] = float(np.nanmean(values)) if len(values) else float("nan")
    timings = {"total_seconds": round(total, 3), **getattr(retriever, "timings", {})}
    provenance = make_provenance(key=key, retriever=description, dataset=dataset_provenance(dataset), top_k=top_k,
                                 timings=timings)
    write_json(path, {"task": dataset.name, "metrics": metrics, "provenance": provenance, "per_query": per_query})
    return TaskResult(dataset.name, metrics, provenance, path, per_query=per_query)
