"""Training-pair files: our canonical jsonl, plus readers for the tevatron and FlagEmbedding formats.

Canonical jsonl (what ``retscale pairs`` and ``retscale mine`` write, and ``retscale finetune`` reads), one query a line::

    {"query_id": "q1", "query": "...",
     "positives": [{"id": "d1", "title": "", "text": "..."}],
     "negatives": [{"id": "d7", "title": "", "text": "..."}],
     "source": "wiki-title"}

- ``query_id``: string, unique in the file; ``query``: non-empty string;
- ``positives``: ≥ 1 passage; ``negatives``: 0 or more passages (empty before mining);
- a passage is ``{"id": str, "title": str, "text": non-empty str}``; an embedder sees ``(title + " " + text).strip()``;
- ``source``: which builder made the pair (``wiki-title``, ``wiki-section``, ``tevatron``, ``flagembedding``, ...).
- Passages may carry an extra ``"doc"`` key (the source document, e.g. a Wikipedia article id) used by the miner's
  per-document rules; readers keep it, and other consumers may ignore it.

Foreign formats converted by ``read_pairs``:
- tevatron: ``{"query_id", "query", "positive_passages": [{"docid", "title", "text"}], "negative_passages": [...]}``;
- FlagEmbedding: ``{"query", "pos": [str], "neg": [str]}`` — no ids, so ids are content hashes (``q-…``, ``p-…``).

Every problem (bad JSON, a missing field, an empty query, no positive, a duplicate query id) is a ``UserError``
naming ``file:line``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from retscale.errors import UserError
from retscale.fileio import atomic_write, iter_jsonl

FORMATS = ("auto", "canonical", "tevatron", "flagembedding")

Passage = dict[str, str]
Pair = dict[str, Any]


def content_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]}"


def _need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: tuple[str, int]) -> Any:
    if key not in obj:
        raise UserError(f"missing field {key!r}", path=where[0], line=where[1],
                        fix=f"every line needs {key!r}; see `retscale pairs --help` for the formats")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserError(f"field {key!r} must be {names}, got {type(value).__name__}", path=where[0], line=where[1])
    return value


def _passage(obj: Any, id_key: str, field: str, where: tuple[str, int]) -> Passage:
    if not isinstance(obj, dict):
        raise UserError(f"each entry of {field!r} must be an object", path=where[0], line=where[1])
    pid = _need(obj, id_key, (str, int), where)
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"a passage in {field!r} has no text", path=where[0], line=where[1])
    title = obj.get("title") or ""
    if not isinstance(title, str):
        raise UserError(f"a passage title in {field!r} must be a string", path=where[0], line=where[1])
    passage = {"id": str(pid), "title": title, "text": text}
    if isinstance(obj.get("doc"), str):
        passage["doc"] = obj["doc"]
    return passage


def _check(pair: Pair, where: tuple[str, int]) -> Pair:
    if not pair["query"].strip():
        raise UserError("empty query", path=where[0], line=where[1])
    if not pair["positives"]:
        raise UserError("no positive passage", path=where[0], line=where[1],
                        fix="every query needs at least one positive")
    return pair


def parse_canonical(obj: dict[str, Any], where: tuple[str, int]) -> Pair:
    qid = _need(obj, "query_id", (str, int), where)
    query = _need(obj, "query", str, where)
    positives = [_passage(p, "id", "positives", where) for p in _need(obj, "positives", list, where)]
    negatives = [_passage(p, "id", "negatives", where) for p in obj.get("negatives") or []]
    source = obj.get("source") or "unknown"
    return _check({"query_id": str(qid), "query": query, "positives": positives, "negatives": negatives,
                   "source": str(source)}, where)


def parse_tevatron(obj: dict[str, Any], where: tuple[str, int]) -> Pair:
    qid = _need(obj, "query_id", (str, int), where)
    query = _need(obj, "query", str, where)
    positives = [_passage(p, "docid", "positive_passages", where)
                 for p in _need(obj, "positive_passages", list, where)]
    negatives = [_passage(p, "docid", "negative_passages", where) for p in obj.get("negative_passages") or []]
    return _check({"query_id": str(qid), "query": query, "positives": positives, "negatives": negatives,
                   "source": "tevatron"}, where)


def _texts(obj: dict[str, Any], key: str, where: tuple[str, int], required: bool) -> list[Passage]:
    values = _need(obj, key, list, where) if required else obj.get(key) or []
    out = []
    for text in values:
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"every entry of {key!r} must be a non-empty string", path=where[0], line=where[1])
        out.append({"id": content_id("p", text), "title": "", "text": text})
    return out


def parse_flagembedding(obj: dict[str, Any], where: tuple[str, int]) -> Pair:
    query = _need(obj, "query", str, where)
    return _check({"query_id": content_id("q", query), "query": query, "positives": _texts(obj, "pos", where, True),
                   "negatives": _texts(obj, "neg", where, False), "source": "flagembedding"}, where)


PARSERS = {"canonical": parse_canonical, "tevatron": parse_tevatron, "flagembedding": parse_flagembedding}


def detect_format(obj: dict[str, Any]) -> str:
    if "positives" in obj:
        return "canonical"
    if "positive_passages" in obj:
        return "tevatron"
    if "pos" in obj:
        return "flagembedding"
    raise UserError("cannot tell the pair format from the first line",
                    fix="canonical needs 'positives', tevatron 'positive_passages', FlagEmbedding 'pos'")


def read_pairs(path: str | Path, fmt: str = "auto") -> Iterator[Pair]:
    """Yield canonical pairs from a canonical, tevatron or FlagEmbedding jsonl file (optionally .gz)."""
    for _, pair in read_numbered_pairs(path, fmt):
        yield pair


def read_numbered_pairs(path: str | Path, fmt: str = "auto") -> Iterator[tuple[int, Pair]]:
    """``read_pairs`` with each pair's line number, for readers that check more (e.g. fine-tuning's negatives)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown pair format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    parser = None if fmt == "auto" else PARSERS[fmt]
    seen: set[str] = set()
    for lineno, obj in iter_jsonl(path):
        where = (str(path), lineno)
        if parser is None:
            try:
                parser = PARSERS[detect_format(obj)]
            except UserError as exc:
                raise UserError(exc.problem, path=path, line=lineno, fix=exc.fix) from None
        pair = parser(obj, where)
        if pair["query_id"] in seen:
            raise UserError(f"duplicate query_id {pair['query_id']!r}", path=path, line=lineno,
                            fix="query ids must be unique within a file")
        seen.add(pair["query_id"])
        yield lineno, pair


def dump_pair(pair: Pair) -> str:
    """One canonical jsonl line (with newline); key order fixed so files are byte-stable."""
    ordered = {k: pair[k] for k in ("query_id", "query", "positives", "negatives", "source")}
    return json.dumps(ordered, ensure_ascii=False) + "\n"


def write_pairs_to(fh: TextIO, pairs: Iterable[Pair]) -> int:
    n = 0
    for pair in pairs:
        fh.write(dump_pair(pair))
        n += 1
    return n


def write_pairs(path: str | Path, pairs: Iterable[Pair]) -> int:
    """Atomically write canonical jsonl; returns the number of pairs."""
    with atomic_write(path) as fh:
        return write_pairs_to(fh, pairs)
