"""The study as a plan: every stage (key, dependencies) is known before any stage runs.

``plan_study(config)`` lists the stages in dependency order (each after every stage in its ``inputs``) and the
models on the study's axes; ``run_plan`` runs them, handing each stage its inputs' outputs, skipping a stage whose
inputs failed, and recording the models' entries (N, D, FLOPs) in the store as soon as the stages that write their
weights are done. The progress bar's total is ``len(plan.stages)``.

Order: pretrain · random_init · pairs · mining · BM25 · then per model: zero_shot · finetune · evaluate · icl.
Adding a stage = one builder in ``retscale.study.stages`` plus one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retscale.study.config import StudyConfig
from retscale.study.names import BM25, CheckpointKind
from retscale.study.runner import Stage, StageFailed, StageRunner
from retscale.study.stages import (
    EvalInputs,
    StudyModel,
    bm25_stage,
    controls_stage,
    external_models,
    finetune_stage,
    finetuned_eval_stage,
    icl_stage,
    mining_stage,
    pairs_stage,
    pretrain_stage,
    seed_mean_stage,
    suite_models,
    zero_shot_stage,
)
from retscale.study.store import ModelEntry, ResultsStore


@dataclass(frozen=True)
class StudyPlan:
    stages: list[Stage]  # in dependency order
    models: list[StudyModel]  # the models on the axes, in the order their stages run
    bm25: bool  # the BM25 baseline is an entry too

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.stages]

    def entries(self, outputs: dict[str, dict[str, Any]]) -> list[ModelEntry]:
        """The store's checkpoints table, from the outputs of the stages that write the models' weights."""
        entries = [m.entry({role: outputs[s.key] for role, s in m.inputs.items()}) for m in self.models]
        if self.bm25:
            entries.append(ModelEntry(BM25, CheckpointKind.BASELINE, BM25, None, None, None, {}))
        return entries

    def weight_sources(self) -> list[Stage]:
        return list({m.source.key: m.source for m in self.models if m.source is not None}.values())


def plan_study(config: StudyConfig, *, show_progress: bool = False) -> StudyPlan:
    """Every stage of ``config``, in the order they run. Builds stages only: nothing runs, nothing is read but the
    weights of external models on this disk (hashed: their content is in their stages' keys)."""
    stages: list[Stage] = []
    models: list[StudyModel] = []
    if config.checkpoints.suite is not None:
        pretrain = pretrain_stage(config, show_progress)
        controls = controls_stage(config) if config.baselines.random_init else None
        stages += [pretrain] + ([controls] if controls is not None else [])
        models += suite_models(config, pretrain, controls)
    models += external_models(config)
    pairs = pairs_stage(config)
    mining = mining_stage(config, pairs)
    evals = EvalInputs(pairs)
    stages += [pairs, mining]
    if config.baselines.bm25:
        stages.append(bm25_stage(config, evals))
    for model in models:
        control = model.kind == CheckpointKind.CONTROL  # fine-tuned and evaluated only: its ICL is chance
        if config.baselines.zero_shot and not control:
            stages.append(zero_shot_stage(config, evals, model))
        if len(config.finetune_seeds) <= 1:
            seed = config.finetune_seeds[0] if config.finetune_seeds else None
            finetuned = finetune_stage(config, model, mining, seed)
            stages += [finetuned, finetuned_eval_stage(config, evals, model, finetuned)]
        else:  # one fine-tune and evaluation per seed, then their mean as the model's evaluation
            per_seed = {}
            for seed in config.finetune_seeds:
                finetuned = finetune_stage(config, model, mining, seed)
                per_seed[seed] = finetuned_eval_stage(config, evals, model, finetuned, seed)
                stages += [finetuned, per_seed[seed]]
            stages.append(seed_mean_stage(config, model, per_seed))
        if config.icl.tasks and not control:
            stages.append(icl_stage(config, model))
    return StudyPlan(stages, models, config.baselines.bm25)


def run_plan(plan: StudyPlan, runner: StageRunner, store: ResultsStore | None) -> None:
    """Run every stage through ``runner`` (which reuses finished ones); a non-fatal failure skips the stages that
    need it, a fatal one propagates. The models' entries are stored once their weights exist (by rank 0, the one
    torchrun rank holding the ``store``; the others pass None)."""
    outputs: dict[str, dict[str, Any]] = {}
    sources = [s.key for s in plan.weight_sources()]
    recorded = False
    for stage in [*plan.stages, None]:
        if not recorded and all(k in outputs for k in sources):
            if store is not None:
                store.set_checkpoints(plan.entries(outputs))
            recorded = True
        if stage is None:
            break
        if any(up.key not in outputs for up in stage.inputs.values()):
            runner.skip(stage)
            continue
        try:
            outputs[stage.key] = runner(stage, {role: outputs[up.key] for role, up in stage.inputs.items()})
        except StageFailed:
            continue
