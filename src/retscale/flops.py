"""Parameter and FLOP accounting for decoder-only (Llama-style) transformers.

Two compute counts are recorded for every checkpoint:

* ``flops_6nd = 6 · N · D`` (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", §2.1; used by
  Chinchilla, Hoffmann et al. 2022, and by Portes et al. 2025 for the MPT family). Kaplan's N excludes embeddings;
  Chinchilla's N is the total parameter count. **retscale uses the total N** (embeddings included) for
  ``flops_6nd``, ``tokens_per_param`` and the scaling axis, because (a) it is what the paper and external suites
  (MPT, Pythia, SmolLM) publish, so our tiny models sit on the same axis as declared external checkpoints, and (b)
  our models tie the input embedding to the LM head, so the ``V·d`` embedding parameters are exactly the weights of
  the LM-head matmul, whose fwd+bwd cost is ``6·V·d`` per token: with tied embeddings ``6·N_total·D`` is the
  matmul cost of the whole network, while Kaplan's non-embedding N would drop the LM head — which for a 200k-param
  model with a 1k vocab is about half of all compute. The non-embedding count is stored too
  (``n_params_non_embedding``), so either convention can be re-derived.
* ``flops_full``: Chinchilla's fuller count (Hoffmann et al. 2022, Appendix F, Table A4 "FLOPs per sequence"):
  QKV/output projections, attention logits ``2·T·d_attn``, softmax ``3·h·T``, the attention-weighted reduction
  ``2·T·d_attn``, the MLP (SwiGLU: three ``d×d_ff`` matrices), the final logits ``2·d·V``; backward = 2 × forward.
  Differences from Table A4, on purpose: the input embedding is a gather, not a matmul, so it is not counted
  (Table A4 counts ``2·V·d`` for it); grouped-query attention uses ``n_kv_heads`` for K and V; causal masking is
  not halved (as in Table A4 and PaLM's MFU). Norms, rotary embeddings and the optimizer are ignored (< 1 %).
  This count is the numerator of MFU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class DecoderShape:
    """The dimensions that determine a Llama-style decoder's parameter count and FLOPs."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    seq_len: int
    n_kv_heads: int | None = None  # None: same as n_heads (no grouped-query attention)
    tied_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads


@dataclass(frozen=True)
class ParamCounts:
    total: int
    non_embedding: int
    embedding: int


def param_counts(shape: DecoderShape) -> ParamCounts:
    """Exact parameter count of ``transformers.LlamaForCausalLM`` (no biases, RMSNorm weights only).

    Per layer: q and o (``d × h·hd``), k and v (``d × kv·hd``), SwiGLU gate/up/down (``3·d·d_ff``), two norms (``2d``);
    plus the final norm (``d``). Embedding ``V·d``, counted once when tied to the LM head, twice otherwise.
    "Non-embedding" (Kaplan) excludes the input embedding; an untied LM head counts as non-embedding.
    """
    d, hd = shape.d_model, shape.head_dim
    attn = 2 * d * shape.n_heads * hd + 2 * d * shape.kv_heads * hd
    per_layer = attn + 3 * d * shape.d_ff + 2 * d
    embedding = shape.vocab_size * d
    non_embedding = shape.n_layers * per_layer + d
    if not shape.tied_embeddings:
        non_embedding += embedding  # separate LM head matrix
    return ParamCounts(total=non_embedding + embedding, non_embedding=non_embedding, embedding=embedding)


def flops_6nd(n_params: int, tokens: int) -> float:
    """Kaplan/Chinchilla training compute ``6·N·D`` (2 for the forward pass, 4 for the backward)."""
    return 6.0 * n_params * tokens


def forward_flops_per_token(shape: DecoderShape) -> float:
    """Forward FLOPs per token, Chinchilla Appendix F counting (see module docstring for the differences)."""
    d, hd, T = shape.d_model, shape.head_dim, shape.seq_len
    d_attn = shape.n_heads * hd
    projections = 2 * d * d_attn * 2 + 2 * d * shape.kv_heads * hd * 2  # q, o and k, v
    logits = 2 * T * d_attn
    softmax = 3 * shape.n_heads * T
    reduction = 2 * T * d_attn
    mlp = 2 * 3 * d * shape.d_ff
    per_layer = projections + logits + softmax + reduction + mlp
    lm_head = 2 * d * shape.vocab_size
    return float(shape.n_layers * per_layer + lm_head)


def training_flops_per_token(shape: DecoderShape) -> float:
    """Forward + backward (backward = 2 × forward)."""
    return 3.0 * forward_flops_per_token(shape)


def flops_full(shape: DecoderShape, tokens: int) -> float:
    """Training FLOPs including attention scores and the LM head, for ``tokens`` training tokens."""
    return training_flops_per_token(shape) * tokens


def mfu(shape: DecoderShape, tokens_per_second: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: achieved ``flops_full`` rate over the hardware's measured matmul peak."""
    return training_flops_per_token(shape) * tokens_per_second / peak_flops


def measure_matmul_flops(n: int = 1024, seconds: float = 0.5) -> float:
    """Best observed fp32 FLOP/s of an ``n×n @ n×n`` matmul with torch's current thread count."""
    import torch  # here, not at import time: the rest of this module is plain arithmetic

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def format_count(n: float | None) -> str:
    """12_300_000 → "12.3M": the label of a parameter or token count (the study's default size label)."""
    if n is None:
        return "—"
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"
