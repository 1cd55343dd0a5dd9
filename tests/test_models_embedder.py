"""Embedder invariants on tiny random encoder/decoder models: batch size, batch composition, padding side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from retscale.errors import UserError
from retscale.models.embedder import DECODER_MAX_LENGTH, Embedder
from retscale.models.loading import load_tokenizer, resolve_model
from tiny_llama import tiny_llama

TEXTS = [
    "Dense retrieval with decoder language models.",
    "short",
    "A considerably longer passage about how retrieval quality grows with pretraining compute, "
    "measured on BEIR after contrastive fine-tuning with in-batch negatives.",
    "Mean pooling averages the non-padding tokens.",
    "x y z",
    "Scaling laws relate loss to parameters and tokens.",
    "Another sentence of middling length for the batch.",
]


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer(resolve_model("all-MiniLM-L6-v2"))


def _tiny(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "bert":
        config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=128)
        return BertModel(config).eval()
    return tiny_llama(30522, lm_head=False, seed=None, max_position_embeddings=128, pad_token_id=0)


CASES = [("bert", "mean"), ("bert", "cls"), ("llama", "last"), ("llama", "mean")]


@pytest.mark.parametrize(("kind", "pooling"), CASES)
def test_embedding_does_not_depend_on_batching_or_padding_side(kind: str, pooling: str, tokenizer) -> None:  # type: ignore[no-untyped-def]
    embedder = Embedder(_tiny(kind), tokenizer, pooling=pooling, max_length=64)
    reference = np.stack([embedder.encode([t], batch_size=1)[0] for t in TEXTS])  # each text alone
    for batch_size in (2, 3, 7):
        assert np.abs(embedder.encode(TEXTS, batch_size=batch_size) - reference).max() <= 1e-5
    # Different batch-mates: the same text among other texts.
    mixed = embedder.encode([TEXTS[2], "zzz " * 30, TEXTS[1]], batch_size=3)
    assert np.abs(mixed[0] - reference[2]).max() <= 1e-5 and np.abs(mixed[2] - reference[1]).max() <= 1e-5
    tokenizer.padding_side = "left"
    try:
        left = embedder.encode(TEXTS, batch_size=4)
    finally:
        tokenizer.padding_side = "right"
    assert np.abs(left - reference).max() <= 1e-5
    assert np.allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)


def test_embed_is_differentiable_and_matches_encode(tokenizer) -> None:  # type: ignore[no-untyped-def]
    embedder = Embedder(_tiny("bert"), tokenizer, max_length=64)
    vectors = embedder.embed(embedder.tokenize(TEXTS[:3]))
    assert vectors.requires_grad
    vectors.sum().backward()
    assert next(embedder.model.parameters()).grad is not None
    assert np.abs(vectors.detach().numpy() - embedder.encode(TEXTS[:3])).max() <= 1e-5


def test_prefixes_and_truncation(tokenizer) -> None:  # type: ignore[no-untyped-def]
    embedder = Embedder(_tiny("bert"), tokenizer, max_length=8, query_prefix="query: ", passage_prefix="passage: ")
    q = embedder.encode_queries(["hello"])
    assert np.allclose(q, embedder.encode(["query: hello"]))
    assert not np.allclose(q, embedder.encode(["hello"]))
    # Beyond max_length tokens the text no longer matters.
    long_a, long_b = "one two three four five six seven eight nine", "one two three four five six seven zebra"
    assert np.allclose(embedder.encode([long_a]), embedder.encode([long_b]))
    assert embedder.encode([]).shape == (0, 32)


def test_unnormalised_and_bad_options(tokenizer) -> None:  # type: ignore[no-untyped-def]
    embedder = Embedder(_tiny("bert"), tokenizer, normalize=False, max_length=16)
    assert not np.allclose(np.linalg.norm(embedder.encode(TEXTS), axis=1), 1.0)
    with pytest.raises(UserError, match="pooling"):
        Embedder(_tiny("bert"), tokenizer, pooling="max")


def test_save_round_trips_through_sentence_transformers(tokenizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    embedder = Embedder(_tiny("llama"), tokenizer, pooling="last", max_length=48)
    expected = embedder.encode(TEXTS)
    embedder.save(tmp_path / "model")
    reloaded = Embedder.load(tmp_path / "model")
    assert (reloaded.pooling, reloaded.max_length, reloaded.normalize) == ("last", 48, True)
    assert np.abs(reloaded.encode(TEXTS) - expected).max() <= 1e-5
    st = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    assert st.max_seq_length == 48
    assert np.abs(st.encode(TEXTS, convert_to_numpy=True) - expected).max() <= 1e-5


def test_decoder_without_st_config_defaults_to_128_tokens(tokenizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = _tiny("llama")
    model.config.architectures = ["LlamaForCausalLM"]
    model.save_pretrained(tmp_path / "dec")
    tokenizer.save_pretrained(tmp_path / "dec")
    embedder = Embedder.load(tmp_path / "dec")
    assert (embedder.pooling, embedder.max_length) == ("mean", DECODER_MAX_LENGTH)
    assert embedder.describe()["model"]["weights_sha256"]


def test_token_budget_batches_keep_padded_tokens_bounded() -> None:
    from retscale.models.embedder import _token_budget_batches

    ids = [[1] * n for n in (50, 50, 50, 20, 20, 20, 20, 20, 5, 3)]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    batches = _token_budget_batches(order, ids, max_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(len(ids)))
    assert all(len(b) * max(len(ids[i]) for i in b) <= 100 for b in batches)
    assert [len(b) for b in batches] == [2, 2, 5, 1]  # long texts 2 per batch, short ones up to 5
