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

Builders (the ``source`` field of each pair; ``kinds`` picks which run):
- ``wiki-title`` (kind ``title``): article title → the first chunk of the lead section;
- ``wiki-section`` (kind ``section``): ``"<title>: <heading>"`` → the first chunk of that section (repeated
  headings: first only);
- ``wiki-sentence`` (kind ``sentence``, the inverse cloze task of Lee et al. 2019): one sentence of a section's
  first chunk of ≥ 3 sentences → that chunk *with the sentence removed* (so the answer is never a copy of the
  query). The sentence is a seeded function of the chunk id.

Every article goes to one split of :class:`retscale.data.splits.ArticleSplit` (the split the pretraining corpus
uses too): ``train`` articles give the training pairs and the mining pool, ``dev`` articles the design task
(``wiki-dev``) and ``test`` articles the evaluation task (``wiki-val``), each with its own pool. Files written into
``out_dir``: ``pairs.<split>.jsonl`` and ``pool.<split>.jsonl`` (``{"id", "title", "text", "doc"}``, ``doc`` = article
id). ``passage_titles=False`` writes every passage with an empty title.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retscale.data.splits import DEFAULT_SPLIT, SPLITS, ArticleSplit
from retscale.errors import UserError
from retscale.fileio import iter_jsonl
from retscale.pairs.overlap import EVAL_TASKS

MAX_TOKENS = 128
TOKENS_PER_WORD = 4 / 3
MIN_ARTICLE_WORDS = 40
MIN_PASSAGE_WORDS = 20
MIN_QUERY_SENTENCE_WORDS = 6
PAIR_KINDS = ("title", "section", "sentence")
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


def sentence_pairs(article: Article) -> list[dict[str, Any]]:
    """Inverse-cloze pairs: per section, one sentence of its first chunk of ≥ 3 sentences → the rest of the chunk."""
    out = []
    for _, passages in article.sections:
        for passage in passages:
            sentences = split_sentences(passage["text"])
            candidates = [i for i, t in enumerate(sentences) if len(t.split()) >= MIN_QUERY_SENTENCE_WORDS]
            if len(sentences) < 3 or not candidates:
                continue
            pick = random.Random(passage["id"]).choice(candidates)
            rest = " ".join(t for i, t in enumerate(sentences) if i != pick)
            positive = {**passage, "text": rest}
            out.append({"query_id": f"wi-{passage['id'].removeprefix('wiki-')}", "query": sentences[pick],
                        "positives": [positive], "negatives": [], "source": "wiki-sentence"})
            break
    return out


def article_pairs(article: Article, kinds: tuple[str, ...] = PAIR_KINDS) -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = []
    if "title" in kinds and (first := title_pair(article)) is not None:
        pairs.append(first)
    if "section" in kinds:
        pairs += section_pairs(article)
    if "sentence" in kinds:
        pairs += sentence_pairs(article)
    return pairs


class WikiPairsOptions(BaseModel):
    """What goes into a Wikipedia training set (the study config's ``pairs:`` section).

    ``max_articles``: read only the first this many articles of the sample (a deterministic prefix keeps small
    studies small); ``max_pairs``: keep a seeded sample of this many train pairs (in file order);
    ``dev_fraction`` / ``test_fraction``: shares of articles in the ``dev`` (design task ``wiki-dev``, held-out LM
    loss) and ``test`` (evaluation task ``wiki-val``) splits of :class:`retscale.data.splits.ArticleSplit` — the
    pretraining corpus of a built-in suite follows the same split; ``kinds``: which pair builders make the
    training pairs; ``passage_titles``: keep article titles on training passages; ``heldout_queries``: queries of
    ``wiki-val`` / ``wiki-dev`` (a seeded sample); ``max_tokens``: passage chunk size in approximate tokens.
    """

    model_config = ConfigDict(extra="forbid")

    max_articles: int | None = Field(None, ge=1)
    max_pairs: int | None = Field(None, ge=1)
    dev_fraction: float = Field(DEFAULT_SPLIT.dev_fraction, gt=0, lt=0.5)
    test_fraction: float = Field(DEFAULT_SPLIT.test_fraction, gt=0, lt=0.5)
    kinds: tuple[Literal["title", "section", "sentence"], ...] = Field(PAIR_KINDS, min_length=1)
    passage_titles: bool = True
    heldout_queries: int = Field(1000, ge=1)
    max_tokens: int = Field(MAX_TOKENS, ge=1)

    def article_split(self) -> ArticleSplit:
        return ArticleSplit(seed=DEFAULT_SPLIT.seed, dev_fraction=self.dev_fraction, test_fraction=self.test_fraction)


@dataclass
class WikiBuildReport:
    articles_read: int = 0
    articles_kept: int = 0
    pool_passages: dict[str, int] = field(default_factory=dict)  # split -> passages
    pairs: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> source -> count
    articles_by_split: dict[str, int] = field(default_factory=dict)  # split -> kept articles
    articles_decontaminated: int = 0  # train articles dropped: they share a 13-gram with an evaluation text

    def count(self, split: str, source: str) -> None:
        by_source = self.pairs.setdefault(split, {})
        by_source[source] = by_source.get(source, 0) + 1

    def n_pairs(self, split: str) -> int:
        return sum(self.pairs.get(split, {}).values())


def pairs_path(out_dir: Path, split: str) -> Path:
    return Path(out_dir) / f"pairs.{split}.jsonl"


def pool_path(out_dir: Path, split: str) -> Path:
    return Path(out_dir) / f"pool.{split}.jsonl"


def build_wiki_pairs(source: str | Path, out_dir: str | Path, *, split: ArticleSplit = DEFAULT_SPLIT,
                     max_tokens: int = MAX_TOKENS, kinds: tuple[str, ...] = PAIR_KINDS,
                     passage_titles: bool = True, decontaminate: tuple[str, ...] = EVAL_TASKS) -> WikiBuildReport:
    """Write ``pairs.<split>.jsonl`` and ``pool.<split>.jsonl`` for every split into ``out_dir`` (atomically).

    A ``train`` article sharing a 13-gram with an evaluation text (a ``test`` article, or a ``decontaminate`` BEIR
    task) is left out of the training pairs and the pool, as the pretraining corpus leaves it out.
    """
    from contextlib import ExitStack

    from tqdm.auto import tqdm

    from retscale.fileio import atomic_write
    from retscale.pairs.formats import dump_pair
    from retscale.pairs.overlap import article_text, contamination_reference, shares_ngram

    unknown = set(kinds) - set(PAIR_KINDS)
    if unknown:
        raise UserError(f"unknown pair kinds {sorted(unknown)}", fix=f"choose from {', '.join(PAIR_KINDS)}")
    min_tokens = math.ceil(MIN_PASSAGE_WORDS * 4 / 3)  # shorter passages are all dropped as near-empty
    if max_tokens < min_tokens:
        raise UserError(f"max tokens per passage must be ≥ {min_tokens}, got {max_tokens}",
                        fix=f"set --max-tokens (study config: pairs.max_tokens), e.g. {MAX_TOKENS}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = WikiBuildReport()
    reference: set[int] | None = None  # built at the first usable train article: bad input fails fast
    with ExitStack() as stack:
        pair_files = {sp: stack.enter_context(atomic_write(pairs_path(out, sp))) for sp in SPLITS}
        pool_files = {sp: stack.enter_context(atomic_write(pool_path(out, sp))) for sp in SPLITS}
        for _, obj in tqdm(iter_jsonl(source), desc="wiki articles", unit=" art", mininterval=1.0):
            report.articles_read += 1
            article = parse_article(obj, max_tokens)
            if article is None or not article.sections:
                continue
            sp = split.of(article.id)
            if sp == "train" and reference is None:
                reference = contamination_reference(source, split, decontaminate)
            if sp == "train" and shares_ngram(article_text(obj), reference or set()):
                report.articles_decontaminated += 1
                continue
            if not passage_titles:
                article = Article(article.id, article.title,
                                  [(h, [{**p, "title": ""} for p in ps]) for h, ps in article.sections])
            report.articles_kept += 1
            report.articles_by_split[sp] = report.articles_by_split.get(sp, 0) + 1
            for _, passages in article.sections:
                for passage in passages:
                    pool_files[sp].write(json.dumps(passage, ensure_ascii=False) + "\n")
                    report.pool_passages[sp] = report.pool_passages.get(sp, 0) + 1
            for pair in article_pairs(article, kinds):
                pair_files[sp].write(dump_pair(pair))
                report.count(sp, pair["source"])
        if not report.pairs.get("train"):  # raised inside the writers: no empty file appears
            raise UserError(f"no training pairs ({report.articles_read:,} records read, {report.articles_kept:,} "
                            "usable Wikipedia articles)", path=source,
                            fix="give WikiExtractor jsonl: id, title and text with section headings, ≥ "
                                f"{MIN_ARTICLE_WORDS} words per article")
    return report
