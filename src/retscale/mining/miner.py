"""BM25 hard-negative mining: ``mine_hard_negatives(pairs, pool, out)``.

For each query (in input order), BM25 over the pool returns the top ``depth`` passages (bm25s's index; queries
are scored in batches by ``BM25Index.search_sparse`` on ``n_threads`` threads). Walking them best first, a candidate is skipped when it
- has a BM25 score of 0 (no word in common: not a *hard* negative), or lies in the rank window's head
  (``skip_top``: the very top hits are the likeliest unlabelled positives);
- is a positive (same id), or an exact/near duplicate of one (``retscale.pairs.dedup``), or a duplicate of a
  negative already taken;
- comes from a positive's own source document (``exclude_positive_docs``, on by default: the other chunks of the
  article a positive came from usually answer the query too), or from a document that already gave
  ``max_per_doc`` negatives.
``strategy="top"`` keeps the first ``negatives`` survivors; ``"sample"`` draws them uniformly from all survivors
(seeded per query, so a resumed run draws the same). Mined negatives replace any negatives in the input.

Queries with fewer than ``negatives`` survivors follow ``shortfall``:
``"drop"`` (default: the query is left out and counted, so every written line has exactly ``negatives``),
``"keep"`` (written with the negatives it has), or ``"pad"`` (topped up with random pool passages that pass the
same rules, seeded per query).

Output is canonical pairs jsonl (``retscale.pairs.formats``), streamed batch by batch. Re-running the same
command resumes: a torn last line is cut off, and mining continues after the input query of the last complete
line. A ``<out>.done.json`` summary is written when the run completes. ``<out>.settings.json`` records what the
output depends on (the settings that change it, the SHA-256 of the pairs and of the pool), written before the
first line; a resume with anything else is refused with one line (or starts over, ``restart_on_change``), so a
finished file is never passed off as mined with other settings.
"""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from retscale.bm25 import BM25Index
from retscale.errors import UserError
from retscale.fileio import iter_jsonl, read_json, sha256_file, write_json
from retscale.pairs.dedup import DupKey
from retscale.pairs.formats import Pair, dump_pair, read_pairs

log = logging.getLogger(__name__)
RUN_ONLY_SETTINGS = ("n_threads", "batch_size")  # change how fast, never what is mined


class MiningConfig(BaseModel):
    """The miner's settings (the study config's ``mining:`` section; ``retscale mine`` flags)."""

    model_config = ConfigDict(extra="forbid")

    negatives: int = Field(15, ge=1, description="hard negatives per query")
    skip_top: int = Field(0, ge=0, description="skip this many top hits (likely false negatives)")
    depth: int = Field(100, ge=1, description="BM25 hits considered per query")  # after the two its check reads
    max_per_doc: int = Field(1, ge=1, description="negatives per source document")
    exclude_positive_docs: bool = True
    strategy: Literal["top", "sample"] = "top"
    shortfall: Literal["drop", "keep", "pad"] = "drop"
    seed: int = 0
    batch_size: int = Field(2048, ge=1, description="queries scored per BM25 batch (speed only)")
    n_threads: int | None = Field(None, ge=1, description="BM25 scoring threads, None: one per core (speed only)")

    @field_validator("depth")
    @classmethod
    def _enough_depth(cls, depth: int, info: ValidationInfo) -> int:
        negatives, skip_top = info.data.get("negatives"), info.data.get("skip_top")
        if negatives is not None and skip_top is not None and depth < skip_top + negatives:
            raise ValueError(f"{depth} leaves fewer than {negatives} negatives after skipping the top {skip_top} "
                             "hits: raise it")
        return depth

    def output_settings(self) -> dict[str, Any]:
        """The settings that change the mined file (threads and batch size do not)."""
        return {k: v for k, v in self.model_dump().items() if k not in RUN_ONLY_SETTINGS}


@dataclass
class Pool:
    """Passages to mine from; ``docs[i]`` is the source document (the passage id when the file has no ``doc``)."""

    ids: list[str]
    titles: list[str]
    texts: list[str]
    docs: list[str]

    def passage(self, i: int) -> dict[str, str]:
        return {"id": self.ids[i], "title": self.titles[i], "text": self.texts[i], "doc": self.docs[i]}

    def fingerprint(self) -> str:
        """SHA-256 of the passages (ids, titles, texts, docs), whichever file they came from."""
        import hashlib

        h = hashlib.sha256()
        for row in zip(self.ids, self.titles, self.texts, self.docs, strict=True):
            h.update(json.dumps(row, ensure_ascii=False).encode())
        return h.hexdigest()


def load_pool(path: str | Path) -> Pool:
    """A jsonl of passages: ``id`` (or BEIR's ``_id``), ``text``, optional ``title`` and ``doc``."""
    pool = Pool([], [], [], [])
    seen: set[str] = set()
    for lineno, obj in iter_jsonl(path):
        pid = obj.get("id", obj.get("_id"))
        text = obj.get("text")
        if pid is None or not isinstance(text, str):
            raise UserError("a pool passage needs 'id' (or '_id') and 'text'", path=path, line=lineno)
        pid = str(pid)
        if pid in seen:
            raise UserError(f"duplicate passage id {pid!r}", path=path, line=lineno)
        seen.add(pid)
        pool.ids.append(pid)
        pool.titles.append(str(obj.get("title") or ""))
        pool.texts.append(text)
        pool.docs.append(str(obj.get("doc") or pid))
    if not pool.ids:
        raise UserError("the pool is empty", path=path)
    return pool


@dataclass
class PoolIndex:
    """A pool with its BM25 index and duplicate keys: the expensive part of mining, built once."""

    pool: Pool
    bm25: BM25Index
    keys: list[DupKey]

    @classmethod
    def build(cls, pool: Pool | str | Path, show_progress: bool = False) -> PoolIndex:
        pool = pool if isinstance(pool, Pool) else load_pool(pool)
        return cls(pool, BM25Index(pool.texts, show_progress=show_progress), [DupKey(t) for t in pool.texts])


def select_negatives(pair: Pair, rows: list[int], scores: list[float], pool: Pool, keys: list[DupKey],
                     cfg: MiningConfig) -> tuple[list[dict[str, str]], int]:
    """Apply the candidate rules (module docstring) to one query's ranked hits.

    Returns the chosen negatives and how many of them came from the ranking (the rest are ``pad`` fillers).
    """
    positives = pair["positives"]
    pos_ids = {p["id"] for p in positives}
    pos_keys = [DupKey(p["text"]) for p in positives]
    blocked_docs = {p.get("doc") or p["id"] for p in positives} if cfg.exclude_positive_docs else set()
    rng = random.Random(f"{cfg.seed}:{pair['query_id']}")

    taken: list[int] = []
    taken_hashes: set[str] = set()
    per_doc: dict[str, int] = {}

    def take(row: int) -> bool:
        """Take ``row`` as a negative if the rules allow it."""
        doc, key = pool.docs[row], keys[row]
        if pool.ids[row] in pos_ids or doc in blocked_docs or per_doc.get(doc, 0) >= cfg.max_per_doc:
            return False
        if key.hash in taken_hashes or any(pk.duplicates(key) for pk in pos_keys):
            return False
        taken.append(row)
        taken_hashes.add(key.hash)
        per_doc[doc] = per_doc.get(doc, 0) + 1
        return True

    want = cfg.negatives if cfg.strategy == "top" else len(rows)
    for rank, (row, score) in enumerate(zip(rows, scores, strict=True)):
        if len(taken) >= want:
            break
        if rank < cfg.skip_top or score <= 0:
            continue
        take(row)
    if cfg.strategy == "sample" and len(taken) > cfg.negatives:
        keep = sorted(rng.sample(range(len(taken)), cfg.negatives))
        taken = [taken[i] for i in keep]
    mined = len(taken)
    if cfg.shortfall == "pad" and len(taken) < cfg.negatives:
        for _ in range(50 * cfg.negatives):  # bounded: a tiny pool may not have enough
            if len(taken) >= cfg.negatives:
                break
            take(rng.randrange(len(pool.ids)))
    return [pool.passage(r) for r in taken], mined


def resume_point(out: Path) -> tuple[str | None, int]:
    """Cut a torn last line; return the last complete line's query id and the number of complete lines."""
    if not out.exists():
        return None, 0
    with open(out, "rb+") as fh:
        data = fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning("%s: cutting a torn last line (%d bytes) before resuming", out, len(data) - end)
            fh.truncate(end)
    lines = data[:end].splitlines()
    if not lines:
        return None, 0
    try:
        last = json.loads(lines[-1])["query_id"]
    except (ValueError, KeyError):
        raise UserError("cannot resume: the last line is not a mined pair", path=out, line=len(lines),
                        fix="delete the file to start over") from None
    return str(last), len(lines)


@dataclass
class MiningReport:
    queries_in: int = 0
    written: int = 0
    resumed_from: int = 0
    short: int = 0
    dropped: int = 0
    negatives_written: int = 0
    index_seconds: float = 0.0
    seconds: float = 0.0  # mining only, after the index is built
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def queries_per_second(self) -> float:
        return (self.queries_in - self.resumed_from) / self.seconds if self.seconds else 0.0


def mine_hard_negatives(pairs_path: str | Path, pool: str | Path | Pool | PoolIndex, out_path: str | Path,
                        config: MiningConfig | None = None, *, show_progress: bool = True,
                        restart_on_change: bool = False) -> MiningReport:
    """Mine BM25 hard negatives for every pair in ``pairs_path`` into ``out_path`` (canonical jsonl).

    ``pool``: a passage jsonl path, a loaded ``Pool``, or a ``PoolIndex`` (lets several runs share one index).
    An existing output mined with other settings or inputs is refused (a ``UserError``), or, with
    ``restart_on_change``, deleted and mined again.
    """
    import time

    from tqdm.auto import tqdm

    cfg = config or MiningConfig()
    out = Path(out_path)
    for name, src in (("pairs", pairs_path), ("pool", pool)):
        if isinstance(src, (str, Path)) and _same_file(out, Path(src)):
            raise UserError(f"--out {out} is the {name} file it would read", fix="write the mined pairs to a new file")
    pairs = list(read_pairs(pairs_path))
    if not isinstance(pool, (Pool, PoolIndex)):
        pool = load_pool(pool)  # fail on a bad pool before any work
    settings = {"mining": cfg.output_settings(), "pairs_sha256": sha256_file(pairs_path),
                "pool_sha256": (pool.pool if isinstance(pool, PoolIndex) else pool).fingerprint()}
    _check_settings(out, settings, restart_on_change)
    if _is_finished(out, settings):
        lines = _count_lines(out)
        log.info("%s: already mined with these settings", out)
        return MiningReport(queries_in=len(pairs), written=lines, resumed_from=len(pairs), config=cfg.model_dump())
    last_done, done_lines = resume_point(out)
    start = 0
    if last_done is not None:
        positions = {p["query_id"]: i for i, p in enumerate(pairs)}
        if last_done not in positions:
            raise UserError(f"cannot resume: {out} ends with query {last_done!r}, which is not in {pairs_path}",
                            fix="use the same --pairs as the interrupted run, or delete the output")
        start = positions[last_done] + 1
    report = MiningReport(queries_in=len(pairs), written=done_lines, resumed_from=start, config=cfg.model_dump())
    t0 = time.perf_counter()
    write_json(settings_record(out), settings)
    if start < len(pairs):
        done_marker(out).unlink(missing_ok=True)
        index = pool if isinstance(pool, PoolIndex) else PoolIndex.build(pool, show_progress=show_progress)
        report.index_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        out.parent.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=len(pairs), initial=start, desc="mining", unit=" q", disable=not show_progress)
        with open(out, "a", encoding="utf-8") as fh:
            for b in range(start, len(pairs), cfg.batch_size):
                batch = pairs[b:b + cfg.batch_size]
                hits = index.bm25.search_sparse([p["query"] for p in batch], cfg.depth,
                                                n_threads=cfg.n_threads or os.cpu_count() or 1)
                for pair, (rows, scores) in zip(batch, hits, strict=True):
                    negatives, mined = select_negatives(pair, rows.tolist(), scores.tolist(), index.pool,
                                                        index.keys, cfg)
                    if mined < cfg.negatives:
                        report.short += 1
                        if cfg.shortfall == "drop":
                            report.dropped += 1
                            continue
                    fh.write(dump_pair({**pair, "negatives": negatives}))
                    report.written += 1
                    report.negatives_written += len(negatives)
                fh.flush()
                bar.update(len(batch))
        bar.close()
    report.seconds = time.perf_counter() - t0
    write_json(done_marker(out), {**asdict(report), "pairs": str(pairs_path), "complete": True})
    return report


def done_marker(out: Path) -> Path:
    return out.with_name(out.name + ".done.json")


def settings_record(out: Path) -> Path:
    return out.with_name(out.name + ".settings.json")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def _recorded_settings(out: Path) -> dict[str, Any] | None:
    """What an existing output was mined with: its settings record, else (older outputs) its done marker's config."""
    for path in (settings_record(out), done_marker(out)):
        if path.exists():
            recorded = read_json(path)
            if not isinstance(recorded, dict):
                return {}
            if path == done_marker(out):
                config = recorded.get("config", {})
                return {"mining": {k: v for k, v in config.items() if k not in RUN_ONLY_SETTINGS}}
            return recorded
    return None


def _check_settings(out: Path, settings: dict[str, Any], restart_on_change: bool) -> None:
    if not out.exists() or out.stat().st_size == 0:
        return
    recorded = _recorded_settings(out)
    if recorded is None:
        return  # an output from before settings were recorded and never finished: resume checks the query ids
    differ = [f"{k}: {recorded.get('mining', {}).get(k)} → {v}" for k, v in settings["mining"].items()
              if recorded.get("mining", {}).get(k) != v]
    differ += [f"{name} file changed" for name in ("pairs", "pool")
               if f"{name}_sha256" in recorded and recorded[f"{name}_sha256"] != settings[f"{name}_sha256"]]
    if not differ:
        return
    if restart_on_change:
        log.warning("%s was mined with other settings (%s): mining again", out, "; ".join(differ))
        for path in (out, done_marker(out), settings_record(out)):
            path.unlink(missing_ok=True)
        return
    raise UserError(f"exists and was mined with other settings ({'; '.join(differ)})", path=out,
                    fix=f"delete it and {settings_record(out).name} to mine again, or choose another --out")


def _is_finished(out: Path, settings: dict[str, Any]) -> bool:
    marker = done_marker(out)
    return (out.exists() and marker.exists() and settings_record(out).exists()
            and read_json(settings_record(out)) == settings and read_json(marker).get("complete") is True)
