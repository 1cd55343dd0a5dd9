"""The study as a plan: every stage, its dependencies and its key are known before anything runs (no training
here), and ``run_plan`` hands outputs downstream, skips what a failure starves and records the models."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from retscale.fileio import stable_hash
from retscale.study.config import load_config
from retscale.study.names import CheckpointKind, StageName
from retscale.study.plan import StudyPlan, plan_study, run_plan
from retscale.study.runner import Stage, StageInputs, StageResult, StageRunner
from retscale.study.store import open_store

# A stage key names the finished work a study folder reuses: changing one silently recomputes (or, worse,
# mislabels) work in every existing study folder. Change these only on purpose.
SMOKE_KEYS = [
    "pretrain:suite-smoke:2de89403f55075ee", "random_init:suite-smoke:2de89403f55075ee", "pairs:shared:1f5fe1f468f43b5c",
    "mining:shared:367e8e321d2aa006", "evaluate:bm25:8a895e0e67028f94",
    "finetune:xs-r0.5:a3de08730175c8f3", "evaluate:xs-r0.5:cec365a7f92074af", "icl:xs-r0.5:d6f81581d2632d40",
    "finetune:xs-r1:6ce9e1fde7fe76bb", "evaluate:xs-r1:1491d1ca0e256ba2", "icl:xs-r1:e0e4be5006a16507",
    "finetune:s-r0.5:25fc005e2767274a", "evaluate:s-r0.5:5f3943fb6b2cbe6c", "icl:s-r0.5:3d64f2ddb94e0a01",
    "finetune:s-r1:c797d1dddea9d219", "evaluate:s-r1:ca0c28a41f6575c5", "icl:s-r1:7e527e8aca502f6c",
    "finetune:xs-init:5a83222e97f44621", "evaluate:xs-init:bf4b4b7c7e08216b",
    "finetune:s-init:255e16995fd762c4", "evaluate:s-init:46c571eb16fa8a64",
]
KEY_DIGESTS = {"mini": "cce7eca7dbece125", "full": "727ce8f0681b7af7"}  # stable_hash of the plan's key list

# preset -> (stages, per stage name)
SHAPES = {
    "smoke": (21, {"pretrain": 1, "random_init": 1, "pairs": 1, "mining": 1, "finetune": 6, "evaluate": 7,
                   "icl": 4}),
    "mini": (38, {"pretrain": 1, "random_init": 1, "pairs": 1, "mining": 1, "finetune": 12, "evaluate": 13,
                  "icl": 9}),
    "full": (38, {"pretrain": 1, "random_init": 1, "pairs": 1, "mining": 1, "finetune": 12, "evaluate": 13,
                  "icl": 9}),
}


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list | tuple):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


@pytest.mark.parametrize("preset", sorted(SHAPES))
def test_plan_has_every_stage_in_dependency_order_with_stable_keys(preset: str) -> None:
    config, _ = load_config(preset)
    plan = plan_study(config)
    total, per_name = SHAPES[preset]
    assert len(plan.stages) == total
    assert Counter(s.name for s in plan.stages) == per_name
    assert all(s.name in set(StageName) for s in plan.stages)
    assert len(set(plan.keys)) == total
    position = {s.key: i for i, s in enumerate(plan.stages)}
    for i, stage in enumerate(plan.stages):
        for up in stage.inputs.values():
            assert position[up.key] < i, f"{stage.key} runs before its input {up.key}"
            assert up.key in _strings(stage.deps), f"{stage.key}: input {up.key} is not part of its key"
    assert plan_study(config).keys == plan.keys  # planning twice gives the same keys
    if preset == "smoke":
        assert plan.keys == SMOKE_KEYS
    else:
        assert stable_hash(plan.keys) == KEY_DIGESTS[preset]


def test_a_changed_setting_changes_exactly_the_stages_downstream_of_it() -> None:
    config, _ = load_config("smoke")
    base = {s.key for s in plan_study(config).stages}
    mining = config.mining.model_copy(update={"depth": 25})
    changed = {s.key for s in plan_study(config.model_copy(update={"mining": mining})).stages} - base
    assert Counter(k.split(":")[0] for k in changed) == {"mining": 1, "finetune": 6, "evaluate": 6}
    icl = config.icl.model_copy(update={"limit": 5})
    changed = {s.key for s in plan_study(config.model_copy(update={"icl": icl})).stages} - base
    assert Counter(k.split(":")[0] for k in changed) == {"icl": 4}


def test_planning_is_light() -> None:
    code = ("import sys; from retscale.study.config import load_config; from retscale.study.plan import plan_study;"
            "plan_study(load_config('mini')[0]); heavy = {'torch', 'transformers'} & set(sys.modules);"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _fake(plan: StudyPlan, calls: list[str], fail: set[str]) -> StudyPlan:
    """The same plan with every compute replaced by a stand-in that records the inputs it was handed."""
    def compute_for(stage: Stage):  # type: ignore[no-untyped-def]
        def compute(work: Path, inputs: StageInputs) -> StageResult:
            calls.append(stage.key)
            assert set(inputs) == set(stage.inputs)
            if stage.key in fail:
                raise RuntimeError("boom")
            if stage.name in (StageName.PRETRAIN, StageName.RANDOM_INIT):
                names = [m.name for m in plan.models if m.source is not None and m.source.key == stage.key]
                return StageResult(output={"checkpoints": [
                    {"path": str(work / n), "info": {"name": n, "size": n.split("-")[0], "n_params": 1000,
                                                     "tokens": 2000, "flops_6nd": 1.2e7}} for n in names]})
            return StageResult(rows=[("t", "m", 1.0)], output={"dir": str(work), "model": "m", "train": "t"})
        return compute

    return dataclasses.replace(plan, stages=[dataclasses.replace(s, compute=compute_for(s)) for s in plan.stages])


def test_run_plan_hands_outputs_on_skips_what_a_failure_starves_and_records_models(tmp_path: Path) -> None:
    config, _ = load_config("smoke")
    plan = plan_study(config)
    failing = next(s.key for s in plan.stages if s.name == StageName.FINETUNE)
    calls: list[str] = []
    with open_store(tmp_path) as store:
        runner = StageRunner(store, tmp_path, len(plan.stages), show_progress=False)
        run_plan(_fake(plan, calls, {failing}), runner, store)
        runner.close()
        entries = {e.name: e.kind for e in store.checkpoints()}
    skipped = next(s.key for s in plan.stages if s.inputs.get("finetuned") is not None
                   and s.inputs["finetuned"].key == failing)
    assert calls == [k for k in plan.keys if k != skipped]  # in plan order; its evaluation never ran
    assert runner.failed == [failing] and runner.skipped == [skipped]
    assert entries == {**{m.name: m.kind for m in plan.models}, "bm25": CheckpointKind.BASELINE}
