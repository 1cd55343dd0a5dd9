"""The study's stages: thin adapters over each stage's Python API. ``retscale.study.plan`` puts them in order.

shared:          pretrain (built-in suite) · random-init controls (optional) · pairs (Wikipedia, plus the held-out
                 ``wiki-val`` task) → mining (BM25 hard negatives) · BM25 baseline
per model:       zero-shot evaluate (optional) · finetune → evaluate · ICL (on the pretrained model)
per control:     finetune → evaluate

Every stage's ``deps`` hold exactly what its numbers depend on — its config slice plus the keys of the stages it
consumes — so one changed setting re-runs only the stages downstream of it. A config section enters ``deps`` as
written in the YAML (``as_written``). Each builder takes the upstream ``Stage`` objects, never their outputs:
keys are known before anything runs, and outputs (paths) reach ``compute`` through ``inputs`` at run time.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from retscale.errors import UserError
from retscale.fileio import write_json
from retscale.flops import format_count
from retscale.runtime import DistContext
from retscale.study.config import ExternalModel, StudyConfig
from retscale.study.names import (
    BM25,
    CONFIG_FILE,
    CORPUS_DATA,
    DEV_TASK,
    HELDOUT_TASK,
    ICL_ALL_TASKS,
    PER_ITEM,
    PER_QUERY,
    SEED_SUFFIX,
    SHARED,
    WIKI_DATA,
    WIKI_TASKS,
    CheckpointKind,
    Metric,
    StageName,
)
from retscale.study.runner import Stage, StageInputs, StageResult
from retscale.study.store import ModelEntry

WEIGHTS = "weights"  # input role: the stage whose output holds a model's weights (pretrain, random_init)
N_PARAMS_TOLERANCE = 0.05  # a declared n_params may differ this much (relative) from the counted one


def as_written(section: BaseModel) -> dict[str, Any]:
    """A config section as the YAML gave it (defaults left out): its part of a stage key."""
    return section.model_dump(mode="json", exclude_unset=True)


@dataclass(frozen=True)
class StudyModel:
    """A model the study fine-tunes, evaluates and scores, known before any stage runs.

    Its weights are either written by a stage (``source``: pretrain or random_init, found by ``name`` in that
    stage's output) or an external model (``external``: an HF name or a path).
    """

    name: str
    kind: CheckpointKind
    identity: dict[str, Any]  # what makes its weights what they are (a stage key or a model reference)
    source: Stage | None = None
    external: ExternalModel | None = None

    @property
    def inputs(self) -> dict[str, Stage]:
        return {} if self.source is None else {WEIGHTS: self.source}

    def _published(self, inputs: StageInputs) -> dict[str, Any]:
        for ck in inputs[WEIGHTS]["checkpoints"]:
            if ck["info"]["name"] == self.name:
                return ck
        raise RuntimeError(f"{self.source.key if self.source else '?'} wrote no checkpoint named {self.name}")

    def path(self, inputs: StageInputs) -> str:
        """What finetune / icl load: the checkpoint folder, or the external model reference."""
        if self.external is not None:
            return self.external.model
        return str(self._published(inputs)["path"])

    @property
    def revision(self) -> str | None:
        """The hub revision of an external model (None for weights written by a stage)."""
        return None if self.external is None else self.external.revision

    def entry(self, inputs: StageInputs) -> ModelEntry:
        """The model's row in the store's checkpoints table (N, D, FLOPs: the analysis's axes)."""
        if self.external is not None:
            return external_entry(self.external, self.kind)
        info = self._published(inputs)["info"]
        if self.kind == CheckpointKind.CONTROL:
            return ModelEntry(info["name"], self.kind, info["size"], info["n_params"], 0, 0.0, info)
        return ModelEntry(info["name"], self.kind, info.get("size") or format_count(info["n_params"]),
                          info["n_params"], info["tokens"], info["flops_6nd"], info)


# -- checkpoints --------------------------------------------------------------------------------------------------
def suite_spec(config: StudyConfig) -> Any:
    from retscale.pretrain.suite import get_suite

    assert config.checkpoints.suite is not None
    spec = config.checkpoints.suite_options.apply(get_suite(config.checkpoints.suite))
    # the pretraining text follows the study's article split, so no wiki-val/wiki-dev article is pretrained on
    return dataclasses.replace(spec, corpus=dataclasses.replace(spec.corpus, split=config.pairs.article_split()))


def _suite_key(spec: Any) -> tuple[str, dict[str, Any]]:
    """Checkpoint label and deps of a stage that makes a suite's weights (threads, compile and save_every change
    speed and crash granularity, not what is trained: EXPERIMENTS.md §13 measured compile's rounding)."""
    return f"suite-{spec.name}", {"suite": repr(spec.without_speed_settings()), "v": 1}


def _checkpoints_output(work: Path, infos: list[Any]) -> dict[str, Any]:
    return {"checkpoints": [{"path": str(work / i.name), "info": i.to_dict()} for i in infos]}


def pretrain_stage(config: StudyConfig, show_progress: bool = False) -> Stage:
    spec = suite_spec(config)

    def compute(work: Path, inputs: StageInputs) -> StageResult:
        from retscale.pretrain.corpus import built_corpus_meta
        from retscale.pretrain.train import pretrain_suite

        infos = pretrain_suite(spec, work, show_progress=show_progress)  # long: its own bar per checkpoint
        rows = [(i.name, m, float(v)) for i in infos
                for m, v in ((Metric.HELDOUT_LOSS, i.heldout_loss), (Metric.TRAIN_LOSS, i.train_loss),
                             (Metric.EPOCHS, i.epochs))
                if v is not None]
        meta = built_corpus_meta(spec.corpus) or {}  # pretraining built it (or reused every checkpoint)
        rows += [(CORPUS_DATA, metric, float(meta[metric])) for metric in
                 (Metric.DECONTAMINATED_DOCUMENTS, Metric.EXCLUDED_TEST_ARTICLES) if metric in meta]
        if "overlap_check_ngram13" in meta:
            rows.append((CORPUS_DATA, Metric.PRETRAIN_OVERLAP_NGRAM13, float(meta["overlap_check_ngram13"])))
        return StageResult(rows=rows, provenance={"suite": spec.name}, output=_checkpoints_output(work, infos))

    return Stage(StageName.PRETRAIN, *_suite_key(spec), compute)


def controls_stage(config: StudyConfig) -> Stage:
    spec = suite_spec(config)

    def compute(work: Path, inputs: StageInputs) -> StageResult:
        from retscale.pretrain.control import save_random_init_controls

        infos = save_random_init_controls(spec, work)
        return StageResult(rows=[(i.name, Metric.HELDOUT_LOSS, float(i.heldout_loss)) for i in infos
                                 if i.heldout_loss is not None],
                           provenance={"suite": spec.name}, output=_checkpoints_output(work, infos))

    return Stage(StageName.RANDOM_INIT, *_suite_key(spec), compute)


def suite_models(config: StudyConfig, pretrain: Stage, controls: Stage | None) -> list[StudyModel]:
    """The suite's checkpoints (names from the spec: known before pretraining), then its controls."""
    from retscale.pretrain.suite import control_name

    spec = suite_spec(config)
    models = [StudyModel(ck.name, CheckpointKind.SUITE, {StageName.PRETRAIN: pretrain.key, "name": ck.name},
                         source=pretrain) for ck in spec.checkpoints()]
    if controls is not None:
        models += [StudyModel(name, CheckpointKind.CONTROL, {StageName.RANDOM_INIT: controls.key, "name": name},
                              source=controls) for name in (control_name(s.name) for s in spec.sizes)]
    return models


def external_models(config: StudyConfig) -> list[StudyModel]:
    # the revision joins the identity only when given (hub names without one keep their keys); a local folder, GGUF
    # file or installed alias adds its weights' content (SHA-256 + file name), so changed weights get new keys
    return [StudyModel(m.name, CheckpointKind.EXTERNAL if m.reference_only else CheckpointKind.SUITE,
                       {"model": m.model, "name": m.name, **({"revision": m.revision} if m.revision else {}),
                        **_local_weights(m)},
                       external=m) for m in config.checkpoints.models]


def _local_weights(m: ExternalModel) -> dict[str, Any]:
    """A model on this disk (a folder, a .gguf file, an offline alias) joins the stage keys by its content
    (weights SHA-256, GGUF file name), so a replaced file at the same path is a new model; hub names are named by
    their revision and resolved when a stage runs."""
    from retscale.models.loading import resolve_local

    local = None if m.revision is not None else resolve_local(m.model)
    return {} if local is None else {"weights": local.identity()}


def external_entry(m: ExternalModel, kind: CheckpointKind) -> ModelEntry:
    """An external model on the axes: N counted from its config (a declared ``n_params`` is checked against the
    count, and used only where nothing can be counted), D declared or from its public suite's step."""
    from retscale.models.loading import resolve_model
    from retscale.models.params import count_parameters
    from retscale.pretrain.checkpoint import PretrainingRecord

    try:
        counted = count_parameters(resolve_model(m.model, revision=m.revision))
        not_counted = None
    except UserError as exc:
        if m.n_params is None:
            raise UserError(f"checkpoint {m.name!r}: {exc.problem}", path=exc.path,
                            fix="declare its n_params in the config") from None
        counted, not_counted = None, exc.problem
    if counted is not None and m.n_params is not None \
            and abs(m.n_params - counted.total) > N_PARAMS_TOLERANCE * counted.total:
        raise UserError(f"checkpoint {m.name!r} ({m.model}): declared n_params {m.n_params:,.0f} is more than "
                        f"{N_PARAMS_TOLERANCE:.0%} off the {counted.total:,} parameters counted from its config",
                        fix="correct n_params in the config, or drop it (it is counted)")
    n_params = counted.total if counted is not None else int(m.n_params or 0)
    suite = m.public_checkpoint()
    tokens = int(m.tokens) if m.tokens is not None else suite.tokens if suite is not None else 0
    record = PretrainingRecord.external(m.name, n_params, tokens, size=m.size,
                                        n_params_non_embedding=None if counted is None else counted.non_embedding)
    info = {**record.to_dict(), "model": m.model, "revision": m.revision, "n_params_declared": m.n_params,
            "n_params_source": "counted from the config" if counted is not None
            else f"declared (not counted: {not_counted})",
            "tokens_source": "declared" if m.tokens is not None or suite is None
            else f"{suite.suite} step {suite.step} ({suite.source})",
            "annealed": m.annealed if m.annealed is not None else None if suite is None else suite.annealed}
    return ModelEntry(m.name, kind, m.size or format_count(n_params), n_params, tokens, info["flops_6nd"], info)


# -- training data ------------------------------------------------------------------------------------------------
def pairs_stage(config: StudyConfig) -> Stage:
    def compute(work: Path, inputs: StageInputs) -> StageResult:
        from retscale.mining.training_set import build_pairs_set

        pairs = build_pairs_set(work, config.pairs, seed=config.seed, decontaminate=beir_tasks(config))
        build = pairs.build
        return StageResult(rows=[(WIKI_DATA, Metric.TRAIN_PAIRS, pairs.train_queries),
                                 (WIKI_DATA, Metric.POOL_PASSAGES, pairs.pool_passages),
                                 (WIKI_DATA, Metric.VALIDATION_PAIRS, pairs.validation_pairs),
                                 (WIKI_DATA, Metric.DECONTAMINATED_ARTICLES, build["articles_decontaminated"])],
                           provenance={"source": str(pairs.source), "articles_kept": pairs.articles_kept,
                                       "articles_by_split": build["articles_by_split"], "pairs_by_split": build["pairs"]},
                           output={"dir": str(work), "train": str(pairs.queries), "pool": str(pairs.pool),
                                   HELDOUT_TASK: str(pairs.heldout_task), DEV_TASK: str(pairs.dev_task)})

    return Stage(StageName.PAIRS, SHARED, {"pairs": as_written(config.pairs), "seed": config.seed, "v": 3}, compute)


def beir_tasks(config: StudyConfig) -> tuple[str, ...]:
    """The study's evaluation tasks fetched from a registry (not built from Wikipedia): no training text may touch
    them."""
    return tuple(t for t in config.eval.tasks if t not in WIKI_TASKS)


def mining_config(config: StudyConfig) -> Any:
    """The miner's settings: the ``mining:`` section, with the study's seed and 1 thread unless it sets them."""
    defaults = {"seed": config.seed, "n_threads": 1}
    return config.mining.model_copy(update={k: v for k, v in defaults.items()
                                            if k not in config.mining.model_fields_set})


def mining_stage(config: StudyConfig, pairs: Stage) -> Stage:
    def compute(work: Path, inputs: StageInputs) -> StageResult:
        from retscale.mining.training_set import load_pairs_set, mine_pairs_set

        cfg = mining_config(config)
        pairs = load_pairs_set(Path(inputs["pairs"]["dir"]))
        # the overlap check covers every evaluation corpus: the BEIR tasks and the held-out Wikipedia tasks
        mined = mine_pairs_set(pairs, work, cfg, validation=False, show_progress=False,
                               overlap_tasks=(*beir_tasks(config), str(pairs.heldout_task), str(pairs.dev_task)))
        report = mined.reports["train"]
        return StageResult(rows=[(WIKI_DATA, Metric.MINED_PAIRS, report["written"]),
                                 (WIKI_DATA, Metric.SHORT, report["short"])]
                           + [(Path(task).name, f"overlap_{kind}", float(n))
                              for task, counts in mined.beir_overlap.items()
                              for kind, n in counts.items()],
                           provenance={"mining": cfg.model_dump(),
                                       "overlap": {Path(t).name: c for t, c in mined.beir_overlap.items()}},
                           output={"train": str(mined.train)})

    deps = {"pairs": pairs.key, "mining": as_written(config.mining), "seed": config.seed}
    return Stage(StageName.MINING, SHARED, deps, compute, inputs={"pairs": pairs})


# -- evaluation ---------------------------------------------------------------------------------------------------
def subset(dataset: Any, config: StudyConfig) -> Any:
    """A seeded subset of queries (and optionally of the corpus), with a checksum that names the subset."""
    from retscale.fileio import stable_hash

    rng = random.Random(config.seed)
    queries, corpus = dataset.queries, dataset.corpus
    n_q, n_d = config.eval.max_queries, config.eval.max_docs
    if n_q is not None and len(queries) > n_q:
        queries = {q: queries[q] for q in sorted(rng.sample(sorted(queries), n_q))}
    if n_d is not None and len(corpus) > n_d:
        judged = {d for q in queries for d in dataset.qrels.get(q, {}) if d in corpus}
        others = sorted(set(corpus) - judged)
        keep = judged | set(rng.sample(others, max(0, min(len(others), n_d - len(judged)))))
        corpus = {d: corpus[d] for d in corpus if d in keep}
    if queries is dataset.queries and corpus is dataset.corpus:
        return dataset
    checksum = stable_hash([dataset.checksum, sorted(queries), sorted(corpus)], length=64)
    return dataclasses.replace(dataset, queries=queries, corpus=corpus, checksum=checksum,
                               qrels={q: dataset.qrels[q] for q in queries if q in dataset.qrels})


@dataclass(frozen=True)
class EvalInputs:
    """What evaluation needs from the shared stages: the held-out Wikipedia task (when asked for)."""

    pairs: Stage

    def wanted(self, config: StudyConfig) -> bool:
        return any(t in WIKI_TASKS for t in config.eval.tasks)

    def deps(self, config: StudyConfig) -> dict[str, Any]:
        base = {"eval": config.eval.model_dump(mode="json"), "seed": config.seed}
        return {**base, "heldout": self.pairs.key} if self.wanted(config) else base

    def inputs(self, config: StudyConfig) -> dict[str, Stage]:
        return {"heldout": self.pairs} if self.wanted(config) else {}


def _evaluate(retriever: Any, config: StudyConfig, inputs: StageInputs, work: Path) -> StageResult:
    """Every eval task: mean metrics as rows; per-query values (what a query bootstrap resamples) in the output."""
    from retscale.data import load_task
    from retscale.evaluate.runner import evaluate_task

    rows: list[tuple[str, str, float]] = []
    prov: dict[str, Any] = {"retriever": retriever.describe()}
    per_query: dict[str, Any] = {}
    for task in config.eval.tasks:
        wiki = task in WIKI_TASKS
        source = inputs["heldout"][task] if wiki else task
        dataset = subset(load_task(source, split=None if wiki else config.eval.split), config)
        result = evaluate_task(retriever, dataset, work, top_k=config.eval.top_k)
        rows += [(task, k, float(v)) for k, v in result.metrics.items() if isinstance(v, int | float)]
        rows.append((task, Metric.N_QUERIES, len(dataset.queries)))
        prov[task] = {"checksum": dataset.checksum, "n_queries": len(dataset.queries),
                      "n_docs": len(dataset.corpus), "result": str(result.path)}
        per_query[task] = result.per_query
    return StageResult(rows=rows, provenance=prov, output={"dir": str(work), PER_QUERY: per_query})


def seed_mean_stage(config: StudyConfig, model: StudyModel, per_seed: dict[int, Stage]) -> Stage:
    """The model's evaluation over several fine-tuning seeds: each metric's mean over the seeds (the stage runs only
    when every seed's evaluation did), with every seed's per-query values kept for the seed-aware bootstrap."""
    def compute(work: Path, inputs: StageInputs) -> StageResult:
        done = {seed: inputs[f"seed{seed}"][PER_QUERY] for seed in sorted(per_seed)}  # all: run_plan skips otherwise
        rows: list[tuple[str, str, float]] = []
        prov: dict[str, Any] = {"seeds": sorted(done)}
        per_query: dict[str, Any] = {}
        for task in config.eval.tasks:
            by_seed = {seed: done[seed][task] for seed in sorted(done)}
            metrics = sorted({m for pq in by_seed.values() for m in pq if m != "qids"})
            for metric in metrics:
                means = [float(np.nanmean(pq[metric])) for pq in by_seed.values() if pq.get(metric)]
                rows.append((task, metric, float(np.mean(means))))
                rows += [(task, f"{metric}{SEED_SUFFIX}{seed}", float(np.nanmean(pq[metric])))
                         for seed, pq in by_seed.items() if pq.get(metric)]
            rows.append((task, Metric.N_QUERIES, len(next(iter(by_seed.values()))["qids"])))
            rows.append((task, Metric.N_SEEDS, len(by_seed)))
            per_query[task] = {"qids": next(iter(by_seed.values()))["qids"],
                                     "per_seed": {str(seed): {m: v for m, v in pq.items() if m != "qids"}
                                                  for seed, pq in by_seed.items()}}
        return StageResult(rows=rows, provenance=prov, output={"seeds": sorted(done), PER_QUERY: per_query})

    deps = {"per_seed": {str(seed): stage.key for seed, stage in per_seed.items()}}
    return Stage(StageName.EVALUATE, model.name, deps, compute, fatal=False,
                 inputs={f"seed{seed}": stage for seed, stage in per_seed.items()})


def bm25_stage(config: StudyConfig, evals: EvalInputs) -> Stage:
    def compute(work: Path, inputs: StageInputs) -> StageResult:
        from retscale.evaluate.retrievers import make_retriever

        return _evaluate(make_retriever("bm25"), config, inputs, work)

    return Stage(StageName.EVALUATE, BM25, {**evals.deps(config), "retriever": "bm25"}, compute, fatal=False,
                 inputs=evals.inputs(config))


def zero_shot_stage(config: StudyConfig, evals: EvalInputs, model: StudyModel) -> Stage:
    """``model`` evaluated before fine-tuning."""
    def compute(work: Path, inputs: StageInputs, ctx: DistContext | None = None) -> StageResult:
        from retscale.evaluate.retrievers import make_retriever

        retriever = make_retriever(model.path(inputs), batch_size=config.eval.batch_size,
                                   max_length=config.eval.max_length, revision=model.revision, ctx=ctx)
        return _evaluate(retriever, config, inputs, work)

    return Stage(StageName.ZERO_SHOT, model.name, {**evals.deps(config), "model": model.identity}, compute,
                 fatal=False, inputs={**evals.inputs(config), **model.inputs}, parallel=True)


def finetune_stage(config: StudyConfig, model: StudyModel, mining: Stage, seed: int | None = None) -> Stage:
    """``model`` fine-tuned on the mined pairs; ``seed`` (one of ``finetune_seeds``) names a per-seed stage."""
    options = as_written(config.finetune)
    if seed is not None:
        options = {**options, "seed": seed}

    def compute(work: Path, inputs: StageInputs, ctx: DistContext | None = None) -> StageResult:
        from retscale.finetune.config import FinetuneConfig
        from retscale.finetune.trainer import finetune

        base = model.path(inputs)
        ft = FinetuneConfig(**{"seed": config.seed, **options, "model": base, "revision": model.revision,
                               "train": Path(inputs["train"]["train"]), "output": work / "model",
                               **_whole_batch_negatives(config, ctx)})
        path = finetune(ft)  # DDP over the study's ranks: the global batch is split between them
        meta_path = Path(path) / "retscale.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        return StageResult(provenance={"recipe": ft.recipe(), "base": base, **{k: meta[k] for k in meta
                                                                                 if k != "curve"}},
                           output={"model": str(path)})

    deps = {"checkpoint": model.identity, "train": mining.key, "finetune": options, "seed": config.seed}
    name = StageName.FINETUNE if seed is None else f"{StageName.FINETUNE}{SEED_SUFFIX}{seed}"
    return Stage(name, model.name, deps, compute, fatal=False, inputs={"train": mining, **model.inputs}, parallel=True)


def _whole_batch_negatives(config: StudyConfig, ctx: DistContext | None) -> dict[str, Any]:
    """Under several ranks, in-batch negatives come from the whole global batch (``gather_across_ranks``): the loss,
    and so the fine-tuned model, is the one-process one whatever the number of ranks (a no-op for one process)."""
    several = ctx is not None and ctx.enabled
    return {"gather_across_ranks": True} if several and config.finetune.in_batch_negatives else {}


def finetuned_eval_stage(config: StudyConfig, evals: EvalInputs, model: StudyModel, finetuned: Stage,
                         seed: int | None = None) -> Stage:
    """``model`` evaluated after fine-tuning (skipped when the fine-tune failed)."""
    def compute(work: Path, inputs: StageInputs, ctx: DistContext | None = None) -> StageResult:
        from retscale.evaluate.retrievers import make_retriever

        retriever = make_retriever(inputs["finetuned"]["model"], batch_size=config.eval.batch_size,
                                   max_length=config.eval.max_length, ctx=ctx)
        return _evaluate(retriever, config, inputs, work)

    name = StageName.EVALUATE if seed is None else f"{StageName.EVALUATE}{SEED_SUFFIX}{seed}"
    return Stage(name, model.name, {**evals.deps(config), "finetune": finetuned.key}, compute,
                 fatal=False, inputs={**evals.inputs(config), "finetuned": finetuned}, parallel=True)


def icl_stage(config: StudyConfig, model: StudyModel) -> Stage:
    def compute(work: Path, inputs: StageInputs, ctx: DistContext | None = None) -> StageResult:
        from retscale.icl.runner import run_icl

        result = run_icl(model.path(inputs), list(config.icl.tasks), work, limit=config.icl.limit,
                         show_progress=False, revision=model.revision, ctx=ctx)  # items shared between ranks
        rows = [(task, Metric.ACCURACY, float(r["accuracy"])) for task, r in result.tasks.items()
                if r.get("accuracy") is not None]
        rows += [(task, Metric.N_ITEMS, float(r["n_items"])) for task, r in result.tasks.items()]
        rows += [(task, Metric.GOLD_PROB, float(r["gold_prob"])) for task, r in result.tasks.items()
                 if r.get("gold_prob") is not None]
        per_item = {task: r["gold_prob_per_item"] for task, r in result.tasks.items() if r.get("gold_prob_per_item")}
        if result.core_average is not None:
            rows.append((ICL_ALL_TASKS, Metric.CORE_AVERAGE, float(result.core_average)))
        return StageResult(rows=rows, provenance={**result.provenance, "missing_tasks": result.missing_tasks},
                           output={"icl": str(result.output_path), PER_ITEM: per_item})

    deps = {"checkpoint": model.identity, "icl": config.icl.model_dump(mode="json")}
    return Stage(StageName.ICL, model.name, deps, compute, fatal=False, inputs=model.inputs, parallel=True)


def write_config_snapshot(config: StudyConfig, out_dir: Path) -> None:
    write_json(out_dir / CONFIG_FILE, config.snapshot())
