"""The ``smoke`` suite end to end through the CLI: plan, train, HF-loadable checkpoints, metadata, idempotence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from retscale.cli import main
from retscale.errors import UserError
from retscale.pretrain.checkpoint import list_checkpoints, read_pretraining_record
from retscale.pretrain.suite import SUITES


def test_plan_prints_every_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pretrain", "smoke", "--plan", "--no-probe"]) == 0
    out = capsys.readouterr().out
    for ck in SUITES["smoke"].checkpoints():
        assert ck.name in out and f"{ck.n_params:,}" in out and f"{ck.tokens:,}" in out


def test_unknown_suite_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pretrain", "nope", "--plan"]) == 2
    assert "unknown suite" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_suite_end_to_end(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "suite"
    assert main(["pretrain", "smoke", "--output", str(out)]) == 0
    assert "est" in capsys.readouterr().out  # the plan (with probed times) is printed before training
    spec = SUITES["smoke"]
    infos = [read_pretraining_record(out / ck.name) for ck in spec.checkpoints()]
    for ck, info in zip(spec.checkpoints(), infos, strict=True):
        assert info.n_params == ck.n_params and info.tokens == ck.tokens
        assert info.flops_6nd == 6 * info.n_params * info.tokens
        assert info.flops_full is not None and info.flops_full > 0
        assert info.epochs is not None and 0 < info.epochs < 1
        assert info.lr_schedule is not None and info.lr_schedule["kind"] == "warmup-stable-decay"
    # loss falls with compute within each size, and from the uniform-guess loss ln(V)
    for size in spec.sizes:
        losses = [i.heldout_loss for i in infos if i.size == size.name]
        assert losses == sorted(losses, reverse=True)
        assert losses[-1] < torch.log(torch.tensor(float(spec.vocab_size))).item() - 0.5

    listed = list_checkpoints(out)
    assert sorted(i.name for _, i in listed) == sorted(i.name for i in infos)
    assert [i.flops_6nd for _, i in listed] == sorted(i.flops_6nd for i in infos)

    model_dir = out / infos[-1].name
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    lm = AutoModelForCausalLM.from_pretrained(str(model_dir))
    ids = tok("The history of", return_tensors="pt")["input_ids"]
    generated = lm.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert generated.shape[1] == ids.shape[1] + 5
    assert AutoModel.from_pretrained(str(model_dir))(ids).last_hidden_state.shape[-1] == 48

    # idempotent: a second run trains nothing and returns the same metadata
    from retscale.pretrain.train import pretrain_suite

    def fail(label: str, step: int) -> None:
        raise AssertionError(f"retrained {label}")

    assert pretrain_suite(spec, out, show_progress=False, on_step=fail) == infos
    # a changed suite never silently reuses (or overwrites) checkpoints of another spec
    changed = dataclasses.replace(spec, batch_size=spec.batch_size * 2)
    with pytest.raises(UserError, match="use another --output"):
        pretrain_suite(changed, out, show_progress=False)
