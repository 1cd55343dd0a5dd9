"""The study's stages: thin adapters over each stage's Python API, planned in dependency order.

shared:          pretrain (built-in suite) · random-init controls (optional) · pairs (Wikipedia, plus the held-out
                 ``wiki-val`` task) → mining (BM25 hard negatives) · BM25 baseline
per checkpoint:  zero-shot evaluate (optional) · finetune → evaluate · ICL (on the pretrained model)
per control:     finetune → evaluate

Every stage's ``deps`` hold exactly what its numbers depend on — its config slice plus the keys of the stages it
consumes — so one changed setting re-runs only the stages downstream of it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retscale.errors import UserError
from retscale.fileio import atomic_write, iter_jsonl, write_json
from retscale.study.config import StudyConfig
from retscale.study.runner import Stage, StageFailed, StageResult
from retscale.study.store import CheckpointRecord, ResultsStore

RunStage = Callable[[Stage], dict[str, Any]]
HELDOUT_TASK = "wiki-val"  # eval task name of the held-out Wikipedia task built by the pairs stage


@dataclass(frozen=True)
class Checkpoint:
    name: str
    path: str  # what finetune / icl load
    identity: dict[str, Any]  # what makes its weights what they are (a stage key or a model reference)
    record: CheckpointRecord


# -- checkpoints --------------------------------------------------------------------------------------------------
def suite_spec(config: StudyConfig) -> Any:
    from retscale.pretrain.suite import get_suite

    assert config.checkpoints.suite is not None
    spec = get_suite(config.checkpoints.suite)
    try:
        return dataclasses.replace(spec, **config.checkpoints.suite_options)
    except TypeError as exc:
        raise UserError(f"checkpoints.suite_options: {exc}",
                        fix="use SuiteSpec field names (seed, peak_lr, batch_size, ...)") from None


def pretrain_stage(config: StudyConfig, show_progress: bool = False) -> Stage:
    spec = suite_spec(config)

    def compute(work: Path) -> StageResult:
        from retscale.pretrain.train import pretrain_suite

        infos = pretrain_suite(spec, work, show_progress=show_progress)  # long: its own bar per checkpoint
        rows = [(i.name, m, float(v)) for i in infos
                for m, v in (("heldout_loss", i.heldout_loss), ("train_loss", i.train_loss)) if v is not None]
        return StageResult(rows=rows, provenance={"suite": spec.name}, output=_checkpoints_output(work, infos))

    return Stage("pretrain", *_suite_key(spec), compute)


def _suite_key(spec: Any) -> tuple[str, dict[str, Any]]:
    """Checkpoint label and deps of a stage that makes a suite's weights (threads and save_every change speed and
    crash granularity, not what is trained)."""
    return f"suite-{spec.name}", {"suite": repr(dataclasses.replace(spec, threads=None, save_every=0)), "v": 1}


def _checkpoints_output(work: Path, infos: list[Any]) -> dict[str, Any]:
    return {"checkpoints": [{"path": str(work / i.name), "info": i.to_dict()} for i in infos]}


def controls_stage(config: StudyConfig) -> Stage:
    spec = suite_spec(config)

    def compute(work: Path) -> StageResult:
        from retscale.pretrain.control import save_random_init_controls

        infos = save_random_init_controls(spec, work)
        return StageResult(rows=[(i.name, "heldout_loss", float(i.heldout_loss)) for i in infos
                                 if i.heldout_loss is not None],
                           provenance={"suite": spec.name}, output=_checkpoints_output(work, infos))

    return Stage("random_init", *_suite_key(spec), compute)


def resolve_checkpoints(config: StudyConfig, run: RunStage, show_progress: bool = False) -> list[Checkpoint]:
    from retscale.analysis.table import format_count
    from retscale.pretrain.checkpoint import PretrainingRecord

    out: list[Checkpoint] = []
    if config.checkpoints.suite is not None:
        stage = pretrain_stage(config, show_progress)
        for ck in run(stage)["checkpoints"]:
            info = ck["info"]
            rec = CheckpointRecord(info["name"], "suite", info.get("size") or format_count(info["n_params"]),
                                   info["n_params"], info["tokens"], info["flops_6nd"], info)
            out.append(Checkpoint(info["name"], ck["path"], {"pretrain": stage.key, "name": info["name"]}, rec))
        if config.baselines.random_init:
            controls = controls_stage(config)
            for ck in run(controls)["checkpoints"]:
                info = ck["info"]
                rec = CheckpointRecord(info["name"], "control", info["size"], info["n_params"], 0, 0.0, info)
                out.append(Checkpoint(info["name"], ck["path"], {"random_init": controls.key, "name": info["name"]},
                                      rec))
    for m in config.checkpoints.models:
        info = PretrainingRecord.external(m.name, int(m.n_params), int(m.tokens), size=m.size).to_dict()
        rec = CheckpointRecord(m.name, "external" if m.reference_only else "suite",
                               m.size or format_count(m.n_params), m.n_params, m.tokens, info["flops_6nd"],
                               {**info, "model": m.model})
        out.append(Checkpoint(m.name, m.model, {"model": m.model, "name": m.name}, rec))
    return out


def count_stages(config: StudyConfig) -> int:
    """Stages the study will run (for the progress bar's total and ETA)."""
    n_ck = len(config.checkpoints.models)
    n_controls = 0
    if config.checkpoints.suite is not None:
        spec = suite_spec(config)
        n_ck += len(spec.checkpoints())
        if config.baselines.random_init:
            n_controls = len(spec.sizes)
    per_ck = 2 + bool(config.icl.tasks) + config.baselines.zero_shot
    shared = (config.checkpoints.suite is not None) + (n_controls > 0) + 2 + config.baselines.bm25
    return shared + n_ck * per_ck + n_controls * 2


# -- training data ------------------------------------------------------------------------------------------------
def pairs_stage(config: StudyConfig) -> Stage:
    opts = dict(config.pairs)
    max_articles = opts.pop("max_articles", None)
    max_pairs = opts.pop("max_pairs", None)

    def compute(work: Path) -> StageResult:
        from retscale.pairs.heldout import write_heldout_task
        from retscale.pairs.wiki import build_wiki_pairs
        from retscale.settings import shared_path

        source = shared_path("text", "enwiki-sample.jsonl.gz")
        if max_articles is not None:  # a deterministic prefix of the sample keeps small studies small
            subset = work / "articles.jsonl"
            with atomic_write(subset) as fh:
                for i, (_, obj) in enumerate(iter_jsonl(source)):
                    if i >= max_articles:
                        break
                    fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            source = subset
        try:
            report = build_wiki_pairs(source, work / "train_all.jsonl", work / "validation.jsonl",
                                      work / "pool.jsonl", seed=config.seed, **opts)
        except TypeError as exc:
            raise UserError(f"pairs: {exc}", fix="see `retscale pairs --help` for the builder's options") from None
        lines = (work / "train_all.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        if max_pairs is not None and len(lines) > max_pairs:
            lines = [lines[i] for i in sorted(random.Random(config.seed).sample(range(len(lines)), max_pairs))]
        with atomic_write(work / "train.jsonl") as fh:
            fh.writelines(lines)
        heldout = write_heldout_task(work / "validation.jsonl", work / "pool.jsonl", work / HELDOUT_TASK,
                                     seed=config.seed)
        n_val = sum(report.pairs.get("validation", {}).values())
        return StageResult(rows=[("wiki", "train_pairs", len(lines)), ("wiki", "pool_passages", report.pool_passages),
                                 ("wiki", "validation_pairs", n_val)],
                           provenance={"source": str(source), "articles_kept": report.articles_kept},
                           output={"train": str(work / "train.jsonl"), "pool": str(work / "pool.jsonl"),
                                   "heldout": str(heldout)})

    return Stage("pairs", "shared", {"pairs": config.pairs, "seed": config.seed, "v": 2}, compute)


def mining_stage(config: StudyConfig, pairs: Stage, pairs_out: dict[str, Any]) -> Stage:
    def compute(work: Path) -> StageResult:
        from retscale.mining.miner import MiningConfig, mine_hard_negatives

        try:
            cfg = MiningConfig(**{"seed": config.seed, "n_threads": 1, **(config.mining or {})})
        except TypeError as exc:
            raise UserError(f"mining: {exc}", fix="use the fields of retscale.mining.miner.MiningConfig") from None
        out = work / "train_mined.jsonl"
        report = mine_hard_negatives(pairs_out["train"], pairs_out["pool"], out, cfg, show_progress=False)
        return StageResult(rows=[("wiki", "mined_pairs", report.written), ("wiki", "short", report.short)],
                           provenance={"mining": dataclasses.asdict(cfg)}, output={"train": str(out)})

    return Stage("mining", "shared", {"pairs": pairs.key, "mining": config.mining, "seed": config.seed}, compute)


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

    pairs_key: str
    heldout: str

    def deps(self, config: StudyConfig) -> dict[str, Any]:
        base = {"eval": config.eval.model_dump(mode="json"), "seed": config.seed}
        return {**base, "heldout": self.pairs_key} if HELDOUT_TASK in config.eval.tasks else base


def _evaluate(retriever: Any, config: StudyConfig, inputs: EvalInputs, work: Path) -> StageResult:
    from retscale.data import load_task
    from retscale.evaluate.runner import evaluate_task

    rows: list[tuple[str, str, float]] = []
    prov: dict[str, Any] = {"retriever": retriever.describe()}
    for task in config.eval.tasks:
        source = inputs.heldout if task == HELDOUT_TASK else task
        dataset = subset(load_task(source, split=None if task == HELDOUT_TASK else config.eval.split), config)
        result = evaluate_task(retriever, dataset, work, top_k=config.eval.top_k)
        rows += [(task, k, float(v)) for k, v in result.metrics.items() if isinstance(v, int | float)]
        rows.append((task, "n_queries", len(dataset.queries)))
        prov[task] = {"checksum": dataset.checksum, "n_queries": len(dataset.queries),
                      "n_docs": len(dataset.corpus), "result": str(result.path)}
    return StageResult(rows=rows, provenance=prov, output={"dir": str(work)})


def bm25_stage(config: StudyConfig, inputs: EvalInputs) -> Stage:
    def compute(work: Path) -> StageResult:
        from retscale.evaluate.retrievers import make_retriever

        return _evaluate(make_retriever("bm25"), config, inputs, work)

    return Stage("evaluate", "bm25", {**inputs.deps(config), "retriever": "bm25"}, compute, fatal=False)


def dense_eval_stage(config: StudyConfig, inputs: EvalInputs, ck: Checkpoint, model: str,
                     upstream: dict[str, Any], name: str = "evaluate") -> Stage:
    def compute(work: Path) -> StageResult:
        from retscale.evaluate.retrievers import make_retriever

        return _evaluate(make_retriever(model, batch_size=config.eval.batch_size), config, inputs, work)

    return Stage(name, ck.name, {**inputs.deps(config), **upstream}, compute, fatal=False)


def finetune_stage(config: StudyConfig, ck: Checkpoint, mining: Stage, train: str) -> Stage:
    def compute(work: Path) -> StageResult:
        from retscale.finetune.config import FinetuneConfig
        from retscale.finetune.trainer import finetune

        ft = FinetuneConfig(**{"seed": config.seed, **config.finetune, "model": ck.path, "train": Path(train),
                               "output": work / "model"})
        path = finetune(ft)
        meta_path = Path(path) / "retscale.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        return StageResult(provenance={"recipe": ft.recipe(), "base": ck.path, **{k: meta[k] for k in meta
                                                                                    if k != "curve"}},
                           output={"model": str(path)})

    deps = {"checkpoint": ck.identity, "train": mining.key, "finetune": config.finetune, "seed": config.seed}
    return Stage("finetune", ck.name, deps, compute, fatal=False)


def icl_stage(config: StudyConfig, ck: Checkpoint) -> Stage:
    def compute(work: Path) -> StageResult:
        from retscale.icl.runner import run_icl

        result = run_icl(ck.path, list(config.icl.tasks), work, limit=config.icl.limit, show_progress=False)
        rows = [(task, "accuracy", float(r["accuracy"])) for task, r in result.tasks.items()
                if r.get("accuracy") is not None]
        rows += [(task, "n_items", float(r["n_items"])) for task, r in result.tasks.items()]
        if result.core_average is not None:
            rows.append(("all", "core_average", float(result.core_average)))
        return StageResult(rows=rows, provenance={**result.provenance, "missing_tasks": result.missing_tasks},
                           output={"icl": str(result.output_path)})

    deps = {"checkpoint": ck.identity, "icl": config.icl.model_dump(mode="json")}
    return Stage("icl", ck.name, deps, compute, fatal=False)


# -- the plan -----------------------------------------------------------------------------------------------------
def run_all(config: StudyConfig, store: ResultsStore, run: RunStage, skip: Callable[[int], None],
            show_progress: bool = False) -> None:
    """Run every stage of ``config`` through ``run`` (which skips finished ones), recording checkpoints."""
    checkpoints = resolve_checkpoints(config, run, show_progress)
    baselines = [CheckpointRecord("bm25", "baseline", "bm25", None, None, None, {})] if config.baselines.bm25 else []
    store.set_checkpoints([ck.record for ck in checkpoints] + baselines)
    pairs = pairs_stage(config)
    pairs_out = run(pairs)
    inputs = EvalInputs(pairs.key, pairs_out["heldout"])
    mining = mining_stage(config, pairs, pairs_out)
    train = run(mining)["train"]
    if config.baselines.bm25:
        _try(run, bm25_stage(config, inputs))
    for ck in checkpoints:
        control = ck.record.kind == "control"  # fine-tuned and evaluated only: its ICL is chance by construction
        if config.baselines.zero_shot and not control:
            _try(run, dense_eval_stage(config, inputs, ck, ck.path, {"model": ck.identity}, name="zero_shot"))
        ft_stage = finetune_stage(config, ck, mining, train)
        ft = _try(run, ft_stage)
        if ft is None:
            skip(1)
        else:
            _try(run, dense_eval_stage(config, inputs, ck, ft["model"], {"finetune": ft_stage.key}))
        if config.icl.tasks and not control:
            _try(run, icl_stage(config, ck))


def _try(run: RunStage, stage: Stage) -> dict[str, Any] | None:
    try:
        return run(stage)
    except StageFailed:
        return None


def write_config_snapshot(config: StudyConfig, out_dir: Path) -> None:
    write_json(out_dir / "config.json", config.model_dump(mode="json"))
