"""The pretraining corpus: a tokenised, packed, memory-mapped ``uint16`` token stream with a held-out split.

Built once per :class:`CorpusSpec` from the public text sources (``retscale.data.sources``: the Wikipedia sample and
the NLTK zips, read in place from the offline data folder or fetched on first use) and cached in ``cache_dir("pretrain")/corpus-<key>``; ``meta.json`` is written last, so a folder
without it is an interrupted build and is rebuilt. Documents are joined with EOS.

What is held out, and why (see :mod:`retscale.data.splits`): Wikipedia articles follow the project's one
article-level split — ``train`` articles are pretraining text, ``dev`` articles are the held-out LM-loss text, and
``test`` articles (the ``wiki-val`` evaluation task) are read by nobody here. Every 100th NLTK document is held out
too. Documents sharing a 13-word n-gram with an evaluation text — a ``test`` article or any ``decontaminate`` BEIR
task's corpus or queries (:func:`retscale.pairs.overlap.contamination_reference`) — are dropped and counted, so
zero-shot evaluation stays zero-shot. Batches are a pure function of the step number (non-overlapping windows, reshuffled each epoch with
a seeded permutation), which is what makes training resumable bit-for-bit and lets a budget exceed the corpus: the
number of epochs is recorded.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from retscale.data.source_fetch import member_paths, source_path
from retscale.data.splits import DEFAULT_SPLIT, ArticleSplit
from retscale.errors import UserError
from retscale.fileio import atomic_write, read_json, stable_hash, write_json
from retscale.pairs.overlap import EVAL_TASKS, article_text, contamination_reference, shares_ngram
from retscale.settings import cache_dir

HELDOUT_EVERY = 100  # NLTK document i is held out when i % HELDOUT_EVERY == 0
WIKI_SHARE = 0.7  # of max_chars; the rest comes from NLTK, so small budgets still mix both sources
_BROWN_TAG = re.compile(r"(\S+)/[^\s/]+")
_XML_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class CorpusSpec:
    vocab_size: int = 1024
    max_chars: int | None = None  # None: all of the offline text (~86M characters)
    tokenizer_chars: int = 8_000_000  # BPE is trained on the first this-many characters
    split: ArticleSplit = DEFAULT_SPLIT  # Wikipedia articles: train → pretraining, dev → held-out loss, test → unused
    # BEIR tasks whose 13-grams no pretraining document may contain (the wiki-val articles' 13-grams are always out)
    decontaminate: tuple[str, ...] = EVAL_TASKS

    def key(self, sources: list[Path]) -> str:
        stats = [(p.name, p.stat().st_size) for p in sources]
        return stable_hash({"spec": asdict(self), "sources": stats, "version": 4})


Role = str  # "train" | "heldout" | "excluded"


def _wiki_docs(path: Path, split: ArticleSplit) -> Iterator[tuple[Role, str]]:
    roles = {"train": "train", "dev": "heldout", "test": "excluded"}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = article_text(row)
            if text:
                yield roles[split.of(str(row.get("id")))], text


def _nltk_docs(zips: list[Path]) -> Iterator[str]:
    """Plain-text members of the NLTK zips (in file-name order); Brown's POS tags and Shakespeare's XML are
    stripped."""
    for zpath in sorted(zips, key=lambda p: p.name):
        with zipfile.ZipFile(zpath) as zf:
            for name in sorted(zf.namelist()):
                base = name.rsplit("/", 1)[-1]
                if name.endswith("/") or base.upper().startswith("README") or base.startswith("cats"):
                    continue
                if zpath.stem == "genesis" and not base.startswith("english"):
                    continue  # the other translations are not English
                text = zf.read(name).decode("utf-8", errors="replace")
                if zpath.stem == "brown":
                    text = _BROWN_TAG.sub(r"\1", text)
                elif base.endswith(".xml"):
                    text = _XML_TAG.sub(" ", text)
                yield from _pieces(re.sub(r"[ \t]+", " ", text).strip())


def _pieces(text: str, size: int = 4000) -> Iterator[str]:
    """Split a whole book/file into ~``size``-character documents at blank lines, so the 1-in-100 held-out rule
    and the character budget work at a fine grain."""
    piece: list[str] = []
    length = 0
    for para in text.split("\n\n"):
        piece.append(para)
        length += len(para) + 2
        if length >= size:
            yield "\n\n".join(piece).strip()
            piece, length = [], 0
    if piece and (rest := "\n\n".join(piece).strip()):
        yield rest


def _capped(docs: Iterator[tuple[Role, str]], budget: float) -> Iterator[tuple[Role, str]]:
    used = 0
    for role, doc in docs:
        if used >= budget:
            return
        doc = doc[:int(min(len(doc), budget - used))]
        used += len(doc)
        yield role, doc


def iter_documents(max_chars: int | None, split: ArticleSplit = DEFAULT_SPLIT) -> Iterator[tuple[Role, str]]:
    """``(role, text)`` for every document: role ``train``, ``heldout`` or ``excluded`` (a ``test`` article)."""
    wiki_budget = float("inf") if max_chars is None else max_chars * WIKI_SHARE
    nltk_budget = float("inf") if max_chars is None else max_chars * (1 - WIKI_SHARE)
    yield from _capped(_wiki_docs(source_path("enwiki-sample"), split), wiki_budget)
    nltk_docs = (("heldout" if i % HELDOUT_EVERY == 0 else "train", d)
                 for i, d in enumerate(_nltk_docs(member_paths("nltk"))))
    yield from _capped(nltk_docs, nltk_budget)


def _source_files() -> list[Path]:
    """The pretraining text files (fetched on first use): the Wikipedia sample, then the NLTK zips by name."""
    return [source_path("enwiki-sample"), *sorted(member_paths("nltk"), key=lambda p: p.name)]


class Corpus:
    """A built corpus folder: ``tokenizer/``, ``train.bin``, ``heldout.bin`` (uint16) and ``meta.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = read_json(root / "meta.json")

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / "tokenizer"

    @cached_property
    def train(self) -> np.memmap:
        return np.memmap(self.root / "train.bin", dtype=np.uint16, mode="r")

    @cached_property
    def heldout(self) -> np.memmap:
        return np.memmap(self.root / "heldout.bin", dtype=np.uint16, mode="r")

    def n_windows(self, seq_len: int) -> int:
        return (len(self.train) - 1) // seq_len

    def epochs(self, tokens: int, seq_len: int) -> float:
        """How many passes over the training windows ``tokens`` training tokens amount to."""
        return tokens / (self.n_windows(seq_len) * seq_len)

    def batch(self, step: int, batch_size: int, seq_len: int, seed: int) -> np.ndarray:
        """Training batch ``step``: ``(batch_size, seq_len + 1)`` int64 token windows, a pure function of its inputs."""
        n = self.n_windows(seq_len)
        if n < batch_size:
            raise UserError(f"corpus has {n} windows of {seq_len} tokens, fewer than one batch ({batch_size})",
                            fix="raise the corpus max_chars or lower batch_size/seq_len")
        rows = []
        for k in range(step * batch_size, (step + 1) * batch_size):
            epoch, pos = divmod(k, n)
            start = int(self._permutation(epoch, n, seed)[pos]) * seq_len
            rows.append(self.train[start:start + seq_len + 1])
        return np.stack(rows).astype(np.int64)

    def heldout_batches(self, n_sequences: int, batch_size: int, seq_len: int) -> Iterator[np.ndarray]:
        """The first ``n_sequences`` held-out windows (the same for every checkpoint), in batches."""
        n = min(n_sequences, (len(self.heldout) - 1) // seq_len)
        if n == 0:
            raise UserError("the held-out split is shorter than one sequence", path=self.root,
                            fix="raise the corpus max_chars")
        for i in range(0, n, batch_size):
            rows = [self.heldout[j * seq_len:j * seq_len + seq_len + 1] for j in range(i, min(n, i + batch_size))]
            yield np.stack(rows).astype(np.int64)

    _perm_cache: dict[tuple[int, int, int], np.ndarray]

    def _permutation(self, epoch: int, n: int, seed: int) -> np.ndarray:
        cache = self.__dict__.setdefault("_perm_cache", {})
        key = (epoch, n, seed)
        if key not in cache:
            cache.clear()  # only the current epoch is ever needed
            cache[key] = np.random.default_rng([seed, epoch]).permutation(n)
        return cache[key]


def _decoded_overlap(path: Path, tokenizer: object, eos: int, reference: set[int]) -> int:
    """Documents of the written token stream that share a 13-gram with ``reference``."""
    if not reference:
        return 0
    tokens = np.fromfile(path, dtype=np.uint16)
    ends = np.flatnonzero(tokens == eos)
    starts = np.concatenate([[0], ends[:-1] + 1])
    decode = tokenizer.backend_tokenizer.decode  # type: ignore[attr-defined]
    leaked = 0
    for b in range(0, len(starts), 2000):
        docs = [tokens[s:e].tolist() for s, e in zip(starts[b:b + 2000], ends[b:b + 2000], strict=True)]
        leaked += sum(shares_ngram(decode(ids), reference) for ids in docs)
    return leaked


def _write_tokens(path: Path, ids: list[np.ndarray]) -> int:
    arr = np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint16)
    with atomic_write(path, "wb") as fh:
        fh.write(arr.tobytes())
    return int(arr.size)


def corpus_root(spec: CorpusSpec) -> Path:
    """Where the corpus of ``spec`` is (or will be) cached."""
    return cache_dir("pretrain") / f"corpus-{spec.key(_source_files())}"


def built_corpus_meta(spec: CorpusSpec) -> dict[str, Any] | None:
    """The meta of an already built corpus (None if it is not in the cache): a read, never a build."""
    meta = corpus_root(spec) / "meta.json"
    return read_json(meta) if meta.exists() else None


def build_corpus(spec: CorpusSpec, show_progress: bool = True) -> Corpus:
    """Build (or reuse) the cached corpus for ``spec``."""
    from tqdm.auto import tqdm

    from retscale.pretrain.tokenizer import train_tokenizer

    if spec.vocab_size > 65535:
        raise UserError(f"vocab_size {spec.vocab_size} does not fit the uint16 token stream", fix="use <= 65535")
    root = corpus_root(spec)
    if (root / "meta.json").exists():
        return Corpus(root)
    if root.exists():
        shutil.rmtree(root)  # an interrupted build
    root.mkdir(parents=True)
    docs: list[tuple[Role, str]] = []
    excluded = contaminated = 0
    reference = contamination_reference(source_path("enwiki-sample"), spec.split, spec.decontaminate)
    for role, text in iter_documents(spec.max_chars, spec.split):
        if role == "excluded":
            excluded += 1
        elif shares_ngram(text, reference):
            contaminated += 1
        else:
            docs.append((role, text))

    def tokenizer_texts() -> Iterator[str]:
        for _, text in _capped(((r, t) for r, t in docs if r == "train"), spec.tokenizer_chars):
            yield text

    tokenizer = train_tokenizer(tokenizer_texts(), spec.vocab_size)
    tokenizer.save_pretrained(str(root / "tokenizer"))
    eos = np.array([tokenizer.eos_token_id], dtype=np.uint16)
    backend = tokenizer.backend_tokenizer
    train_ids: list[np.ndarray] = []
    heldout_ids: list[np.ndarray] = []
    chunk = 2000
    for i in tqdm(range(0, len(docs), chunk), desc="tokenising corpus", unit="chunk", disable=not show_progress):
        batch = docs[i:i + chunk]
        encoded = backend.encode_batch([t for _, t in batch], add_special_tokens=False)
        for (role, _), enc in zip(batch, encoded, strict=True):
            target = heldout_ids if role == "heldout" else train_ids
            target.append(np.asarray(enc.ids, dtype=np.uint16))
            target.append(eos)
    n_train = _write_tokens(root / "train.bin", train_ids)
    leaked = _decoded_overlap(root / "train.bin", tokenizer, eos[0], reference)
    n_heldout = _write_tokens(root / "heldout.bin", heldout_ids)
    write_json(root / "meta.json", {
        "spec": asdict(spec), "sources": [str(p) for p in _source_files()], "documents": len(docs),
        "train_documents": sum(r == "train" for r, _ in docs),
        "characters": sum(len(t) for _, t in docs),
        "train_characters": sum(len(t) for r, t in docs if r == "train"),
        "train_tokens": n_train, "heldout_tokens": n_heldout,
        "heldout_rule": f"Wikipedia: dev articles of {spec.split}; NLTK: document index % {HELDOUT_EVERY} == 0",
        "excluded_test_articles": excluded, "decontaminated_documents": contaminated,
        "decontaminated_against": list(spec.decontaminate),
        # an independent check through the tokenizer round trip: training documents, decoded from train.bin,
        # that share a 13-gram with an evaluation text (0 unless decontamination failed)
        "overlap_check_ngram13": leaked, "eos_token_id": int(tokenizer.eos_token_id),
        "pad_token_id": int(tokenizer.pad_token_id),
    })
    return Corpus(root)
