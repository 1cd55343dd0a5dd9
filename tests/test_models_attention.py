"""The GPU recipe's attention: every stage loads decoders with transformers' SDPA attention (docs/CLUSTERS.md)."""

from __future__ import annotations

from pathlib import Path

from retscale.models.loading import load_backbone, load_causal_lm, resolve_model


def test_backbone_and_causal_lm_load_with_sdpa_attention(tmp_path: Path) -> None:
    from tiny_llama import tiny_llama

    tiny_llama(64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
               intermediate_size=32).save_pretrained(tmp_path)
    resolved = resolve_model(tmp_path)
    loaded = [load_backbone(resolved), load_causal_lm(resolved)]  # fine-tuning and evaluation / ICL
    assert [m.config._attn_implementation for m in loaded] == ["sdpa", "sdpa"]
