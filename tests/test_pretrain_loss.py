"""The blocked LM-head loss is the plain cross-entropy: same value and same gradients (for every parameter of a
tied model) up to float rounding, whatever the block size, with and without autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from retscale.flops import DecoderShape
from retscale.pretrain.loss import linear_cross_entropy, next_token_loss
from retscale.pretrain.model import build_model

SHAPE = DecoderShape(vocab_size=97, d_model=32, n_layers=2, n_heads=2, d_ff=96, seq_len=16, tied_embeddings=True)


def _plain(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=batch[:, :-1]).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


@pytest.mark.parametrize("block_rows", [1, 7, 256])  # 7 does not divide the 5 × 16 = 80 positions
def test_loss_and_every_gradient_match_the_plain_path(block_rows: int) -> None:
    batch = torch.randint(0, SHAPE.vocab_size, (5, SHAPE.seq_len + 1), generator=torch.Generator().manual_seed(0))
    plain, blocked = (build_model(SHAPE, eos_token_id=0, pad_token_id=1, seed=3) for _ in range(2))
    expected = _plain(plain, batch)
    got = next_token_loss(blocked, batch, block_rows=block_rows)
    (2.5 * expected).backward()  # a non-unit upstream gradient must be carried through
    (2.5 * got).backward()
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    for (name, p), q in zip(plain.named_parameters(), blocked.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-7), name
    assert blocked.get_output_embeddings().weight is blocked.get_input_embeddings().weight  # tied: one gradient


def test_without_autograd_the_value_is_the_same() -> None:
    gen = torch.Generator().manual_seed(1)
    hidden, weight = torch.randn(50, 8, generator=gen), torch.randn(13, 8, generator=gen)
    targets = torch.randint(0, 13, (50,), generator=gen)
    expected = F.cross_entropy(hidden @ weight.T, targets)
    with torch.no_grad():
        assert linear_cross_entropy(hidden, weight, targets, block_rows=16).item() == pytest.approx(expected.item(),
                                                                                                  rel=1e-6)
    weight.requires_grad_(True)
    with torch.no_grad():  # parameters that require grad, under no_grad (the held-out loss): no graph, same value
        value = linear_cross_entropy(hidden, weight, targets, block_rows=16)
    assert not value.requires_grad and value.item() == pytest.approx(expected.item(), rel=1e-6)


def test_large_logits_do_not_overflow() -> None:
    hidden = torch.tensor([[100.0, 0.0], [0.0, -100.0]])
    weight = torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]], requires_grad=True)
    targets = torch.tensor([0, 2])
    got = linear_cross_entropy(hidden, weight, targets, block_rows=1)
    expected = F.cross_entropy(hidden @ weight.T, targets)
    assert torch.isfinite(got) and got.item() == pytest.approx(expected.item(), abs=1e-6)


def test_no_tokens_is_an_error() -> None:
    with pytest.raises(ValueError, match="no tokens"):
        linear_cross_entropy(torch.zeros(0, 4), torch.zeros(3, 4), torch.zeros(0, dtype=torch.long))
