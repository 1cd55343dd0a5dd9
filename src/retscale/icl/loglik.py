"""Continuation log-likelihoods from a causal LM, batched.

Requests that share a context (the options of a multiple-choice item) run the context ONCE, keep its key/value
cache and score all continuations against copies of it; other requests are sorted by length and run as
right-padded batches (padding on the right never changes a causal model's real positions). Inputs go to the
model's device (CPU or this rank's GPU); scores come back as Python floats.
``direct_score`` is the plain one-sequence reference the batched paths are tested against.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from retscale.icl.prompts import Request


@dataclass(frozen=True)
class ContinuationScore:
    logprob: float   # sum of log p(token) over the continuation
    n_tokens: int
    greedy: bool     # every continuation token is the model's argmax (LAMBADA-style exact match)


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _score_from_logits(logits: torch.Tensor, targets: Sequence[int]) -> ContinuationScore:
    """``logits[i]`` predicts ``targets[i]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    tgt = torch.tensor(list(targets), dtype=torch.long, device=logits.device)
    picked = logp.gather(1, tgt[:, None]).squeeze(1)
    greedy = bool((logp.argmax(dim=-1) == tgt).all())
    return ContinuationScore(float(picked.sum()), len(targets), greedy)


@torch.inference_mode()
def direct_score(model: Any, request: Request) -> ContinuationScore:
    """Reference: one unpadded sequence, no cache."""
    ids = list(request.context) + list(request.continuation)
    logits = model(torch.tensor([ids[:-1]], device=_device(model))).logits[0]
    return _score_from_logits(logits[len(request.context) - 1:], request.continuation)


def _plain_batch(model: Any, batch: list[Request]) -> list[ContinuationScore]:
    seqs = [list(r.context) + list(r.continuation[:-1]) for r in batch]
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    logits = model(input_ids=ids.to(_device(model)), attention_mask=mask.to(_device(model))).logits
    out = []
    for i, r in enumerate(batch):
        start = len(r.context) - 1
        out.append(_score_from_logits(logits[i, start:start + len(r.continuation)], r.continuation))
    return out


def _shared_prefix_group(model: Any, group: list[Request], batch_size: int) -> list[ContinuationScore]:
    context = list(group[0].context)
    first = model(input_ids=torch.tensor([context], device=_device(model)), use_cache=True)
    last_logits, cache = first.logits[0, -1], first.past_key_values
    if not hasattr(cache, "batch_repeat_interleave"):  # a model without a copyable cache: no prefix sharing
        return [s for i in range(0, len(group), batch_size) for s in _plain_batch(model, group[i:i + batch_size])]
    out: list[ContinuationScore] = []
    for start in range(0, len(group), batch_size):
        chunk = group[start:start + batch_size]
        width = max(len(r.continuation) - 1 for r in chunk)
        if width == 0:  # single-token continuations: the context's last logits say everything
            out.extend(_score_from_logits(last_logits[None], r.continuation) for r in chunk)
            continue
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.ones((len(chunk), len(context) + width), dtype=torch.long)
        for i, r in enumerate(chunk):
            tail = list(r.continuation[:-1])
            if tail:
                ids[i, : len(tail)] = torch.tensor(tail)
            mask[i, len(context) + len(tail):] = 0
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(len(chunk))
        logits = model(input_ids=ids.to(_device(model)), attention_mask=mask.to(_device(model)), past_key_values=past,
                       use_cache=True).logits
        for i, r in enumerate(chunk):
            rows = torch.cat([last_logits[None], logits[i, : len(r.continuation) - 1]], dim=0)
            out.append(_score_from_logits(rows, r.continuation))
    return out


@torch.inference_mode()
def score_requests(model: Any, requests: Sequence[Request], batch_size: int = 16, share_prefix: bool = True,
                   on_done: Callable[[int], None] | None = None) -> list[ContinuationScore]:
    """Scores in request order; ``on_done(n)`` is called as requests finish (progress bars)."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    for r in requests:
        if not r.context:
            raise ValueError("a request needs at least one context token (use a tokenizer with a BOS token)")
    results: list[ContinuationScore | None] = [None] * len(requests)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(r.context, []).append(i)
    shared = [g for g in groups.values() if share_prefix and len(g) > 1]
    plain = sorted((i for g in groups.values() if not (share_prefix and len(g) > 1) for i in g),
                   key=lambda i: -(len(requests[i].context) + len(requests[i].continuation)))
    for g in sorted(shared, key=lambda g: -len(requests[g[0]].context)):
        for i, score in zip(g, _shared_prefix_group(model, [requests[i] for i in g], batch_size), strict=True):
            results[i] = score
        if on_done:
            on_done(len(g))
    for start in range(0, len(plain), batch_size):
        idx = plain[start:start + batch_size]
        for i, score in zip(idx, _plain_batch(model, [requests[i] for i in idx]), strict=True):
            results[i] = score
        if on_done:
            on_done(len(idx))
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]
