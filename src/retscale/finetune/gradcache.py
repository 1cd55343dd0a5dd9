"""One contrastive training step's forward + backward, either plain or GradCache-chunked.

GradCache (Gao et al. 2021): memory for a contrastive step normally grows with the whole group
(queries + positives + negatives). Chunked mode instead

1. embeds every text in chunks *without* an autograd graph, recording each chunk's RNG state;
2. computes the loss on those cached embeddings and backpropagates to them only (cheap: ``[N, D]``);
3. re-embeds each chunk *with* a graph, replaying its RNG state (so dropout masks match), and backpropagates the
   cached embedding gradient through it: ``(embedding * cached_grad).sum().backward()``.

The parameter gradients equal the unchunked ones (up to float rounding) while peak activation memory is that of one
chunk. Cost: one extra forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from retscale.models.biencoder import BiEncoder

EmbedFn = Callable[[list[str]], torch.Tensor]  # texts -> [len(texts), D]: the bi-encoder's embed_queries/passages
RngStates = list[tuple[torch.Tensor, list[torch.Tensor]]]


def contrastive_backward(encoder: BiEncoder, queries: list[str], passages: list[str],
                         chunk_size: int | None = None) -> float:
    """Forward and backward of ``encoder.loss`` for one batch; gradients accumulate in the parameters. Returns
    the loss value."""
    if not chunk_size:
        loss = encoder.loss(encoder.embed_queries(queries), encoder.embed_passages(passages))
        loss.backward()
        return float(loss.detach())
    q_cached, q_rng = _embed_without_graph(encoder.embed_queries, queries, chunk_size)
    p_cached, p_rng = _embed_without_graph(encoder.embed_passages, passages, chunk_size)
    q_leaf = q_cached.requires_grad_()
    p_leaf = p_cached.requires_grad_()
    loss = encoder.loss(q_leaf, p_leaf)
    loss.backward()
    assert q_leaf.grad is not None and p_leaf.grad is not None
    _backward_through_chunks(encoder.embed_queries, queries, chunk_size, q_leaf.grad, q_rng)
    _backward_through_chunks(encoder.embed_passages, passages, chunk_size, p_leaf.grad, p_rng)
    return float(loss.detach())


def _cuda_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def _capture_rng() -> tuple[torch.Tensor, list[torch.Tensor]]:
    cuda = [torch.cuda.get_rng_state(d) for d in _cuda_devices()]
    return torch.get_rng_state(), cuda


def _embed_without_graph(embed: EmbedFn, texts: list[str], chunk_size: int) -> tuple[torch.Tensor, RngStates]:
    parts, states = [], []
    for start in range(0, len(texts), chunk_size):
        states.append(_capture_rng())
        with torch.no_grad():
            parts.append(embed(texts[start:start + chunk_size]).detach())
    return torch.cat(parts), states


def _backward_through_chunks(embed: EmbedFn, texts: list[str], chunk_size: int, cached_grad: torch.Tensor,
                             states: RngStates) -> None:
    devices = _cuda_devices()
    for index, start in enumerate(range(0, len(texts), chunk_size)):
        cpu_state, cuda_states = states[index]
        # fork_rng: replay this chunk's RNG without disturbing the stream the rest of training sees.
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(cpu_state)
            for device, state in zip(devices, cuda_states, strict=True):
                torch.cuda.set_rng_state(state, device)
            embedded = embed(texts[start:start + chunk_size])
        grad = cached_grad[start:start + chunk_size].to(embedded.dtype)
        (embedded * grad).sum().backward()
