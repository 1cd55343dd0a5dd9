"""Retrieval metrics through pytrec_eval (trec_eval's C code, what BEIR and MTEB use), on the 0–1 scale.

Per-query values are averaged over the queries that have both qrels and a run, as BEIR/MTEB do.
MRR@10 is trec_eval's reciprocal rank on each query's run cut to its top 10 (trec_eval order: score descending,
ties by doc id descending) — BEIR's ``mrr@10``.
"""

from __future__ import annotations

import math

import pytrec_eval

METRIC_NAMES = ("ndcg_at_1", "ndcg_at_3", "ndcg_at_5", "ndcg_at_10", "ndcg_at_100", "map_at_10", "map_at_100",
                "recall_at_10", "recall_at_100", "recall_at_1000", "precision_at_10", "mrr_at_10")
_MEASURES = {"ndcg_cut.1,3,5,10,100", "map_cut.10,100", "recall.10,100,1000", "P.10"}
_RENAME = {"ndcg_cut_": "ndcg_at_", "map_cut_": "map_at_", "recall_": "recall_at_", "P_": "precision_at_"}


def _mean(per_query: dict[str, dict[str, float]], key: str) -> float:
    values = [scores[key] for scores in per_query.values()]
    return sum(values) / len(values) if values else 0.0


def top_k_run(run: dict[str, dict[str, float]], k: int) -> dict[str, dict[str, float]]:
    """Each query's k best documents, in trec_eval's ranking order."""
    out = {}
    for qid, docs in run.items():
        ranked = sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)
        out[qid] = dict(ranked[:k])
    return out


def score_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
              ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``(metrics, per_query)`` from one trec_eval pass: all ``METRIC_NAMES`` (means over the queries that have a
    run, as BEIR/MTEB average), and ``{metric: {qid: value}}`` for ``PER_QUERY_METRICS`` over every judged query
    (a query the run misses scores 0) — the unit a query bootstrap resamples."""
    qrels = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if docs}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, _MEASURES).evaluate(run)
    metrics: dict[str, float] = {}
    for measure in ("ndcg_cut_1", "ndcg_cut_3", "ndcg_cut_5", "ndcg_cut_10", "ndcg_cut_100", "map_cut_10",
                    "map_cut_100", "recall_10", "recall_100", "recall_1000", "P_10"):
        prefix, cut = measure.rsplit("_", 1)
        metrics[_RENAME[prefix + "_"] + cut] = _mean(per_query, measure)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top_k_run(run, 10))
    metrics["mrr_at_10"] = _mean(rr, "recip_rank")
    values = {"ndcg_at_10": {q: per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels},
              "mrr_at_10": {q: rr.get(q, {}).get("recip_rank", 0.0) for q in qrels}}
    return {name: metrics[name] for name in METRIC_NAMES}, values


def compute_metrics(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    """All ``METRIC_NAMES`` for a run (qid → docid → score) against graded qrels (qid → docid → relevance)."""
    return score_run(qrels, run)[0]


def ndcg_at_k(relevance: dict[str, int], ranking: list[str], k: int) -> float:
    """Plain-Python nDCG@k (trec_eval's linear gain, log2 discount): a cross-check for tests and readers."""
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted((r for r in relevance.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(rank + 2) for rank, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


PER_QUERY_METRICS = ("ndcg_at_10", "mrr_at_10")
CONTRASTIVE_ENTROPY = "contrastive_entropy"  # dense retrievers only (``retscale.evaluate.contrastive``)


def per_query_metrics(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{metric: {qid: value}}`` for ``PER_QUERY_METRICS`` (``score_run``'s second half)."""
    return score_run(qrels, run)[1]
