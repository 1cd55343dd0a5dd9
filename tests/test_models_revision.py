"""Hub revisions, offline: a local Hugging Face cache whose two refs point at two snapshots of a tiny Llama with
different weights. Two revisions must load two models, give two results and two cache keys; a revision the cache
lacks fails at once. Also N counted from a model's config (and a declared N checked against it) and D from a
public suite's step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_fixtures import jsonl, write_folder
from finetune_fixtures import FILLER, TOPICS, make_tiny_llama
from retscale.errors import UserError
from retscale.models.loading import resolve_model
from retscale.models.params import count_parameters
from retscale.pretrain.public_suites import public_checkpoint
from retscale.study.config import ExternalModel, parse_config
from retscale.study.names import CheckpointKind
from retscale.study.stages import external_entry

REPO = "org/tiny"
COMMITS = {"main": "a" * 40, "step1": "b" * 40}


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models--org--tiny`` with refs/main and refs/step1 → two snapshots (seeds 0 and 1)."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    repo = cache / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    for seed, (ref, commit) in enumerate(COMMITS.items()):
        (repo / "refs" / ref).write_text(commit)
        make_tiny_llama(repo / "snapshots" / commit, seed=seed)
    return cache


@pytest.fixture
def offline_hub(hub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))  # read once at import: set it here too
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub_cache


def test_each_revision_resolves_to_its_snapshot_and_identity(offline_hub: Path) -> None:
    main, step1 = resolve_model(REPO, revision="main"), resolve_model(REPO, revision="step1")
    assert (main.path.name, step1.path.name) == (COMMITS["main"], COMMITS["step1"])
    assert main.identity()["revision"] == "main" and step1.describe()["commit"] == COMMITS["step1"]
    assert main.identity() != step1.identity()
    assert resolve_model(REPO).path == main.path  # no revision: the default branch
    assert "revision" not in resolve_model(REPO).identity()  # keys of models named without one are unchanged
    assert resolve_model(REPO, revision=COMMITS["step1"]).path == step1.path  # a commit names its snapshot


def test_two_revisions_give_two_results_and_two_cache_keys(offline_hub: Path) -> None:
    from retscale.data import load_task
    from retscale.evaluate.retrievers import make_retriever
    from retscale.icl.runner import load_lm

    dataset = load_task(str(write_folder(offline_hub.parent / "beir-tiny")))
    retrievers = {rev: make_retriever(REPO, revision=rev, use_cache=False) for rev in COMMITS}
    texts = ["apple river castle", "the old violin"]
    vectors = {rev: r.embedder.encode(texts) for rev, r in retrievers.items()}
    assert not np.allclose(vectors["main"], vectors["step1"])
    runs = {rev: r.search(dataset, top_k=3) for rev, r in retrievers.items()}
    assert runs["main"] != runs["step1"]
    fields = {rev: r._cache_fields(dataset) for rev, r in retrievers.items()}
    assert fields["main"] != fields["step1"] and fields["step1"]["revision"] == "step1"
    assert {r.describe()["model"]["revision"] for r in retrievers.values()} == set(COMMITS)  # → provenance
    assert load_lm(REPO, "main").model_id != load_lm(REPO, "step1").model_id  # the ICL cache key


def test_finetune_identity_carries_the_revision(offline_hub: Path, tmp_path: Path) -> None:
    from finetune_fixtures import make_pairs
    from retscale.finetune.config import FinetuneConfig
    from retscale.finetune.trainer import run_identity

    pairs = make_pairs(tmp_path / "pairs.jsonl")
    ids = {}
    for rev in COMMITS:
        config = FinetuneConfig(model=REPO, revision=rev, train=pairs, output=tmp_path / rev)
        assert "revision" not in config.recipe()
        ids[rev] = run_identity(config, resolve_model(REPO, revision=config.revision))
    assert ids["main"]["base_model"]["revision"] == "main" and ids["main"] != ids["step1"]


def test_a_revision_missing_offline_fails_at_once_naming_it(offline_hub: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"'org/tiny' at revision 'step999'.*HF_HUB_OFFLINE"):
        resolve_model(REPO, revision="step999")
    with pytest.raises(UserError, match="only Hugging Face hub names"):
        resolve_model(str(tmp_path), revision="main")


def test_cli_evaluate_records_the_revision(hub_cache: Path, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "beir-tiny")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub_cache), "RETSCALE_HOME": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parents[1] / "src"),
                                                     os.environ.get("PYTHONPATH")) if p)}
    for rev in COMMITS:
        subprocess.run([sys.executable, "-m", "retscale", "evaluate", "--model", REPO, "--revision", rev,
                        "--tasks", str(folder), "--output", str(tmp_path / rev)], check=True, env=env,
                       capture_output=True, timeout=300)
    described = [json.loads(next((tmp_path / rev).glob("*.json")).read_text()) for rev in COMMITS]
    assert [json.dumps(d).count(COMMITS[rev]) > 0 for d, rev in zip(described, COMMITS, strict=True)] == [True] * 2
    cache_keys = {p.name for p in (tmp_path / "embeddings").glob("*.json")}
    assert len(cache_keys) == 2
    missing = subprocess.run([sys.executable, "-m", "retscale", "evaluate", "--model", REPO, "--revision", "step9",
                              "--tasks", str(folder), "--output", str(tmp_path / "x")], env=env, capture_output=True,
                             text=True, timeout=300)
    assert missing.returncode == 2 and "'org/tiny' at revision 'step9'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


# -- N counted from the config ------------------------------------------------------------------------------------
def test_count_parameters_matches_the_loaded_model(tmp_path: Path) -> None:
    from retscale.models.loading import load_causal_lm

    folder = make_tiny_llama(tmp_path / "llama")
    counted = count_parameters(resolve_model(folder))
    loaded = load_causal_lm(resolve_model(folder))
    assert counted.total == sum(p.numel() for p in loaded.parameters())
    embed = loaded.get_input_embeddings().weight.numel()
    assert (counted.embedding, counted.non_embedding) == (embed, counted.total - embed)  # untied head: non-embedding


def _external(folder: Path, **fields: object) -> ExternalModel:
    return ExternalModel(name="tiny", model=str(folder), tokens=1e9, **fields)


def test_declared_n_params_is_checked_against_the_count(tmp_path: Path) -> None:
    folder = make_tiny_llama(tmp_path / "llama")
    n = count_parameters(resolve_model(folder)).total
    with pytest.raises(UserError, match=rf"declared n_params {round(n * 1.1):,} .* {n:,} parameters counted"):
        external_entry(_external(folder, n_params=n * 1.1), CheckpointKind.SUITE)
    entry = external_entry(_external(folder, n_params=n * 0.97), CheckpointKind.SUITE)
    assert entry.n_params == n and entry.info["n_params_source"] == "counted from the config"
    assert entry.info["n_params_declared"] == n * 0.97
    counted = external_entry(_external(folder), CheckpointKind.SUITE)  # n_params may be left out
    assert counted.n_params == n and counted.flops == 6.0 * n * 1e9
    assert counted.info["n_params_non_embedding"] < n


def test_uncountable_model_keeps_its_declared_n_params(offline_hub: Path) -> None:
    pythia = ExternalModel(name="p", model="EleutherAI/pythia-160m", revision="step13000", n_params=1.62e8)
    entry = external_entry(pythia, CheckpointKind.SUITE)  # not in the (test) cache, offline: not countable
    assert entry.n_params == 162_000_000 and entry.info["n_params_source"].startswith("declared (not counted")
    with pytest.raises(UserError, match="declare its n_params"):
        external_entry(pythia.model_copy(update={"n_params": None}), CheckpointKind.SUITE)


# -- D from a public suite's step ---------------------------------------------------------------------------------
def test_pythia_tokens_come_from_the_step(offline_hub: Path) -> None:
    final = public_checkpoint("EleutherAI/pythia-160m", "step143000")
    assert final is not None and final.tokens == 143_000 * 2_097_152 and final.annealed
    early = public_checkpoint("EleutherAI/pythia-1b-deduped", "step13000")
    assert early is not None and early.tokens == 13_000 * 2_097_152 and not early.annealed
    assert public_checkpoint("EleutherAI/pythia-70m", None).step == 143_000  # main is the last step
    assert public_checkpoint("HuggingFaceTB/SmolLM2-135M", None) is None
    entry = external_entry(ExternalModel(name="p", model="EleutherAI/pythia-160m", revision="step143000",
                                         n_params=1.62e8), CheckpointKind.SUITE)
    assert entry.tokens == 143_000 * 2_097_152 and entry.info["annealed"] is True
    assert entry.info["revision"] == "step143000"


def test_tokens_must_be_declared_outside_known_suites() -> None:
    text = """name: x
checkpoints:
  models:
    - {name: a, model: some/model, n_params: 1.0e+6}
eval:
  tasks: [scifact]
"""
    with pytest.raises(UserError, match=r"config>:4.*'some/model'.*declare `tokens`"):
        parse_config(text)
    with pytest.raises(UserError, match="not a pythia training step"):
        parse_config(text.replace("model: some/model", "model: EleutherAI/pythia-70m, revision: main2"))
    with pytest.raises(UserError, match="step0 is the untrained"):
        parse_config(text.replace("model: some/model", "model: EleutherAI/pythia-70m, revision: step0"))
    config = parse_config(text.replace("model: some/model, n_params: 1.0e+6",
                                       "model: EleutherAI/pythia-70m, revision: step36000"))
    assert config.checkpoints.models[0].public_checkpoint().tokens == 36_000 * 2_097_152


# -- the study ----------------------------------------------------------------------------------------------------
def test_study_passes_the_revision_to_its_stages_keys_and_entries(offline_hub: Path, tmp_path: Path) -> None:
    from retscale.study.names import StageName
    from retscale.study.plan import plan_study

    docs = [{"_id": f"d{i}", "title": "", "text": f"{t} {FILLER[i % len(FILLER)]} {TOPICS[(i + 3) % 16]}"}
            for i, t in enumerate(TOPICS)]
    queries = [{"_id": f"q{i}", "text": f"{TOPICS[i]} {FILLER[(i + 5) % len(FILLER)]}"} for i in range(8)]
    folder = write_folder(tmp_path / "beir-topics", corpus=jsonl(docs), queries=jsonl(queries),
                          qrels="query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(8)))
    config = parse_config(f"""name: revisions
checkpoints:
  models:
    - {{name: tiny-main, model: {REPO}, revision: main, tokens: 1.0e+9}}
    - {{name: tiny-step1, model: {REPO}, revision: step1, tokens: 2.0e+9, annealed: false}}
eval:
  tasks: ["{folder}"]
  top_k: 5
icl:
  tasks: [piqa]
baselines:
  bm25: false
  zero_shot: true
""")
    plan = plan_study(config)
    for name in (StageName.ZERO_SHOT, StageName.FINETUNE, StageName.ICL):
        stages = [s for s in plan.stages if s.name == name]
        assert len(stages) == 2 and stages[0].key != stages[1].key
        assert [s.deps.get("model", s.deps.get("checkpoint"))["revision"] for s in stages] == ["main", "step1"]
    results = {}
    for stage in (s for s in plan.stages if s.name == StageName.ZERO_SHOT):
        result = stage.compute(tmp_path / stage.checkpoint, {})
        assert result.provenance["retriever"]["model"]["commit"] == COMMITS[stage.deps["model"]["revision"]]
        results[stage.checkpoint] = result.rows
    assert results["tiny-main"] != results["tiny-step1"]
    entries = {e.name: e for e in plan.entries({})}
    n = count_parameters(resolve_model(REPO)).total
    assert [entries[k].n_params for k in ("tiny-main", "tiny-step1")] == [n, n]
    assert entries["tiny-step1"].info["revision"] == "step1" and entries["tiny-step1"].info["annealed"] is False
    assert entries["tiny-main"].info["annealed"] is None  # unknown outside a public suite, unless declared
