"""Pooling: turn per-token hidden states ``[batch, seq, dim]`` into one vector per text.

Every pool works in float32 whatever the model dtype (fp16/bf16 sums over hundreds of tokens drift), and is
correct for left or right padding: positions are found from the attention mask, never assumed.

``Pooling`` / ``POOLINGS`` are the one list of pooling names (configs and CLI choices use them); torch is imported
inside the functions so that naming a pooling does not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from retscale.errors import UserError

if TYPE_CHECKING:
    import torch

Pooling = Literal["mean", "last", "cls"]
POOLINGS: tuple[str, ...] = get_args(Pooling)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the hidden states of non-padding tokens."""
    import torch

    keep = (mask > 0).unsqueeze(-1)
    # where(), not multiply: padded rows of left-padded decoders can hold NaN, and NaN * 0 is NaN.
    summed = torch.where(keep, hidden.to(torch.float32), 0.0).sum(dim=1)
    return summed / keep.sum(dim=1).clamp(min=1).to(torch.float32)


def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of the last non-padding token (the decoder's summary under causal attention)."""
    import torch

    positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
    # Largest position that holds a real token: right padding → length-1, left padding → seq-1.
    last = (positions * (mask > 0)).amax(dim=1)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last].to(torch.float32)


def cls_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of the first non-padding token ([CLS] for BERT-style encoders)."""
    import torch

    # argmax returns the first maximal index: the first real token under either padding side.
    first = (mask > 0).to(torch.int8).argmax(dim=1)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, first].to(torch.float32)


_POOLS = {"mean": mean_pool, "last": last_token_pool, "cls": cls_pool}
assert set(_POOLS) == set(POOLINGS), "every name in Pooling needs a pool function"


def pool(name: str, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply the pooling called ``name`` (one of ``POOLINGS``)."""
    try:
        fn = _POOLS[name]
    except KeyError:
        raise UserError(f"unknown pooling {name!r}", fix=f"use one of {', '.join(POOLINGS)}") from None
    return fn(hidden, mask)
