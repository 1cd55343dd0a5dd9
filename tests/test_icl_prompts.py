"""Prompt text and tokens follow llm-foundry's ICL datasets; few-shot sampling is seeded and excludes the item."""

from __future__ import annotations

import random
from pathlib import Path

from icl_tiny_lm import tiny_tokenizer
from retscale.icl.prompts import Encoder, encode_partition, fewshot_indices, needs_prefix_space
from retscale.icl.tasks import IclTaskSpec, LMItem, MCItem, QAItem, SchemaItem, read_jsonl_items

MC = IclTaskSpec("arc", "multiple_choice", "x.jsonl", (2,), continuation_delimiter="\nAnswer: ")
ITEMS = [MCItem(f" question {i} ", (f"yes {i}", f"no {i}"), i % 2) for i in range(6)]


def test_fewshot_indices_are_seeded_and_exclude_the_item() -> None:
    for idx in range(10):
        a = fewshot_indices(10, 4, idx, random.Random(1234))
        assert a == fewshot_indices(10, 4, idx, random.Random(1234))
        assert len(a) == 4 and idx not in a
    assert fewshot_indices(3, 5, 1, random.Random(0)) == {0, 2}  # capped at dataset_size - 1


def test_multiple_choice_prompt_text() -> None:
    enc = encode_partition(MC, ITEMS, 2, Encoder(tiny_tokenizer(), 2048))
    rng = random.Random(1234)
    for e in enc:
        shots = fewshot_indices(len(ITEMS), 2, e.index, rng)
        expected = "\n".join(f"question {j}\nAnswer: {ITEMS[j].choices[ITEMS[j].gold]}" for j in shots)
        expected += f"\nquestion {e.index}\nAnswer:"
        assert [r.context_text for r in e.requests] == [expected, expected]
        assert [r.continuation_text for r in e.requests] == [f" yes {e.index}", f" no {e.index}"]
        assert e.gold == e.index % 2


def test_tokens_are_preamble_context_and_continuation_tokenised_separately() -> None:
    tok = tiny_tokenizer()
    e = encode_partition(MC, ITEMS, 2, Encoder(tok, 2048), limit=1)[0]
    r = e.requests[0]
    preamble, _, ctx = r.context_text.rpartition("\nquestion 0")
    assert list(r.context) == tok(preamble)["input_ids"] + tok("\nquestion 0" + ctx, add_special_tokens=False)["input_ids"]
    assert list(r.continuation) == tok(" yes 0", add_special_tokens=False)["input_ids"]


def test_limit_gives_the_same_prompts_as_a_full_run() -> None:
    enc = Encoder(tiny_tokenizer(), 2048)
    assert encode_partition(MC, ITEMS, 2, enc, limit=3) == encode_partition(MC, ITEMS, 2, enc)[:3]


def test_context_window_trims_from_the_left() -> None:
    full = encode_partition(MC, ITEMS, 2, Encoder(tiny_tokenizer(), 2048), limit=1)[0].requests[0]
    short = encode_partition(MC, ITEMS, 2, Encoder(tiny_tokenizer(), 12), limit=1)[0].requests[0]
    assert len(short.context) + len(short.continuation) == 12
    assert short.context == full.context[-len(short.context):] and short.continuation == full.continuation


def test_schema_prompts_zero_and_few_shot(shared_data: Path) -> None:
    items = read_jsonl_items(shared_data / "icl" / "gauntlet" / "small" / "winograd_small.jsonl", "schema")
    spec = IclTaskSpec("winograd", "schema", "x.jsonl", (0,))
    zero = encode_partition(spec, items, 0, Encoder(tiny_tokenizer(), 2048), limit=1)[0]
    first = items[0]
    assert isinstance(first, SchemaItem)
    assert [r.context_text for r in zero.requests] == list(first.context_options)
    assert {r.continuation_text for r in zero.requests} == {" feared violence."}
    one = encode_partition(spec, items, 1, Encoder(tiny_tokenizer(), 2048), limit=1)[0]
    shot = fewshot_indices(len(items), 1, 0, random.Random(1234)).pop()
    solved = f"{items[shot].context_options[items[shot].gold]} {items[shot].continuation}"
    assert [r.context_text for r in one.requests] == [f"{solved}\n{c}" for c in first.context_options]


def test_lm_and_qa_prompts() -> None:
    enc = Encoder(tiny_tokenizer(), 2048)
    lm = encode_partition(IclTaskSpec("l", "language_modeling", "x", (0,)), [LMItem("The cat sat on the", "mat")], 0, enc)
    assert lm[0].requests[0].context_text == "The cat sat on the" and lm[0].requests[0].continuation_text == " mat"
    qa_spec = IclTaskSpec("q", "generation_task_with_answers", "x", (1,), continuation_delimiter="\nA:",
                       question_prelimiter="Q: ", cot_delimiter=" so ")
    qa_items = [QAItem("one plus one?", "2", (), "1+1=2"), QAItem("two plus two?", "4", ("four",), "2+2=4")]
    qa = encode_partition(qa_spec, qa_items, 1, enc)
    assert enc.tokenizer.decode(qa[0].prompt) == "Q: two plus two?\nA:2+2=4 so 4\nQ: one plus one?\nA:"
    assert qa[1].answers == ("4", "four")


def test_prefix_space_detection() -> None:
    assert needs_prefix_space(tiny_tokenizer())


def test_continuation_longer_than_the_window_is_cut_and_flagged() -> None:
    items = [MCItem("q", ("a " * 40, "b"), 0), MCItem("r", ("c", "d"), 1)]
    enc = encode_partition(MC, items, 0, Encoder(tiny_tokenizer(), 16), limit=1)[0]
    long, short = enc.requests
    assert long.truncated and len(long.continuation) == 15 and len(long.context) == 1
    assert not short.truncated and len(short.context) + len(short.continuation) <= 16
