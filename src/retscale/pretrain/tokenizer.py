"""Byte-level BPE tokenizer trained on the pretraining text, saved as a standard HF tokenizer.

Byte-level (GPT-2 style) so every string round-trips exactly and no text is ever ``<unk>``. The vocabulary is small
by default: for tiny models the LM head (``V·d``) dominates both parameters and compute.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from transformers import PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE with ``vocab_size`` entries (incl. the 256 bytes and 2 special tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 258 + 1:
        raise ValueError(f"vocab_size must exceed 258 (256 bytes + eos + pad), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN, PAD_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN,
                                   pad_token=PAD_TOKEN, unk_token=None, clean_up_tokenization_spaces=False,
                                   model_max_length=1 << 30)


def load_bpe_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """The pretraining tokenizer saved in ``path`` (models in general: ``retscale.models.loading.load_tokenizer``)."""
    return PreTrainedTokenizerFast.from_pretrained(str(path))
