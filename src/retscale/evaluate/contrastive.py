"""Contrastive entropy: a retrieval metric smooth enough to see small effects.

nDCG@10 moves in steps of whole ranks and sits at the floor for weak models; Fang et al. (2024, "Scaling Laws for
Dense Retrieval") found dense-retrieval scaling laws with the *contrastive entropy* of held-out query–positive
pairs instead: the InfoNCE loss of each query's positive against a fixed sample of negatives,

    CE(q) = −log [ exp(s(q, d⁺)/τ) / (exp(s(q, d⁺)/τ) + Σ_{d⁻ ∈ N} exp(s(q, d⁻)/τ)) ],

lower is better. Here ``s`` is cosine similarity, ``N`` a seeded sample of ``n_negatives`` corpus documents shared by
every query and every model (a query's own relevant documents are left out of it), and τ is fixed
(``TEMPERATURE``) so numbers are comparable across models and recipes. Chance level is ``log(1 + n_negatives)``.
"""

from __future__ import annotations

import numpy as np

TEMPERATURE = 0.05
N_NEGATIVES = 255


def negative_sample(n_docs: int, n_negatives: int = N_NEGATIVES, seed: int = 0) -> np.ndarray:
    """The shared negative sample: indices into the corpus (a few spare so each query can skip its positives)."""
    rng = np.random.default_rng(seed)
    return rng.choice(n_docs, size=min(n_docs, n_negatives + 16), replace=False)


def contrastive_entropy(queries: np.ndarray, corpus: np.ndarray, positives: list[list[int]], *,
                        n_negatives: int = N_NEGATIVES, temperature: float = TEMPERATURE,
                        seed: int = 0) -> np.ndarray:
    """Per-query contrastive entropy (nats).

    | input | shape / type | meaning |
    |---|---|---|
    | ``queries`` | (Q, dim) float, L2-normalised | query embeddings |
    | ``corpus`` | (D, dim) float, L2-normalised | document embeddings (may be a memmap) |
    | ``positives`` | Q lists of corpus row indices | each query's relevant documents; the first is its positive |

    Returns a (Q,) array. Queries without a positive get NaN.
    """
    sample = negative_sample(len(corpus), n_negatives, seed)
    sample_emb = np.asarray(corpus[np.sort(sample)], dtype=np.float32)
    order = np.sort(sample)
    sims = np.asarray(queries, dtype=np.float32) @ sample_emb.T  # (Q, |sample|)
    out = np.full(len(queries), np.nan)
    for i, pos in enumerate(positives):
        if not pos:
            continue
        keep = ~np.isin(order, pos)
        negs = sims[i, keep][:n_negatives]
        s_pos = float(np.asarray(queries[i], dtype=np.float32) @ np.asarray(corpus[pos[0]], dtype=np.float32))
        logits = np.concatenate([[s_pos], negs]) / temperature
        out[i] = float(np.logaddexp.reduce(logits) - logits[0])
    return out
