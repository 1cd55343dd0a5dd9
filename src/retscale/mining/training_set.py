"""The Wikipedia training set: the one builder behind ``retscale mine --wiki-set`` and the study's pairs and
mining stages.

Two steps, so the study can key them apart (a mining setting re-mines without rebuilding the pairs):

1. ``build_pairs_set(out_dir, options, seed) -> PairsSet``: pairs, pool and the selected train queries;
2. ``mine_pairs_set(pairs_set, out_dir, config) -> MinedSet``: BM25 hard negatives, statistics and the BEIR
   overlap check (``load_pairs_set(dir)`` reads a finished step 1 back).

``build_training_set(out_dir)`` runs both into one folder. Files:

| file | what |
|---|---|
| ``articles.jsonl`` | the first ``max_articles`` articles of the sample (only when ``max_articles`` is set) |
| ``pairs.{train,dev,test}.jsonl`` | unmined canonical pairs of each article split (``retscale.pairs.wiki``) |
| ``pool.{train,dev,test}.jsonl`` | every kept passage of each split (``id, title, text, doc``); train = the mining pool |
| ``wiki-dev/``, ``wiki-val/`` | the held-out retrieval tasks of the dev and test articles (``retscale.pairs.heldout``) |
| ``queries.train.jsonl`` | the train pairs to mine: a seeded sample of ``max_pairs`` of them, in file order |
| ``pairs.build.json`` | the pairs step's settings and counts |
| ``mined.train.jsonl`` / ``mined.validation.jsonl`` | train queries / dev pairs with ``config.negatives`` BM25 hard negatives from the train pool |
| ``stats.json`` | builder counts, mining reports, ``pair_stats`` of the mined files, BEIR overlap |

Each step is skipped when its output is complete for the same settings, so a second call returns at once and an
interrupted call resumes (mining resumes mid-file).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retscale.fileio import atomic_write, iter_jsonl, read_json, sha256_file, write_json
from retscale.mining.miner import MiningConfig, PoolIndex, done_marker, mine_hard_negatives
from retscale.pairs.heldout import DEV_TASK_NAME as DEV_TASK
from retscale.pairs.heldout import TASK_NAME as HELDOUT_TASK
from retscale.pairs.overlap import EVAL_TASKS
from retscale.pairs.wiki import WikiPairsOptions

log = logging.getLogger(__name__)
ARTICLES = "articles.jsonl"
TRAIN_PAIRS = "pairs.train.jsonl"
VALIDATION_PAIRS = "pairs.dev.jsonl"  # the fine-tuner's validation pairs come from dev articles
POOL = "pool.train.jsonl"
QUERIES = "queries.train.jsonl"
BUILD_MARKER = "pairs.build.json"
MINED_TRAIN = "mined.train.jsonl"
MINED_VALIDATION = "mined.validation.jsonl"
STATS = "stats.json"


def wiki_source() -> Path:
    """The Wikipedia sample: read in place from the offline data folder, or fetched on first use."""
    from retscale.data.source_fetch import source_path

    return source_path("enwiki-sample")


@dataclass(frozen=True)
class PairsSet:
    """The pairs step's output: where the files are and what the builder counted."""

    dir: Path
    source: Path  # the articles the pairs came from (the sample, or its ``max_articles`` prefix)
    articles_kept: int
    pool_passages: int
    train_queries: int  # lines of queries.train.jsonl
    validation_pairs: int  # dev pairs
    build: dict[str, Any]  # the content of pairs.build.json

    @property
    def heldout_task(self) -> Path:
        """``wiki-val``: the evaluation task from the test articles."""
        return self.dir / HELDOUT_TASK

    @property
    def dev_task(self) -> Path:
        """``wiki-dev``: the design task from the dev articles."""
        return self.dir / DEV_TASK

    @property
    def queries(self) -> Path:
        return self.dir / QUERIES

    @property
    def validation(self) -> Path:
        return self.dir / VALIDATION_PAIRS

    @property
    def pool(self) -> Path:
        return self.dir / POOL


def build_pairs_set(out_dir: str | Path, options: WikiPairsOptions | None = None, *, seed: int = 0,
                    source: str | Path | None = None, decontaminate: tuple[str, ...] = EVAL_TASKS) -> PairsSet:
    """Step 1: Wikipedia pairs, the passage pool and the train queries to mine, in ``out_dir`` (reused when
    complete for the same settings; any change removes the mined files built from the older pairs)."""
    from retscale.pairs.heldout import write_heldout_task
    from retscale.pairs.wiki import build_wiki_pairs, pairs_path, pool_path

    options = options or WikiPairsOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = Path(source) if source else wiki_source()
    marker = out / BUILD_MARKER
    settings = {"source": str(sample), "source_sha256": sha256_file(sample), "seed": seed,
                "decontaminate": list(decontaminate), "v": 2, **options.model_dump(mode="json")}
    if marker.exists() and read_json(marker).get("settings") == settings:
        return _pairs_set(out, read_json(marker))
    for name in (MINED_TRAIN, MINED_VALIDATION, STATS):
        (out / name).unlink(missing_ok=True)  # built from older pairs
        done_marker(out / name).unlink(missing_ok=True)
    articles = sample
    if options.max_articles is not None:  # a deterministic prefix of the sample keeps small studies small
        articles = out / ARTICLES
        with atomic_write(articles) as fh:
            for i, (_, obj) in enumerate(iter_jsonl(sample)):
                if i >= options.max_articles:
                    break
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    report = build_wiki_pairs(articles, out, split=options.article_split(), max_tokens=options.max_tokens,
                              kinds=tuple(options.kinds), passage_titles=options.passage_titles,
                              decontaminate=decontaminate)
    for name, split in ((HELDOUT_TASK, "test"), (DEV_TASK, "dev")):
        write_heldout_task(pairs_path(out, split), pool_path(out, split), out / name, seed=seed,
                           max_queries=options.heldout_queries)
    lines = (out / TRAIN_PAIRS).read_text(encoding="utf-8").splitlines(keepends=True)
    if options.max_pairs is not None and len(lines) > options.max_pairs:
        # a seeded sample kept in file order: title and section queries stay mixed as the builder wrote them
        lines = [lines[i] for i in sorted(random.Random(seed).sample(range(len(lines)), options.max_pairs))]
    with atomic_write(out / QUERIES) as fh:
        fh.writelines(lines)
    build = {"settings": settings, "articles": str(articles), "train_queries": len(lines),
             **dataclasses.asdict(report)}
    write_json(marker, build)
    return _pairs_set(out, build)


def load_pairs_set(pairs_dir: str | Path) -> PairsSet:
    """The pairs set ``build_pairs_set`` finished in ``pairs_dir``."""
    return _pairs_set(Path(pairs_dir), read_json(Path(pairs_dir) / BUILD_MARKER))


def _pairs_set(out: Path, build: dict[str, Any]) -> PairsSet:
    return PairsSet(out, Path(build["articles"]), build["articles_kept"], build["pool_passages"].get("train", 0),
                    build["train_queries"], sum(build["pairs"].get("dev", {}).values()), build)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that change the output (threads and batch size do not)."""
    return {k: v for k, v in config.items() if k not in ("n_threads", "batch_size")}


def _is_done(out: Path, config: MiningConfig) -> bool:
    marker = done_marker(out)
    return (out.exists() and marker.exists()
            and _comparable(read_json(marker).get("config", {})) == _comparable(config.model_dump()))


@dataclass(frozen=True)
class MinedSet:
    """The mining step's output."""

    train: Path  # mined.train.jsonl
    validation: Path | None  # mined.validation.jsonl, when asked for
    reports: dict[str, dict[str, Any]]  # split -> MiningReport as a dict
    beir_overlap: dict[str, Any]  # task -> overlap counts (``retscale.pairs.overlap``)


def mine_pairs_set(pairs: PairsSet, out_dir: str | Path, config: MiningConfig | None = None, *,
                   validation: bool = True, overlap_tasks: tuple[str, ...] = EVAL_TASKS,
                   show_progress: bool = True) -> MinedSet:
    """Step 2: BM25 hard negatives for the train queries (and the validation pairs), then the statistics and the
    overlap of the mined text with ``overlap_tasks`` (BEIR tasks), all in ``out_dir/stats.json``.

    Queries left with fewer than ``config.negatives`` negatives follow ``config.shortfall`` (dropped by default,
    see ``retscale.mining.miner``), so the mined file may hold a few percent fewer.
    """
    from retscale.pairs.formats import read_pairs
    from retscale.pairs.overlap import beir_overlap
    from retscale.pairs.stats import pair_stats

    cfg = config or MiningConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [("train", pairs.queries, out / MINED_TRAIN)]
    if validation:
        jobs.append(("validation", pairs.validation, out / MINED_VALIDATION))
    stats_path = out / STATS
    inputs = {"build": pairs.build, "mining_config": _comparable(cfg.model_dump()), "splits": [j[0] for j in jobs],
              "overlap_tasks": list(overlap_tasks)}
    if all(_is_done(mined, cfg) for _, _, mined in jobs) and stats_path.exists():
        stats = read_json(stats_path)
        if {k: stats.get(k) for k in inputs} == inputs:
            log.info("reusing the complete training set in %s", out)
            return MinedSet(out / MINED_TRAIN, out / MINED_VALIDATION if validation else None, stats["mining"],
                            stats["beir_overlap"])
    index: PoolIndex | None = None
    reports: dict[str, dict[str, Any]] = {}
    for name, pairs_path, mined in jobs:
        if _is_done(mined, cfg):
            reports[name] = read_json(done_marker(mined))
            continue
        index = index or PoolIndex.build(pairs.pool, show_progress=show_progress)
        reports[name] = dataclasses.asdict(mine_hard_negatives(pairs_path, index, mined, cfg,
                                                               show_progress=show_progress, restart_on_change=True))
    overlap: dict[str, Any] = {}
    if overlap_tasks:
        mined_pairs = list(read_pairs(out / MINED_TRAIN))
        texts = [p["text"] for pair in mined_pairs for p in pair["positives"] + pair["negatives"]]
        texts += [pair["query"] for pair in mined_pairs]
        overlap = beir_overlap(sorted(set(texts)), overlap_tasks)
        for task, counts in overlap.items():
            if counts["exact"]:
                log.warning("%d training texts equal a text of %s: zero-shot results on it are not zero-shot",
                            counts["exact"], task)
    split_stats = {name: pair_stats(mined) for name, _, mined in jobs}
    write_json(stats_path, {**inputs, "mining": reports, **split_stats, "beir_overlap": overlap})
    return MinedSet(out / MINED_TRAIN, out / MINED_VALIDATION if validation else None, reports, overlap)


def build_training_set(out_dir: str | Path, options: WikiPairsOptions | None = None,
                       config: MiningConfig | None = None, *, seed: int = 0, source: str | Path | None = None,
                       overlap_tasks: tuple[str, ...] = EVAL_TASKS, show_progress: bool = True) -> Path:
    """Both steps into one folder (idempotent, resumable); returns the path of ``mined.train.jsonl``.

    ``seed`` drives the article split and the query sample; the miner's own seed is ``config.seed``.
    """
    pairs = build_pairs_set(out_dir, options, seed=seed, source=source, decontaminate=overlap_tasks)
    return mine_pairs_set(pairs, out_dir, config, overlap_tasks=overlap_tasks, show_progress=show_progress).train
