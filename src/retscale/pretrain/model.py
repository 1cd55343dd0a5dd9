"""The model family: Llama-style decoders (``transformers.LlamaConfig``) built from a size spec.

Tied input/output embeddings (see :mod:`retscale.flops` for why that makes ``6·N·D`` the whole matmul cost), no
biases, SwiGLU MLP, RoPE, RMSNorm — so each checkpoint is a stock ``LlamaForCausalLM`` that ``AutoModel`` and
``AutoModelForCausalLM`` load like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from retscale.flops import DecoderShape

if TYPE_CHECKING:
    from transformers import LlamaConfig, LlamaForCausalLM


@dataclass(frozen=True)
class SizeSpec:
    """One model size. ``d_ff`` defaults to Llama's ``8/3 · d_model`` rounded up to a multiple of 16. ``ratios``:
    this size's tokens-per-parameter budgets when they differ from the suite's (a duration axis on one size only —
    a shared trunk costs its longest budget, so long budgets are affordable only on a small size)."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int | None = None
    ratios: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"size {self.name}: d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.ratios is not None and (not self.ratios or min(self.ratios) <= 0):
            raise ValueError(f"size {self.name}: ratios {self.ratios} must be positive and non-empty (None: the suite's)")

    @property
    def ffn_dim(self) -> int:
        return self.d_ff or -(-8 * self.d_model // 3 // 16) * 16

    def shape(self, vocab_size: int, seq_len: int) -> DecoderShape:
        return DecoderShape(vocab_size=vocab_size, d_model=self.d_model, n_layers=self.n_layers,
                            n_heads=self.n_heads, d_ff=self.ffn_dim, seq_len=seq_len, tied_embeddings=True)


def llama_config(shape: DecoderShape, eos_token_id: int, pad_token_id: int) -> LlamaConfig:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=shape.vocab_size, hidden_size=shape.d_model, intermediate_size=shape.d_ff,
        num_hidden_layers=shape.n_layers, num_attention_heads=shape.n_heads,
        num_key_value_heads=shape.kv_heads, max_position_embeddings=shape.seq_len,
        tie_word_embeddings=shape.tied_embeddings, bos_token_id=eos_token_id, eos_token_id=eos_token_id,
        pad_token_id=pad_token_id, rms_norm_eps=1e-5, initializer_range=0.02, use_cache=True,
    )


def build_model(shape: DecoderShape, eos_token_id: int, pad_token_id: int, seed: int) -> LlamaForCausalLM:
    """A freshly initialised model; the same seed gives the same weights."""
    from transformers import LlamaForCausalLM

    from retscale.runtime import seed_everything

    seed_everything(seed)
    return LlamaForCausalLM(llama_config(shape, eos_token_id, pad_token_id))
