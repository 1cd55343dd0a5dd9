"""Retrievers for ``evaluate``: anything with ``name``, ``describe()`` and ``search(dataset, top_k)``.

``DenseRetriever`` embeds the corpus (cached on disk, optionally sharded over torchrun ranks) and queries with a
``BiEncoder`` and runs exact search with its similarity; ``make_retriever`` builds it or the BM25 baseline from a
``--model`` value.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from retscale.runtime import DistContext

if TYPE_CHECKING:
    from retscale.data import BeirDataset
    from retscale.models.biencoder import BiEncoder
    from retscale.models.embedder import Embedder


class DenseRetriever:
    """Exact search over a ``BiEncoder``'s embeddings with its similarity (an ``Embedder`` is wrapped in one)."""

    def __init__(self, encoder: BiEncoder | Embedder, *, batch_size: int = 32, use_cache: bool = True,
                 ctx: DistContext | None = None, show_progress: bool = True) -> None:
        from retscale.models.biencoder import BiEncoder

        self.encoder = encoder if isinstance(encoder, BiEncoder) else BiEncoder(encoder)
        self.embedder = self.encoder.embedder
        self.batch_size = batch_size
        self.use_cache = use_cache
        self.ctx = ctx or DistContext()
        self.show_progress = show_progress
        self.timings: dict[str, Any] = {}
        source = self.embedder.source
        self.name = source.name if source is not None else type(self.embedder.model).__name__

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "dense", "batch_size": self.batch_size, "world_size": self.ctx.world_size,
                **self.encoder.describe()}

    def _cache_fields(self, dataset: BeirDataset) -> dict[str, Any]:
        info = self.embedder.describe()
        model = info.get("model", {})
        weights = model.get("weights_sha256") or f"unsaved-{id(self.embedder.model)}"
        # A revision enters the key only when one was asked for, so keys of models named without one stay put.
        revision = {"revision": model["revision"]} if model.get("revision") else {}
        return {"weights_sha256": weights, "pooling": info["pooling"], "max_length": info["max_length"],
                "normalize": info["normalize"], "passage_prefix": info["passage_prefix"], "dtype": info["dtype"],
                "dataset": dataset.name, "dataset_checksum": dataset.checksum, **revision}

    def encode_corpus(self, dataset: BeirDataset) -> Any:
        """Corpus embeddings in ``dataset.corpus`` order (a memmap when cached)."""
        from retscale.data import passage_text
        from retscale.evaluate.cache import CorpusEmbeddingCache

        prefix = self.embedder.passage_prefix
        texts = [prefix + passage_text(doc) for doc in dataset.corpus.values()]
        if not self.use_cache and self.ctx.world_size == 1:
            return self.embedder.encode(texts, batch_size=self.batch_size, show_progress=self.show_progress,
                                        desc="encoding corpus")  # texts carry the passage prefix already
        cache = CorpusEmbeddingCache(self._cache_fields(dataset), len(texts), self.embedder.dim)
        cached = cache.load() if self.use_cache else None
        self.timings["corpus_cache_hit"] = cached is not None
        if cached is not None:
            return cached
        return cache.build(self.embedder, texts, batch_size=self.batch_size, ctx=self.ctx,
                           show_progress=self.show_progress)

    def search(self, dataset: BeirDataset, top_k: int = 1000) -> dict[str, dict[str, float]]:
        """qid → docid → score for the ``top_k`` best documents (empty on non-main torchrun ranks)."""
        from retscale.evaluate.search import exact_search, to_run

        start = time.perf_counter()
        corpus = self.encode_corpus(dataset)
        self._last_corpus = (dataset.checksum, corpus)  # for ``contrastive_entropy`` on the same dataset
        self.timings["encode_corpus_seconds"] = round(time.perf_counter() - start, 3)
        if not self.ctx.is_main:
            return {}
        start = time.perf_counter()
        query_ids = list(dataset.queries)
        queries = self.encoder.encode_queries([dataset.queries[q] for q in query_ids], batch_size=self.batch_size,
                                              show_progress=self.show_progress, desc="encoding queries")
        self.timings["encode_queries_seconds"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        drop_same = dataset.ignore_identical_ids
        # One extra hit so that dropping the query's own document still leaves top_k.
        scores, indices = exact_search(queries, corpus, top_k + int(drop_same), score=self.encoder.score)
        run = to_run(query_ids, list(dataset.corpus), scores, indices, top_k, ignore_identical_ids=drop_same)
        self.timings["search_seconds"] = round(time.perf_counter() - start, 3)
        return run


    def contrastive_entropy(self, dataset: BeirDataset, qids: list[str]) -> Any:
        """Per-query contrastive entropy of ``qids`` (``retscale.evaluate.contrastive``); NaN on helper ranks."""
        import numpy as np

        from retscale.evaluate.contrastive import contrastive_entropy

        last = getattr(self, "_last_corpus", None)  # ``search`` just encoded this corpus: reuse it
        corpus = last[1] if last is not None and last[0] == dataset.checksum else self.encode_corpus(dataset)
        if not self.ctx.is_main:
            return np.full(len(qids), np.nan)
        queries = self.embedder.encode_queries([dataset.queries[q] for q in qids], batch_size=self.batch_size,
                                               show_progress=False)
        row = {d: i for i, d in enumerate(dataset.corpus)}
        positives = [[row[d] for d, rel in sorted(dataset.qrels[q].items(), key=lambda x: -x[1]) if rel > 0 and d in row]
                     for q in qids]
        return contrastive_entropy(queries, corpus, positives)


def make_retriever(model: str, *, pooling: str | None = None, max_length: int | None = None,
                   batch_size: int = 32, query_prefix: str = "", passage_prefix: str = "", dtype: str = "float32",
                   score: str = "cos", use_cache: bool = True, ctx: DistContext | None = None,
                   revision: str | None = None) -> Any:
    """``"bm25"`` → the BM25 baseline; anything else → a ``DenseRetriever`` over ``Embedder.load(model)`` (a hub
    name at ``revision`` when given)."""
    if model.strip().lower() == "bm25":
        from retscale.bm25 import BM25Retriever

        return BM25Retriever()
    import torch

    from retscale.errors import UserError
    from retscale.models.biencoder import BiEncoder
    from retscale.models.embedder import Embedder

    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in dtypes:
        raise UserError(f"unknown dtype {dtype!r}", fix=f"use one of {', '.join(dtypes)}")
    ctx = ctx or DistContext()
    embedder = Embedder.load(model, pooling=pooling, max_length=max_length, query_prefix=query_prefix,
                             passage_prefix=passage_prefix, dtype=dtypes[dtype], revision=revision)
    embedder.model.to(ctx.device)
    return DenseRetriever(BiEncoder(embedder, score=score), batch_size=batch_size, use_cache=use_cache, ctx=ctx)
