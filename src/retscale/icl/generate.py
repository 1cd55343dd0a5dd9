"""Greedy generation for the gauntlet's ``generation_task_with_answers`` tasks (TriviaQA, GSM8K, SVAMP)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


@torch.inference_mode()
def greedy_generate(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                    batch_size: int = 8, on_done: Callable[[int], None] | None = None) -> list[str]:
    """Decoded greedy continuations (special tokens skipped), in prompt order; prompts are left-padded."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("generation needs a tokenizer with a pad or eos token")
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, width - len(prompts[i]):] = torch.tensor(list(prompts[i]))
            mask[row, width - len(prompts[i]):] = 1
        device = next(model.parameters()).device  # CPU, or this rank's GPU
        gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, use_cache=True)
        texts = tokenizer.batch_decode(gen[:, width:].cpu(), skip_special_tokens=True)
        for row, i in enumerate(idx):
            out[i] = texts[row]
        if on_done:
            on_done(len(idx))
    return out
