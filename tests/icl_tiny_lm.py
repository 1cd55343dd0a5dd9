"""A tiny random Llama + a byte-level BPE tokenizer trained on the fly, for the ICL tests (no downloads)."""

from __future__ import annotations

import functools
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from tiny_llama import tiny_llama

CORPUS = [
    "The city councilmen refused the demonstrators a permit because they feared violence.",
    "When boiling butter, when it's ready, you can pour it into a jar.",
    "Question: What is the capital of France?\nAnswer: Paris",
    "The trophy doesn't fit into the brown suitcase because it is too large.",
    "A man is sitting on a roof. He starts pulling up roofing on a roof.",
] * 20


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_model(seed: int = 0) -> Any:
    return tiny_llama(len(tiny_tokenizer()), seed=seed, max_position_embeddings=2048)
