"""End-to-end evaluation on a tiny BEIR fixture with a tiny random encoder: JSON, cache, batch independence, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from retscale.cli import main
from retscale.data import TaskSpec, load_beir
from retscale.evaluate import cache as cache_module
from retscale.evaluate.metrics import CONTRASTIVE_ENTROPY, METRIC_NAMES
from retscale.evaluate.retrievers import DenseRetriever, make_retriever
from retscale.evaluate.runner import evaluate_task
from retscale.models.embedder import Embedder
from retscale.models.loading import load_tokenizer, resolve_model

WORDS = ["protein", "cell", "gene", "vitamin", "bone", "climate", "ocean", "river", "mountain", "court", "law", "vote", "market", "price", "bank", "engine", "rocket", "orbit", "planet", "music", "guitar", "poem", "novel", "chess", "football", "rain", "storm", "desert", "forest"]


def write_beir(folder: Path, n_docs: int = 40, n_queries: int = 12) -> Path:
    """A small BEIR folder; query i is about the words of doc i (and q0 shares its id with a doc)."""
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    docs = {f"d{i}": " ".join(rng.choice(WORDS, size=int(rng.integers(4, 40)))) for i in range(n_docs)}
    docs["q0"] = "bone vitamin protein"
    with open(folder / "corpus.jsonl", "w") as fh:
        for doc_id, text in docs.items():
            fh.write(json.dumps({"_id": doc_id, "title": doc_id.upper(), "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        for i in range(n_queries):
            fh.write(json.dumps({"_id": f"q{i}", "text": " ".join(docs[f"d{i}"].split()[:4])}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    rows = [f"q{i}\td{i}\t{1 + i % 2}" for i in range(n_queries)] + ["q0\tq0\t1"]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    tokenizer = load_tokenizer(resolve_model("all-MiniLM-L6-v2"))
    path = tmp_path_factory.mktemp("tiny-bert")
    Embedder(BertModel(config).eval(), tokenizer, max_length=64).save(path)
    return path


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir") / "tiny")


def test_result_json_has_metrics_and_provenance(model_dir: Path, beir_dir: Path, tmp_path: Path) -> None:
    retriever = make_retriever(str(model_dir), batch_size=4)
    result = evaluate_task(retriever, beir_dir, tmp_path / "out", top_k=10)
    saved = json.loads((tmp_path / "out" / "tiny.json").read_text())
    # a dense retriever adds the contrastive entropy; per-query values sit beside the means
    assert set(saved["metrics"]) == {*METRIC_NAMES, CONTRASTIVE_ENTROPY} and saved["metrics"] == result.metrics
    per_query = saved["per_query"]
    assert len(per_query["qids"]) == len(per_query["ndcg_at_10"]) == len(per_query[CONTRASTIVE_ENTROPY]) > 0
    mean = sum(per_query["ndcg_at_10"]) / len(per_query["qids"])
    assert abs(mean - result.metrics["ndcg_at_10"]) < 1e-9, (mean, result.metrics["ndcg_at_10"], per_query)
    prov = saved["provenance"]
    assert prov["retriever"]["model"]["path"] == str(model_dir)
    assert len(prov["retriever"]["model"]["weights_sha256"]) == 64
    assert (prov["retriever"]["pooling"], prov["retriever"]["max_length"]) == ("mean", 64)
    assert prov["dataset"]["counts"] == {"docs": 41, "queries": 12, "qrels": 13}
    assert prov["dataset"]["split"] == "test" and prov["dataset"]["checksum"]
    assert prov["versions"]["torch"].startswith("2.") and prov["timings"]["search_seconds"] >= 0
    assert not prov["timings"]["corpus_cache_hit"]
    # A second run reuses the result file; a fresh retriever on the same data hits the embedding cache.
    assert evaluate_task(retriever, beir_dir, tmp_path / "out", top_k=10).reused
    again = make_retriever(str(model_dir), batch_size=4)
    assert evaluate_task(again, beir_dir, tmp_path / "other", top_k=10).metrics == result.metrics
    assert again.timings["corpus_cache_hit"]


def test_metrics_do_not_depend_on_batch_size(model_dir: Path, beir_dir: Path, tmp_path: Path) -> None:
    results = [evaluate_task(make_retriever(str(model_dir), batch_size=bs, use_cache=False), beir_dir,
                             tmp_path / f"bs{bs}", top_k=10, reuse=False).metrics for bs in (1, 16)]
    for name in METRIC_NAMES:
        assert max(r[name] for r in results) - min(r[name] for r in results) <= 1e-3


def test_identical_ids_follow_the_task_convention(model_dir: Path, beir_dir: Path) -> None:
    dataset = load_beir(beir_dir)
    retriever = make_retriever(str(model_dir), use_cache=False)
    assert "q0" in retriever.search(dataset, 41)["q0"]
    dataset.spec = TaskSpec(name="tiny", url=None, docs=None, queries=None, qrels=None, ignore_identical_ids=True)
    run = retriever.search(dataset, 5)
    assert "q0" not in run["q0"] and all(len(hits) == 5 for hits in run.values())


def test_interrupted_corpus_encoding_resumes(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "CHUNK_TEXTS", 10)
    dataset = load_beir(write_beir(tmp_path / "resume", n_docs=44))  # its own checksum: nothing cached yet
    embedder = Embedder.load(model_dir)
    calls = {"n": 0}
    real_encode = embedder.encode

    def failing_encode(texts, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_encode(texts, **kwargs)

    monkeypatch.setattr(embedder, "encode", failing_encode)
    retriever = DenseRetriever(embedder, show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        retriever.encode_corpus(dataset)
    monkeypatch.setattr(embedder, "encode", real_encode)
    encoded = []
    monkeypatch.setattr(embedder, "encode", lambda texts, **kw: encoded.append(len(texts)) or real_encode(texts, **kw))
    vectors = np.asarray(retriever.encode_corpus(dataset))
    assert sum(encoded) == 45 - 20  # the two finished chunks were not redone
    fresh = DenseRetriever(Embedder.load(model_dir), use_cache=False, show_progress=False).encode_corpus(dataset)
    assert np.abs(vectors - fresh).max() <= 1e-5


def test_cli_prints_a_table_and_writes_json(model_dir: Path, beir_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--model", str(model_dir), "--tasks", str(beir_dir), "--output", str(tmp_path),
                 "--top-k", "20", "--batch-size", "8", "--query-prefix", "query: "])
    assert code == 0
    out = capsys.readouterr().out
    assert "nDCG@10" in out and "tiny" in out
    prov = json.loads((tmp_path / "tiny.json").read_text())["provenance"]
    assert prov["retriever"]["query_prefix"] == "query: " and prov["top_k"] == 20


def test_cli_user_mistakes_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", "no-such-model", "--tasks", "scifact", "--output", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["evaluate", "--model", "bm25", "--tasks", "not-a-task", "--output", str(tmp_path)]) == 2
    assert "unknown task" in capsys.readouterr().err


@pytest.mark.slow
def test_two_gloo_processes_give_the_same_metrics(model_dir: Path, beir_dir: Path, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RETSCALE_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), "-m", "retscale.cli", "evaluate", "--model", str(model_dir),
           "--tasks", str(beir_dir), "--output", str(tmp_path / "two"), "--top-k", "20", "--batch-size", "4"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("tiny: nDCG@10") == 1  # only rank 0 prints
    two = json.loads((tmp_path / "two" / "tiny.json").read_text())
    assert two["provenance"]["retriever"]["world_size"] == 2
    one = evaluate_task(make_retriever(str(model_dir), batch_size=4, use_cache=False), beir_dir, tmp_path / "one",
                        top_k=20)
    for name, value in one.metrics.items():
        assert abs(two["metrics"][name] - value) <= 1e-6
    assert list((tmp_path / "home" / "embeddings").glob("*.f32"))  # the sharded cache was completed


def test_resumable_units_are_a_small_share_of_the_corpus() -> None:
    """An interruption loses at most one unit: ~1/64 of a corpus, 128–2,048 texts, and every rank gets a share."""
    from retscale.evaluate.cache import chunk_texts

    assert chunk_texts(5_183) == 128  # SciFact: a real decoder on a CPU loses ≤ ~1 minute, not ~20
    assert chunk_texts(8_674) == 136  # ArguAna
    assert chunk_texts(8_841_823) == 2_048  # MS MARCO: ~4,300 progress updates, not millions
    assert chunk_texts(50) == 50 and chunk_texts(50, world_size=2) == 25 and chunk_texts(1, world_size=4) == 1
