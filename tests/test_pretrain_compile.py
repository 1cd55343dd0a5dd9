"""``compile`` is a speed setting: it changes neither what a run is keyed by nor (beyond float rounding) what it
trains, a run can switch it between kills, and a compiler that fails is a one-line user error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from retscale.cli import main
from retscale.errors import UserError
from retscale.pretrain.suite import SUITES
from retscale.pretrain.train import _fingerprint
from retscale.study.config import load_config
from retscale.study.stages import pretrain_stage


class Killed(Exception):
    pass


def test_compile_and_threads_are_in_no_key() -> None:
    config = load_config("full")[0]
    stage = pretrain_stage(config)
    eager = config.model_copy(update={"checkpoints": config.checkpoints.model_copy(update={
        "suite_options": config.checkpoints.suite_options.model_copy(update={"compile": False, "threads": 1})})})
    assert SUITES["full"].compile  # the reference preset compiles; the same study without it is the same stage
    assert pretrain_stage(eager).key == stage.key
    spec = SUITES["full"]
    cks = [ck for ck in spec.checkpoints() if ck.size == spec.sizes[0]]
    assert _fingerprint(dataclasses.replace(spec, compile=False, threads=1), cks) == _fingerprint(spec, cks)
    assert _fingerprint(dataclasses.replace(spec, peak_lr=1e-3), cks) != _fingerprint(spec, cks)  # the key can move
    # the value before compile became a speed setting (when full did not compile): a run begun then still resumes.
    # An intended change of the full suite's trajectory changes it too: update it with the suite, say why.
    assert _fingerprint(spec, cks) == "1a7c6d28ff34b1ec"


@pytest.mark.slow
def test_the_compiled_decoder_gives_the_eager_loss_and_gradients() -> None:
    import torch
    import torch._dynamo.utils

    from retscale.pretrain.loss import next_token_loss
    from retscale.pretrain.model import build_model

    spec = SUITES["full"]
    shape = spec.sizes[0].shape(spec.vocab_size, 32)
    model = build_model(shape, eos_token_id=0, pad_token_id=1, seed=0)
    batch = torch.randint(0, shape.vocab_size, (8, shape.seq_len + 1), generator=torch.Generator().manual_seed(0))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    grads = []
    for decoder in (None, torch.compile(model.get_decoder())):
        model.zero_grad()
        loss = next_token_loss(model, batch, decoder=decoder)
        loss.backward()
        grads.append((loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it compiled, not a silent eager fallback
    (eager_loss, eager), (compiled_loss, compiled) = grads
    assert compiled_loss == pytest.approx(eager_loss, abs=1e-5)
    assert max(float((compiled[n] - eager[n]).norm() / eager[n].norm()) for n in eager) < 1e-4


@pytest.mark.slow
def test_a_run_resumed_with_compile_on_continues_where_it_stopped(shared_data: Path, tmp_path: Path) -> None:
    from retscale.pretrain.train import pretrain_suite

    smoke = SUITES["smoke"]
    eager = dataclasses.replace(smoke, name="compile", sizes=smoke.sizes[:1], ratios=(1.0,))
    (reference,) = pretrain_suite(eager, tmp_path / "eager", show_progress=False)

    def kill_mid_trunk(label: str, step: int) -> None:
        if step == 13:
            raise Killed
    with pytest.raises(Killed):
        pretrain_suite(eager, tmp_path / "switched", show_progress=False, on_step=kill_mid_trunk)
    steps: list[int] = []
    (switched,) = pretrain_suite(dataclasses.replace(eager, compile=True), tmp_path / "switched",
                                 show_progress=False, on_step=lambda label, step: steps.append(step))
    assert steps[0] == 11  # resumed from the last save (every 10 steps), not restarted: the key ignores compile
    # the smoke suite (lr 1e-2, 24k parameters) amplifies rounding far more than full's d64 (EXPERIMENTS.md §13)
    assert switched.heldout_loss == pytest.approx(reference.heldout_loss, abs=1e-2)


@pytest.mark.slow
def test_a_compiler_that_fails_is_a_user_error(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import torch._dynamo
    import torch._inductor.config

    from retscale.pretrain.train import pretrain_suite

    torch._dynamo.reset()  # no graph compiled by an earlier test may be reused
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", (str(tmp_path / "no-such-compiler"),))
    smoke = SUITES["smoke"]
    spec = dataclasses.replace(smoke, name="no-compiler", sizes=smoke.sizes[:1], ratios=(1.0,), compile=True)
    try:
        with pytest.raises(UserError) as error:
            pretrain_suite(spec, tmp_path / "suite", show_progress=False)
        torch._dynamo.reset()
        # the CLI's --plan probes the speed through the compiler too: the same one-line error, exit 2
        assert main(["pretrain", "smoke", "--compile", "--plan", "--threads", "1"]) == 2
    finally:
        torch._dynamo.reset()
    assert "torch.compile failed" in str(error.value) and "--no-compile" in (error.value.fix or "")
    assert "\n" not in str(error.value)
    assert "torch.compile failed" in capsys.readouterr().err
