"""Batched continuation log-likelihoods equal a direct, unbatched computation; batch size never changes results."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from icl_tiny_lm import tiny_model, tiny_tokenizer
from retscale.icl.loglik import ContinuationScore, direct_score, score_requests
from retscale.icl.prompts import Encoder, Request, encode_partition
from retscale.icl.tasks import IclTaskSpec, read_jsonl_items

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def requests(shared_data: Path) -> list[Request]:
    small = shared_data / "icl" / "gauntlet" / "small"
    enc = Encoder(tiny_tokenizer(), 2048)
    out: list[Request] = []
    for name, task_type, k, limit in (("piqa_small", "multiple_choice", 2, 4), ("winograd_small", "schema", 1, 4),
                                      ("lambada_small", "language_modeling", 0, 2),
                                      ("hellaswag_small", "multiple_choice", 0, 2)):
        items = read_jsonl_items(small / f"{name}.jsonl", task_type)
        spec = IclTaskSpec(name, task_type, "x", (k,), continuation_delimiter="\nAnswer: ")
        out += [r for e in encode_partition(spec, items, k, enc, limit) for r in e.requests]
    # single-token continuations exercise the shared-prefix shortcut
    out += [Request(out[0].context, (t,), "", "") for t in (5, 6, 7)]
    return out


@pytest.fixture(scope="module")
def direct(requests: list[Request]) -> list[ContinuationScore]:
    model = tiny_model()
    return [direct_score(model, r) for r in requests]


@pytest.mark.parametrize(("batch_size", "share_prefix"), [(1, True), (3, True), (2, False), (64, False)])
def test_batched_matches_direct(requests: list[Request], direct: list[ContinuationScore], batch_size: int,
                                share_prefix: bool) -> None:
    model = tiny_model()
    batched = score_requests(model, requests, batch_size=batch_size, share_prefix=share_prefix)
    assert len(batched) == len(requests)
    for d, b in zip(direct, batched, strict=True):
        assert b.n_tokens == d.n_tokens
        assert abs(b.logprob - d.logprob) < 1e-4
        assert b.greedy == d.greedy


def test_direct_score_is_the_sum_of_token_log_probs() -> None:
    model = tiny_model()
    ctx, cont = [1, 10, 11, 12], [13, 14]
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0], dim=-1)
    expected = float(logp[3, 13] + logp[4, 14])
    assert abs(direct_score(model, Request(tuple(ctx), tuple(cont), "", "")).logprob - expected) < 1e-5


def test_greedy_match_flags_the_models_own_continuation() -> None:
    model = tiny_model()
    ctx = [1, 20, 21, 22]
    with torch.inference_mode():
        gen = model.generate(torch.tensor([ctx]), max_new_tokens=3, do_sample=False, pad_token_id=0)[0, 4:].tolist()
    own, other = Request(tuple(ctx), tuple(gen), "", ""), Request(tuple(ctx), (gen[0], (gen[1] + 1) % 300), "", "")
    scores = score_requests(model, [own, other], batch_size=2)
    assert scores[0].greedy and not scores[1].greedy


def test_empty_context_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one context token"):
        score_requests(tiny_model(), [Request((), (1, 2), "", "")])
