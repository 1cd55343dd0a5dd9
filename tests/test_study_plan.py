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
from retscale.runtime import DistContext
from retscale.study.config import load_config
from retscale.study.names import PER_QUERY, SEED_SUFFIX, CheckpointKind, StageName
from retscale.study.plan import StudyPlan, plan_study, run_plan
from retscale.study.runner import Stage, StageInputs, StageResult, StageRunner
from retscale.study.store import open_store

# A stage key names the finished work a study folder reuses: changing one silently recomputes (or, worse,
# mislabels) work in every existing study folder. Change these only on purpose.
SMOKE_KEYS = [
    "pretrain:suite-smoke:56a66d420aca7539", "random_init:suite-smoke:56a66d420aca7539",
    "pairs:shared:c220c2865bf4b3dc", "mining:shared:464bb7e2346a0d5e", "evaluate:bm25:9b9cff4b27171a37",
    "finetune:xs-r0.5:a322a2161c971b7d", "evaluate:xs-r0.5:b5a4e6ec3852fe82", "icl:xs-r0.5:0d52e536bafcf7e6",
    "finetune:xs-r1:65b8f8fba15c6b7d", "evaluate:xs-r1:1df8a88a87f801de", "icl:xs-r1:279a6993cebf11d2",
    "finetune:s-r0.5:b1a42ee6f76a777f", "evaluate:s-r0.5:a270a878eb24f97e", "icl:s-r0.5:4cd72315966a0e21",
    "finetune:s-r1:336085bcdbea45be", "evaluate:s-r1:06192bb1cac33eb3", "icl:s-r1:7bbafc17a64f2600",
    "finetune:xs-init:26bd28344f40a104", "evaluate:xs-init:22574246dc9b5138", "finetune:s-init:db73bbc2945f7a1f",
    "evaluate:s-init:0039166228fe9498",
]
KEY_DIGESTS = {"mini": "5c82f69fda3928b1", "full": "fff3bbabcf51ec42"}  # stable_hash of the plan's key list
# (mini: changed on purpose in session 7, its fine-tuning recipe chosen on wiki-dev; every other change must not)

# preset -> (stages, per stage name)
SHAPES = {
    "smoke": (21, {"pretrain": 1, "random_init": 1, "pairs": 1, "mining": 1, "finetune": 6, "evaluate": 7,
                   "icl": 4}),
    "mini": (74, {"pretrain": 1, "random_init": 1, "pairs": 1, "mining": 1, "finetune-s0": 12, "finetune-s1": 12,
                  "evaluate-s0": 12, "evaluate-s1": 12, "evaluate": 13, "icl": 9}),
    "full": (56, {"pretrain": 1, "random_init": 1, "pairs": 1, "mining": 1, "finetune-s0": 9, "finetune-s1": 9,
                  "evaluate-s0": 9, "evaluate-s1": 9, "evaluate": 10, "icl": 6}),
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
    assert all(s.name.split(SEED_SUFFIX)[0] in set(StageName) for s in plan.stages)  # finetune-s1: a seed's
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
        def compute(work: Path, inputs: StageInputs, ctx: DistContext | None = None) -> StageResult:
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


def test_seed_mean_stage_averages_the_seeds_and_keeps_their_per_query_values(tmp_path: Path) -> None:
    """Two fine-tuning seeds: the model's evaluation rows are the seeds' means (each seed's too, named -s<seed>),
    and its output keeps every seed's per-query values for the seed-aware bootstrap."""
    from retscale.study.stages import seed_mean_stage

    config, _ = load_config("smoke")
    config = config.model_copy(update={"finetune_seeds": [0, 1]})
    plan = plan_study(config)
    mean_stage = next(s for s in plan.stages if s.name == StageName.EVALUATE and s.checkpoint == "xs-r1")
    assert set(mean_stage.inputs) == {"seed0", "seed1"}
    assert {up.name for up in mean_stage.inputs.values()} == {"evaluate-s0", "evaluate-s1"}
    per_seed = {seed: {task: {"qids": ["a", "b"], "ndcg_at_10": [0.2 * (seed + 1), 0.4 * (seed + 1)]}
                       for task in config.eval.tasks} for seed in (0, 1)}
    stage = seed_mean_stage(config, next(m for m in plan.models if m.name == "xs-r1"), dict(
        (seed, up) for seed, up in zip((0, 1), mean_stage.inputs.values(), strict=True)))
    result = stage.compute(tmp_path, {f"seed{s}": {PER_QUERY: v} for s, v in per_seed.items()})
    rows = {(t, m): v for t, m, v in result.rows}
    assert abs(rows[("scifact", "ndcg_at_10")] - 0.45) < 1e-12  # mean of 0.3 and 0.6
    assert abs(rows[("scifact", "ndcg_at_10-s1")] - 0.6) < 1e-12 and rows[("scifact", "n_seeds")] == 2
    assert result.output[PER_QUERY]["scifact"]["per_seed"]["1"]["ndcg_at_10"] == [0.4, 0.8]
