"""Query→passage pairs and a passage pool from the offline Wikipedia sample (``text/enwiki-sample.jsonl.gz``).

The sample is WikiExtractor output: section headings survive as short lines ending in ".". Rules, in order:

- articles with fewer than ``MIN_ARTICLE_WORDS`` words are stubs and are skipped (60% of the sample is empty);
- a line is a *heading* if it has ≤ 6 words and ≤ 60 characters, ends in ".", has no other ".!?;:" and starts
  with an upper-case letter or digit; headings such as "References" or "External links" end the useful text;
- each section body is split into sentences (a ``.!?`` followed by a space and an upper-case letter, digit or
  quote) and packed into chunks of ≤ ``max_tokens`` approximate tokens. *Approximate tokens* =
  ``ceil(words × 4/3)``: English averages about 1.3 sub-word tokens per whitespace word with GPT-2/Llama BPE
  tokenisers, and a word count is ~100× faster than a real tokeniser. Chunks are balanced (a 150-word section
  becomes two ~75-word chunks rather than 96 + 54); a single over-long sentence is cut on word boundaries;
- chunks with fewer than ``MIN_PASSAGE_WORDS`` words are near-empty and dropped.

Builders (the ``source`` field of each pair):
- ``wiki-title``: article title → the first chunk of the lead section;
- ``wiki-section``: ``"<title>: <heading>"`` → the first chunk of that section (repeated headings: first only).

The pool is every kept chunk (``{"id", "title", "text", "doc"}`` with ``doc`` = article id). The train/validation
split is by article, from a seeded hash of the article id, so no article contributes to both sides.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retscale.errors import UserError
from retscale.fileio import iter_jsonl

MAX_TOKENS = 128
TOKENS_PER_WORD = 4 / 3
MIN_ARTICLE_WORDS = 40
MIN_PASSAGE_WORDS = 20
STOP_HEADINGS = frozenset({"references", "external links", "see also", "notes", "further reading", "bibliography",
                           "sources", "citations", "footnotes", "works cited", "notes and references"})

_HEADING = re.compile(r"^[A-Z0-9][^.!?;:]{0,58}\.$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def approx_tokens(text: str) -> int:
    """Approximate sub-word token count: ``ceil(words × 4/3)`` (see module docstring)."""
    return math.ceil(len(text.split()) * TOKENS_PER_WORD)


def is_heading(line: str) -> bool:
    return bool(_HEADING.match(line)) and len(line.split()) <= 6


def split_sections(text: str) -> list[tuple[str | None, str]]:
    """``[(heading or None for the lead, body)]``; stops at reference-like headings; empty bodies dropped."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if is_heading(line):
            heading = line[:-1].strip()
            if heading.lower() in STOP_HEADINGS:
                break
            sections.append((heading, []))
        else:
            sections[-1][1].append(line)
    return [(h, " ".join(body)) for h, body in sections if body]


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def chunk_text(text: str, max_tokens: int = MAX_TOKENS) -> list[str]:
    """Balanced chunks of whole sentences, each ≤ ``max_tokens`` approximate tokens."""
    max_words = max(1, int(max_tokens / TOKENS_PER_WORD))
    pieces: list[list[str]] = []  # sentences as word lists, long ones cut to max_words
    for sentence in split_sentences(text):
        words = sentence.split()
        pieces.extend(words[i:i + max_words] for i in range(0, len(words), max_words))
    total = sum(len(p) for p in pieces)
    if total == 0:
        return []
    target = math.ceil(total / math.ceil(total / max_words))
    chunks: list[list[str]] = [[]]
    for words in pieces:
        if chunks[-1] and (len(chunks[-1]) + len(words) > max_words or len(chunks[-1]) >= target):
            chunks.append([])
        chunks[-1].extend(words)
    return [" ".join(c) for c in chunks]


@dataclass
class Article:
    id: str
    title: str
    # (heading or None, [chunk texts kept, with their passage ids])
    sections: list[tuple[str | None, list[dict[str, str]]]]


def parse_article(obj: dict[str, Any], max_tokens: int = MAX_TOKENS) -> Article | None:
    """Sections → kept chunks as pool passages; None for a stub."""
    text = obj.get("text") or ""
    title = (obj.get("title") or "").strip()
    if not title or len(text.split()) < MIN_ARTICLE_WORDS:
        return None
    art_id = str(obj.get("id"))
    sections = []
    for s_idx, (heading, body) in enumerate(split_sections(text)):
        passages = [{"id": f"wiki-{art_id}-{s_idx}-{c_idx}", "title": title, "text": chunk, "doc": art_id}
                    for c_idx, chunk in enumerate(chunk_text(body, max_tokens))
                    if len(chunk.split()) >= MIN_PASSAGE_WORDS]
        if passages:
            sections.append((heading, passages))
    return Article(art_id, title, sections)


def iter_articles(path: str | Path, max_tokens: int = MAX_TOKENS) -> Iterator[Article]:
    for _, obj in iter_jsonl(path):
        article = parse_article(obj, max_tokens)
        if article is not None:
            yield article


def title_pair(article: Article) -> dict[str, Any] | None:
    heading, passages = article.sections[0] if article.sections else (None, [])
    if heading is not None:
        return None  # no lead section survived
    return {"query_id": f"wt-{article.id}", "query": article.title, "positives": [passages[0]], "negatives": [],
            "source": "wiki-title"}


def section_pairs(article: Article) -> list[dict[str, Any]]:
    out, seen = [], set()
    for heading, passages in article.sections:
        if heading is None or heading.lower() in seen:
            continue
        seen.add(heading.lower())
        s_idx = passages[0]["id"].split("-")[2]
        out.append({"query_id": f"ws-{article.id}-{s_idx}", "query": f"{article.title}: {heading}",
                    "positives": [passages[0]], "negatives": [], "source": "wiki-section"})
    return out


def is_validation(article_id: str, seed: int, fraction: float) -> bool:
    """Seeded, order-independent split by article."""
    h = int(hashlib.sha1(f"{seed}:{article_id}".encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


class WikiPairsOptions(BaseModel):
    """What goes into a Wikipedia training set (the study config's ``pairs:`` section).

    ``max_articles``: read only the first this many articles of the sample (a deterministic prefix keeps small
    studies small); ``max_pairs``: keep a seeded sample of this many train pairs (in file order);
    ``validation_fraction``: share of articles held out (the validation pairs and the ``wiki-val`` task);
    ``max_tokens``: passage chunk size in approximate tokens.
    """

    model_config = ConfigDict(extra="forbid")

    max_articles: int | None = Field(None, ge=1)
    max_pairs: int | None = Field(None, ge=1)
    validation_fraction: float = Field(0.02, gt=0, lt=1)
    max_tokens: int = Field(MAX_TOKENS, ge=1)


@dataclass
class WikiBuildReport:
    articles_read: int = 0
    articles_kept: int = 0
    pool_passages: int = 0
    pairs: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> source -> count

    def count(self, split: str, source: str) -> None:
        by_source = self.pairs.setdefault(split, {})
        by_source[source] = by_source.get(source, 0) + 1


def build_wiki_pairs(source: str | Path, train_out: Path, validation_out: Path, pool_out: Path, *,
                     seed: int = 0, validation_fraction: float = 0.02,
                     max_tokens: int = MAX_TOKENS) -> WikiBuildReport:
    """Write train/validation canonical pairs and the passage pool (jsonl). Outputs appear atomically."""
    from tqdm.auto import tqdm

    from retscale.fileio import atomic_write
    from retscale.pairs.formats import dump_pair

    if not 0 <= validation_fraction < 1:
        raise UserError(f"the validation fraction must be ≥ 0 and < 1, got {validation_fraction}",
                        fix="set --validation-fraction (study config: pairs.validation_fraction), e.g. 0.02")
    min_tokens = math.ceil(MIN_PASSAGE_WORDS * 4 / 3)  # shorter passages are all dropped as near-empty
    if max_tokens < min_tokens:
        raise UserError(f"max tokens per passage must be ≥ {min_tokens}, got {max_tokens}",
                        fix=f"set --max-tokens (study config: pairs.max_tokens), e.g. {MAX_TOKENS}")
    report = WikiBuildReport()
    with atomic_write(train_out) as train, atomic_write(validation_out) as val, atomic_write(pool_out) as pool:
        for _, obj in tqdm(iter_jsonl(source), desc="wiki articles", unit=" art", mininterval=1.0):
            report.articles_read += 1
            article = parse_article(obj, max_tokens)
            if article is None or not article.sections:
                continue
            report.articles_kept += 1
            for _, passages in article.sections:
                for p in passages:
                    pool.write(json.dumps(p, ensure_ascii=False) + "\n")
                    report.pool_passages += 1
            split = "validation" if is_validation(article.id, seed, validation_fraction) else "train"
            first = title_pair(article)
            for pair in ([first] if first else []) + section_pairs(article):
                (val if split == "validation" else train).write(dump_pair(pair))
                report.count(split, pair["source"])
        if not report.pairs.get("train"):  # raised inside the writers: no empty file appears
            raise UserError(f"no training pairs ({report.articles_read:,} records read, {report.articles_kept:,} "
                            "usable Wikipedia articles)", path=source,
                            fix="give WikiExtractor jsonl: id, title and text with section headings, ≥ "
                                f"{MIN_ARTICLE_WORDS} words per article")
    return report
