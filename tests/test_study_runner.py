"""The stage runner: each stage key runs once, failures are recorded, dependency hashes scope recomputation."""

from __future__ import annotations

from pathlib import Path

import pytest

from retscale.errors import UserError
from retscale.study.runner import Stage, StageFailed, StageInputs, StageResult, StageRunner
from retscale.study.store import open_store


def _plan(calls: list[str], lr: float, tasks: list[str]) -> list[Stage]:
    """A toy two-checkpoint pipeline: train (depends on lr) → eval (depends on train and tasks)."""
    def train(name: str):  # type: ignore[no-untyped-def]
        def compute(work: Path, inputs: StageInputs) -> StageResult:
            calls.append(f"train {name}")
            work.mkdir(parents=True, exist_ok=True)
            (work / "model.txt").write_text(f"{name} {lr}")
            return StageResult(output={"model": str(work / "model.txt")})
        return compute

    def evaluate(name: str):  # type: ignore[no-untyped-def]
        def compute(work: Path, inputs: StageInputs) -> StageResult:
            calls.append(f"eval {name}")
            score = len(Path(inputs["model"]["model"]).read_text()) / 100
            return StageResult(rows=[(t, "ndcg_at_10", score + i) for i, t in enumerate(tasks)])
        return compute

    stages = []
    for name in ("a", "b"):
        t = Stage("finetune", name, {"lr": lr, "ck": name}, train(name))
        stages.append(t)
        stages.append(Stage("evaluate", name, {"train": t.key, "tasks": tasks}, evaluate(name), inputs={"model": t}))
    return stages


def _run(out: Path, stages: list[Stage]) -> StageRunner:
    with open_store(out) as store:
        runner = StageRunner(store, Path("OUT"), len(stages), show_progress=False)
        outputs: dict[str, dict] = {}
        for s in stages:
            outputs[s.key] = runner(s, {role: outputs[up.key] for role, up in s.inputs.items()})
        runner.close()
    return runner


def test_rerun_reuses_and_a_changed_setting_recomputes_only_its_dependents(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    calls: list[str] = []
    first = _run(tmp_path, _plan(calls, 0.1, ["scifact"]))
    assert calls == ["train a", "eval a", "train b", "eval b"] and len(first.ran) == 4
    calls.clear()
    again = _run(tmp_path, _plan(calls, 0.1, ["scifact"]))
    assert calls == [] and len(again.reused) == 4
    _run(tmp_path, _plan(calls, 0.1, ["scifact", "arguana"]))  # an eval setting: training is reused
    assert calls == ["eval a", "eval b"]
    calls.clear()
    _run(tmp_path, _plan(calls, 0.2, ["scifact", "arguana"]))  # a training setting: everything downstream
    assert calls == ["train a", "eval a", "train b", "eval b"]
    with open_store(tmp_path) as store:
        finished = [r for r in store.stage_run_log() if r["finished_at"] is not None]
        assert len({r["key"] for r in finished}) == len(finished) == 10  # no key ever finished twice
        assert {r.task for r in store.rows()} == {"scifact", "arguana"}


def test_failures_are_recorded_fatal_or_not(tmp_path: Path) -> None:
    def boom(work: Path, inputs: StageInputs) -> StageResult:
        raise RuntimeError("kaput")

    def bad_input(work: Path, inputs: StageInputs) -> StageResult:
        raise UserError("no such task")

    with open_store(tmp_path) as store:
        runner = StageRunner(store, tmp_path, 3, show_progress=False)
        with pytest.raises(StageFailed):
            runner(Stage("icl", "a", {}, boom, fatal=False))
        with pytest.raises(RuntimeError, match="kaput"):
            runner(Stage("pairs", "shared", {}, boom))
        with pytest.raises(UserError):
            runner(Stage("evaluate", "a", {}, bad_input, fatal=False))
        runner.close()
        assert runner.failed == [Stage("icl", "a", {}, boom).key]
        errors = {f["key"].split(":")[0]: f["error"] for f in store.failures()}
        assert errors == {"icl": "RuntimeError: kaput", "pairs": "RuntimeError: kaput",
                          "evaluate": "UserError: no such task"}
