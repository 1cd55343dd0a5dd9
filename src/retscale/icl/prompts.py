"""Few-shot prompts built exactly like llm-foundry's ICL datasets, then tokenised the same way.

Text: ``prompt_string`` + few-shot examples (each ``[example_delimiter]prelimiter + context +
continuation_delimiter + answer``) + the item's context; string fields are stripped first (``strip_data``).
Tokens: the preamble (prompt + few-shot) is tokenised WITH special tokens, the item context and each
continuation WITHOUT, and concatenated; continuations get a leading space for BPE tokenizers that need one.
Few-shot indices come from one ``random.Random(seed)`` per dataset, consumed item by item, never the item itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from retscale.errors import UserError
from retscale.icl.tasks import IclTaskSpec, Item, LMItem, MCItem, QAItem, SchemaItem


@dataclass(frozen=True)
class Request:
    """Score ``continuation`` given ``context`` (token ids); the texts are kept for cross-checks."""

    context: tuple[int, ...]
    continuation: tuple[int, ...]
    context_text: str
    continuation_text: str
    truncated: bool = False  # continuation cut to fit a very small context window (reported per task)


@dataclass(frozen=True)
class EncodedItem:
    """One item ready for the model: an option list (MC, schema), one target (LM) or a generation prompt (QA)."""

    index: int
    requests: tuple[Request, ...]
    gold: int | None = None
    answers: tuple[str, ...] = ()  # QA: acceptable answers
    prompt: tuple[int, ...] = ()   # QA: tokens to generate from


def fewshot_indices(dataset_size: int, num_fewshot: int, example_idx: int, rng: random.Random) -> set[int]:
    """llm-foundry's ``get_fewshot_sample_idxs``: sample without replacement, swap out the item itself."""
    num_fewshot = min(dataset_size - 1, num_fewshot)
    idxs = set(rng.sample(range(0, dataset_size), num_fewshot))
    if example_idx in idxs:
        idxs.remove(example_idx)
        if len(idxs) >= dataset_size - 1:
            return idxs
        replacement = rng.choice(range(0, dataset_size))
        while replacement in idxs or replacement == example_idx:
            replacement = rng.choice(range(0, dataset_size))
        idxs.add(replacement)
    return idxs


def needs_prefix_space(tokenizer: Any) -> bool:
    """GPT-2-style BPE needs ``' answer'``; SentencePiece does not (``' a'`` is then two tokens)."""
    return len(tokenizer(" a", add_special_tokens=False)["input_ids"]) == 1


def _answer_in_context(spec: IclTaskSpec, item: Item, has_cot: bool) -> str:
    if isinstance(item, MCItem):
        return item.choices[item.gold]
    if isinstance(item, LMItem):
        return item.continuation.strip()
    if isinstance(item, QAItem):
        if has_cot:
            return f"{item.chain_of_thought.strip()}{spec.cot_delimiter}{item.answer.strip()}"
        return item.answer.strip()
    raise TypeError(type(item))


def _context_text(item: Item) -> str:
    return (item.query if isinstance(item, MCItem) else item.context).strip()  # type: ignore[union-attr]


def _example_text(spec: IclTaskSpec, item: Item, preceding: str, has_cot: bool) -> str:
    """One solved few-shot example (``construct_context(add_answer=True)``)."""
    if isinstance(item, SchemaItem):
        ctx = item.context_options[item.gold]
        if preceding:
            ctx = f"{spec.example_delimiter}{ctx}"
        return f"{spec.question_prelimiter}{ctx}{spec.continuation_delimiter}{item.continuation.strip()}"
    ctx = f"{spec.question_prelimiter}{_context_text(item)}"
    if preceding:
        ctx = f"{spec.example_delimiter}{ctx}"
    return f"{ctx}{spec.continuation_delimiter}{_answer_in_context(spec, item, has_cot)}"


def fewshot_preamble(spec: IclTaskSpec, items: list[Item], index: int, num_fewshot: int, rng: random.Random,
                     has_cot: bool = False) -> str:
    text = spec.prompt_string
    if num_fewshot > 0:
        for j in fewshot_indices(len(items), num_fewshot, index, rng):
            text += _example_text(spec, items[j], text, has_cot)
    return text


class Encoder:
    """Tokenises prompts for one tokenizer and context window (``max_seq_len``, trimmed from the left)."""

    def __init__(self, tokenizer: Any, max_seq_len: int) -> None:
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.prefix_space = needs_prefix_space(tokenizer)

    def ids(self, text: str, special: bool = False) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def preamble(self, text: str) -> list[int]:
        ids = self.ids(text, special=True)
        eos = self.tokenizer.eos_token_id
        if eos is not None and len(ids) > 1 and ids[-1] == eos:  # llm-foundry's _fix_eos_on_preamble
            ids = ids[:-1]
        return ids

    def spaced(self, text: str) -> str:
        return f" {text}" if self.prefix_space and not text.startswith(" ") else text

    def request(self, context: list[int], context_text: str, continuation_text: str) -> Request:
        cont = self.ids(continuation_text)
        if not cont:
            raise UserError(f"an answer option {continuation_text!r} is empty", fix="remove empty options")
        truncated = len(cont) >= self.max_seq_len
        if truncated:
            # llm-foundry raises here; a tiny-window model (e.g. 128 tokens) still gets scored on the option's
            # first window-1 tokens, and the task reports how many items needed this.
            cont = cont[: self.max_seq_len - 1]
        room = self.max_seq_len - len(cont)
        return Request(tuple(context[-room:]), tuple(cont), context_text, continuation_text, truncated)


def encode_partition(spec: IclTaskSpec, items: list[Item], num_fewshot: int, encoder: Encoder,
                     limit: int | None = None) -> list[EncodedItem]:
    """Encode the first ``limit`` items of one dataset partition; prompts match a full run item for item."""
    rng = random.Random(spec.fewshot_random_seed)
    has_cot = any(isinstance(it, QAItem) and it.chain_of_thought for it in items)
    n = len(items) if limit is None else min(limit, len(items))
    out: list[EncodedItem] = []
    for index in range(n):
        item = items[index]
        pre_text = fewshot_preamble(spec, items, index, num_fewshot, rng, has_cot)
        pre = encoder.preamble(pre_text)
        if isinstance(item, SchemaItem):
            if pre_text:
                delim = spec.continuation_delimiter.rstrip()
                ctxs = [f"{spec.question_prelimiter}{spec.example_delimiter}{c}{delim}" for c in item.context_options]
            else:
                ctxs = [f"{spec.question_prelimiter}{c}" for c in item.context_options]
            cont = encoder.spaced(item.continuation.strip())
            reqs = tuple(encoder.request(pre + encoder.ids(c), pre_text + c, cont) for c in ctxs)
            out.append(EncodedItem(index, reqs, gold=item.gold))
            continue
        ctx = f"{spec.question_prelimiter}{_context_text(item)}"
        if pre_text:
            ctx = f"{spec.example_delimiter}{ctx}"
        ctx = f"{ctx}{spec.continuation_delimiter}".rstrip()
        ctx_ids = pre + encoder.ids(ctx)
        if isinstance(item, MCItem):
            reqs = tuple(encoder.request(ctx_ids, pre_text + ctx, encoder.spaced(c)) for c in item.choices)
            out.append(EncodedItem(index, reqs, gold=item.gold))
        elif isinstance(item, LMItem):
            req = encoder.request(ctx_ids, pre_text + ctx, encoder.spaced(item.continuation.strip()))
            out.append(EncodedItem(index, (req,)))
        else:
            assert isinstance(item, QAItem)
            answers = tuple(dict.fromkeys([item.answer.strip(), *item.aliases]))
            out.append(EncodedItem(index, (), answers=answers, prompt=tuple(ctx_ids[-encoder.max_seq_len:])))
    return out


def max_answer_tokens(spec: IclTaskSpec, items: list[Item], encoder: Encoder) -> int:
    """llm-foundry's generation budget: the longest answer (with CoT) in tokens, +10 when a CoT delimiter is set."""
    has_cot = any(isinstance(it, QAItem) and it.chain_of_thought for it in items)
    longest = 0
    for it in items:
        assert isinstance(it, QAItem)
        for ans in [it.answer.strip(), *it.aliases]:
            text = f"{it.chain_of_thought.strip()}{spec.cot_delimiter}{ans}" if has_cot else ans
            longest = max(longest, len(encoder.ids(text, special=True)))
    return longest + (10 if spec.cot_delimiter else 0)
