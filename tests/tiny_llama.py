"""The one builder of tiny random Llama models for the tests (finetune, ICL, embedder and loading tests)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaModel


def tiny_llama(vocab_size: int, *, lm_head: bool = True, seed: int | None = 0, **overrides: Any) -> Any:
    """A randomly initialised Llama (2 layers, width 32, 4 heads over 2 KV heads unless ``overrides`` say
    otherwise), in eval mode. ``lm_head=False`` gives the bare ``LlamaModel``; ``seed=None`` leaves the global
    RNG as it is."""
    settings: dict[str, Any] = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                "num_attention_heads": 4, "num_key_value_heads": 2, **overrides}
    if seed is not None:
        torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, **settings)
    return (LlamaForCausalLM(config) if lm_head else LlamaModel(config)).eval()
