"""Exact nearest-neighbour search: every query against every document, in chunks so memory stays bounded.

Scores for a block of queries × a block of documents are computed with one matmul, the block's top-k is taken
with ``torch.topk`` and merged into the running top-k. Peak memory is ``query_chunk × doc_chunk`` floats
whatever the corpus size, and the corpus may be a ``np.memmap`` read block by block.
"""

from __future__ import annotations

import numpy as np
import torch

from retscale.models.similarity import similarity_fn


def exact_search(queries: np.ndarray, corpus: np.ndarray, top_k: int, *, score: str = "cos",
                 query_chunk: int = 1024, doc_chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Top-k ``(scores, indices)`` of shape ``[n_queries, k]`` (k = min(top_k, n_docs)), best first.

    ``score`` is ``"cos"`` (cosine similarity) or ``"dot"`` (inner product).
    """
    similarity = similarity_fn(score)
    n_docs = corpus.shape[0]
    k = min(top_k, n_docs)
    all_scores = np.empty((queries.shape[0], k), dtype=np.float32)
    all_indices = np.empty((queries.shape[0], k), dtype=np.int64)
    for q_start in range(0, queries.shape[0], query_chunk):
        q = torch.from_numpy(np.ascontiguousarray(queries[q_start:q_start + query_chunk], dtype=np.float32))
        best_scores = torch.full((q.shape[0], 0), float("-inf"))
        best_indices = torch.zeros((q.shape[0], 0), dtype=torch.long)
        for d_start in range(0, n_docs, doc_chunk):
            block = torch.from_numpy(np.array(corpus[d_start:d_start + doc_chunk], dtype=np.float32))  # copy: memmaps are read-only
            sims = similarity(q, block)
            block_scores, block_indices = torch.topk(sims, min(k, sims.shape[1]), dim=1)
            merged_scores = torch.cat([best_scores, block_scores], dim=1)
            merged_indices = torch.cat([best_indices, block_indices + d_start], dim=1)
            best_scores, pick = torch.topk(merged_scores, min(k, merged_scores.shape[1]), dim=1)
            best_indices = torch.gather(merged_indices, 1, pick)
        all_scores[q_start:q_start + q.shape[0]] = best_scores.numpy()
        all_indices[q_start:q_start + q.shape[0]] = best_indices.numpy()
    return all_scores, all_indices


def to_run(query_ids: list[str], doc_ids: list[str], scores: np.ndarray, indices: np.ndarray, top_k: int,
           ignore_identical_ids: bool = False) -> dict[str, dict[str, float]]:
    """``qid → docid → score`` from search output; drops a query's own id first when the task says so."""
    run: dict[str, dict[str, float]] = {}
    for row, qid in enumerate(query_ids):
        hits: dict[str, float] = {}
        for s, i in zip(scores[row].tolist(), indices[row].tolist(), strict=True):
            doc = doc_ids[i]
            if ignore_identical_ids and doc == qid:
                continue
            hits[doc] = s
            if len(hits) == top_k:
                break
        run[qid] = hits
    return run
