"""One call from the offline Wikipedia sample to a mined training set: ``build_training_set(out_dir)``.

``out_dir`` ends up holding:

| file | what |
|---|---|
| ``pairs.train.jsonl`` / ``pairs.validation.jsonl`` | unmined canonical pairs (``retscale.pairs.wiki``) |
| ``pool.jsonl`` | every kept Wikipedia passage (``id, title, text, doc``): the mining pool |
| ``queries.train.jsonl`` | the seeded shuffle of the train pairs (first ``n_queries`` of it when given) |
| ``mined.train.jsonl`` / ``mined.validation.jsonl`` | canonical pairs with ``negatives`` BM25 hard negatives each |
| ``stats.json`` | builder counts, mining reports, ``pair_stats`` of the mined files, BEIR overlap |

Each step is skipped when its output is complete for the same settings, so a second call returns at once and an
interrupted call resumes (mining resumes mid-file).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path
from typing import Any

from retscale.fileio import read_json, write_json
from retscale.mining.miner import MiningConfig, PoolIndex, done_marker, mine_hard_negatives
from retscale.pairs.formats import read_pairs, write_pairs

log = logging.getLogger(__name__)


def _wiki_source() -> Path:
    from retscale.settings import shared_path

    return shared_path("text", "enwiki-sample.jsonl.gz")


def _build_pairs(out_dir: Path, source: Path, seed: int) -> dict[str, Any]:
    from retscale.fileio import sha256_file
    from retscale.pairs.wiki import MAX_TOKENS, build_wiki_pairs

    marker = out_dir / "pairs.build.json"
    settings = {"source": str(source), "source_sha256": sha256_file(source), "seed": seed, "max_tokens": MAX_TOKENS}
    if marker.exists() and read_json(marker).get("settings") == settings:
        return read_json(marker)
    for name in ("queries.train.jsonl", "mined.train.jsonl", "mined.validation.jsonl", "stats.json"):
        (out_dir / name).unlink(missing_ok=True)  # built from older pairs
        done_marker(out_dir / name).unlink(missing_ok=True)
    report = build_wiki_pairs(source, out_dir / "pairs.train.jsonl", out_dir / "pairs.validation.jsonl",
                              out_dir / "pool.jsonl", seed=seed)
    result = {"settings": settings, **dataclasses.asdict(report)}
    write_json(marker, result)
    return result


def _select_queries(out_dir: Path, n_queries: int | None, seed: int) -> Path:
    path = out_dir / "queries.train.jsonl"
    pairs = list(read_pairs(out_dir / "pairs.train.jsonl"))
    random.Random(seed).shuffle(pairs)  # mixes title and section queries, so any prefix is representative
    selected = pairs[:n_queries] if n_queries else pairs
    existing = [p["query_id"] for p in read_pairs(path)] if path.exists() else None
    if existing != [p["query_id"] for p in selected]:
        for mined in (out_dir / "mined.train.jsonl", done_marker(out_dir / "mined.train.jsonl")):
            mined.unlink(missing_ok=True)  # mined for another selection: start over
        write_pairs(path, selected)
    return path


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that change the output (threads and batch size do not)."""
    return {k: v for k, v in config.items() if k not in ("n_threads", "batch_size")}


def _is_done(out: Path, cfg: MiningConfig) -> bool:
    marker = done_marker(out)
    return (out.exists() and marker.exists()
            and _comparable(read_json(marker).get("config", {})) == _comparable(dataclasses.asdict(cfg)))


def build_training_set(out_dir: str | Path, n_queries: int | None = None, negatives: int = 15, seed: int = 0, *,
                       source: str | Path | None = None, config: MiningConfig | None = None,
                       show_progress: bool = True, overlap_tasks: tuple[str, ...] = ("scifact", "arguana")) -> Path:
    """Build (or reuse) the mined Wikipedia training set; returns the path of ``mined.train.jsonl``.

    ``n_queries`` caps the train queries mined (a seeded random subset); queries that end up with fewer than
    ``negatives`` negatives are dropped (see ``retscale.mining.miner``), so the file may hold a few percent fewer.
    """
    from retscale.pairs.overlap import beir_overlap
    from retscale.pairs.stats import pair_stats

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(config or MiningConfig(), negatives=negatives, seed=seed)
    stats_path = out_dir / "stats.json"
    mined_train, mined_val = out_dir / "mined.train.jsonl", out_dir / "mined.validation.jsonl"

    build = _build_pairs(out_dir, Path(source) if source else _wiki_source(), seed)
    queries = _select_queries(out_dir, n_queries, seed)
    comparable = _comparable(dataclasses.asdict(cfg))
    if (_is_done(mined_train, cfg) and _is_done(mined_val, cfg) and stats_path.exists()
            and read_json(stats_path).get("mining_config") == comparable
            and read_json(stats_path).get("n_queries") == n_queries):
        log.info("reusing the complete training set in %s", out_dir)
        return mined_train

    index: PoolIndex | None = None
    reports = {}
    for name, pairs_path, out in (("train", queries, mined_train),
                                  ("validation", out_dir / "pairs.validation.jsonl", mined_val)):
        if _is_done(out, cfg):
            reports[name] = read_json(done_marker(out))
            continue
        index = index or PoolIndex.build(out_dir / "pool.jsonl", show_progress=show_progress)
        reports[name] = dataclasses.asdict(mine_hard_negatives(pairs_path, index, out, cfg,
                                                               show_progress=show_progress, restart_on_change=True))
    train_stats = pair_stats(mined_train)
    overlap = {}
    if overlap_tasks:
        texts = [p["text"] for pair in read_pairs(mined_train) for p in pair["positives"] + pair["negatives"]]
        texts += [pair["query"] for pair in read_pairs(mined_train)]
        overlap = beir_overlap(sorted(set(texts)), overlap_tasks)
    write_json(stats_path, {"build": build, "mining": reports, "mining_config": comparable, "n_queries": n_queries,
                            "train": train_stats, "validation": pair_stats(mined_val), "beir_overlap": overlap})
    return mined_train
