"""The pretraining loss: next-token cross-entropy through the LM head, computed a block of rows at a time.

At the reference sizes the LM head is most of the compute (two thirds of d64's FLOPs with a 4,096-token
vocabulary), and the plain path writes, reads back and differentiates a ``tokens × vocabulary`` logits tensor
(134 MB a step for a 64 × 128 batch): memory traffic, not arithmetic, sets its speed at widths ≤ 128. Here each
block of ``block_rows`` positions gets its logits, its loss and — while the block is still in cache — its gradients
with respect to the hidden states and the LM-head weight; the full logits never exist. The idea is the one of
"Cut Your Losses" (Wijmans et al. 2024) and Liger's fused linear cross-entropy, written in plain torch ops.

| input | shape | meaning |
|---|---|---|
| ``hidden`` | (tokens, d) | the decoder's last hidden states (after its final norm) |
| ``weight`` | (vocabulary, d) | the LM-head matrix (tied to the input embedding in our models) |
| ``targets`` | (tokens,) | the next token at each position (every position counts: batches are packed) |

Returns the mean loss over tokens, the value ``F.cross_entropy(hidden @ weight.T, targets)`` gives, equal to it up
to float rounding (tested), as are the gradients.
"""

from __future__ import annotations

import torch

BLOCK_ROWS = 256  # 256 × 4,096 fp32 logits = 4 MB: fits the cache; measured on this CPU, 128–512 are all alike


class _BlockedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,  # type: ignore[override]
                block_rows: int) -> torch.Tensor:
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        total = torch.zeros((), dtype=torch.float32)
        for start in range(0, hidden.shape[0], block_rows):
            h, t = hidden[start:start + block_rows], targets[start:start + block_rows]
            probs, block_loss = _block_softmax(h, weight, t)
            total += block_loss
            probs[torch.arange(probs.shape[0]), t] -= 1.0  # d(loss sum)/d(logits) = softmax − one-hot
            torch.mm(probs, weight, out=grad_hidden[start:start + block_rows])
            grad_weight.addmm_(probs.T, h)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.n_tokens = hidden.shape[0]
        return total / hidden.shape[0]

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_output / ctx.n_tokens
        return grad_hidden * scale, grad_weight * scale, None, None


def _block_softmax(h: torch.Tensor, weight: torch.Tensor, t: torch.Tensor, normalise: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax of the block's logits, written over them; the block's summed loss). One exp pass, not two.
    ``normalise=False`` skips the division when only the loss is wanted (the probabilities are then unnormalised)."""
    logits = h @ weight.T
    gold = logits.gather(1, t[:, None]).squeeze(1)
    top = logits.amax(dim=1, keepdim=True)
    probs = logits.sub_(top).exp_()
    norm = probs.sum(dim=1, keepdim=True)
    loss = (top.squeeze(1) + norm.log().squeeze(1) - gold).sum().float()
    return (probs.div_(norm) if normalise else probs), loss


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         block_rows: int = BLOCK_ROWS) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets`` (module docstring: shapes, why blocks)."""
    if hidden.shape[0] == 0:
        raise ValueError("no tokens to score")
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _BlockedLinearCrossEntropy.apply(hidden, weight, targets, block_rows)
    with torch.no_grad():
        total = sum(_block_softmax(hidden[s:s + block_rows], weight, targets[s:s + block_rows], normalise=False)[1]
                    for s in range(0, hidden.shape[0], block_rows))
    return total / hidden.shape[0]  # type: ignore[operator]


def next_token_loss(model: torch.nn.Module, batch: torch.Tensor, block_rows: int = BLOCK_ROWS,
                    decoder: torch.nn.Module | None = None) -> torch.Tensor:
    """Mean next-token loss of a causal LM (``model.get_decoder()`` + ``model.get_output_embeddings()``) on
    ``batch`` (sequences, length + 1) of packed token ids. ``decoder``: the decoder to run instead (a compiled one)."""
    decoder = decoder if decoder is not None else model.get_decoder()  # type: ignore[operator]
    hidden = decoder(input_ids=batch[:, :-1]).last_hidden_state
    weight = model.get_output_embeddings().weight  # type: ignore[operator]
    return linear_cross_entropy(hidden.reshape(-1, hidden.shape[-1]), weight, batch[:, 1:].reshape(-1), block_rows)
