"""Tiny models and training files for the finetune tests (imported by tests/test_finetune_*.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

TOPICS = ["apple", "river", "castle", "violin", "comet", "desert", "glacier", "tiger", "engine", "harbor",
          "forest", "pepper", "rocket", "island", "lantern", "meadow"]
FILLER = ["the", "a", "of", "is", "about", "and", "with", "this", "text", "story", "some", "old", "new", "big"]


def make_tiny_llama(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A randomly initialised 2-layer Llama with a word-level tokenizer over the fixture vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from tiny_llama import tiny_llama

    words = ["<pad>", "<unk>", "<s>", "</s>", *TOPICS, *FILLER, "question", "passage"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>",
                                        bos_token="<s>", eos_token="</s>")
    model = tiny_llama(len(vocab), seed=seed, hidden_size=hidden, intermediate_size=2 * hidden,
                       num_hidden_layers=layers, max_position_embeddings=256, pad_token_id=0, bos_token_id=2,
                       eos_token_id=3, tie_word_embeddings=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_pairs(path: Path, n_queries: int = 16, n_negatives: int = 4, seed: int = 0) -> Path:
    """Canonical pairs jsonl: the positive shares the query's topic word; negatives are other topics."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n_queries):
            topic = TOPICS[i % len(TOPICS)]
            others = [t for t in TOPICS if t != topic]

            def doc(word: str, k: int, i: int = i) -> dict[str, str]:
                text = " ".join(rng.choice(FILLER) for _ in range(rng.randint(4, 12)))
                return {"id": f"d{i}-{k}", "title": word, "text": f"{text} {word}"}

            row = {"query_id": f"q{i}", "query": f"question about {topic} {rng.choice(FILLER)}",
                   "positives": [doc(topic, 0)],
                   "negatives": [doc(w, k + 1) for k, w in enumerate(rng.sample(others, n_negatives))],
                   "source": "fixture"}
            fh.write(json.dumps(row) + "\n")
    return path
