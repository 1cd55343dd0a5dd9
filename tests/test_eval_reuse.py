"""Reuse in evaluation never returns a wrong result: corrupted embedding caches are recomputed, concurrent
writers of one cache entry do not collide, and two tasks with the same folder name keep two result files."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from data_fixtures import jsonl, write_folder
from retscale.cli import main
from retscale.evaluate.cache import CorpusEmbeddingCache

DIM = 8


class CountingEmbedder:
    """Deterministic vectors from the text, counting how many texts it encoded."""

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        self.encoded += len(texts)
        return np.stack([np.random.default_rng(sum(map(ord, t))).standard_normal(DIM).astype(np.float32)
                         for t in texts])


TEXTS = [f"passage number {i} about {'x' * (i % 7)}" for i in range(50)]


def _cache(root: Path) -> CorpusEmbeddingCache:
    return CorpusEmbeddingCache({"weights_sha256": "w", "dataset_checksum": "d"}, len(TEXTS), DIM, root=root)


def test_corrupted_cache_of_the_right_size_is_recomputed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    embedder = CountingEmbedder()
    built = np.array(_cache(tmp_path).build(embedder, TEXTS, show_progress=False))
    cache = _cache(tmp_path)
    assert cache.load() is not None  # intact: reused
    size = cache.path.stat().st_size
    cache.path.write_bytes(np.random.default_rng(0).bytes(size))  # same length, random content
    with caplog.at_level(logging.WARNING):
        assert _cache(tmp_path).load() is None
    assert "does not match its checksum" in caplog.text
    embedder.encoded = 0
    rebuilt = np.array(_cache(tmp_path).build(embedder, TEXTS, show_progress=False))
    assert embedder.encoded == len(TEXTS)
    assert np.array_equal(rebuilt, built)
    assert _cache(tmp_path).load() is not None


def test_cache_without_a_checksum_is_not_trusted(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.build(CountingEmbedder(), TEXTS, show_progress=False)
    meta = json.loads(cache.meta_path.read_text())
    meta.pop("sha256")
    cache.meta_path.write_text(json.dumps(meta))  # an entry written by an older version, or a torn write
    assert _cache(tmp_path).load() is None


def test_two_writers_of_one_entry_do_not_collide(tmp_path: Path) -> None:
    embedders = [CountingEmbedder(), CountingEmbedder()]
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def build(embedder: CountingEmbedder) -> None:
        try:
            results.append(np.array(_cache(tmp_path).build(embedder, TEXTS, show_progress=False)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(e,)) for e in embedders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert np.array_equal(results[0], results[1])
    assert sum(e.encoded for e in embedders) == len(TEXTS)  # the second writer waited and reused the entry
    assert not list(tmp_path.glob("*.partial"))


def test_same_basename_tasks_keep_two_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_folder(tmp_path / "a" / "tiny")
    b = write_folder(tmp_path / "b" / "tiny", corpus=jsonl([{"_id": "d1", "text": "Cats purr loudly."},
                                                             {"_id": "d2", "text": "Dogs bark."}]))
    out = tmp_path / "out"
    assert main(["evaluate", "--model", "bm25", "--tasks", f"{a},{b}", "--output", str(out)]) == 0
    files = sorted(p.name for p in out.glob("*.json"))
    assert len(files) == 2, files
    sources = {json.loads((out / f).read_text())["provenance"]["dataset"]["source"] for f in files}
    assert sources == {str(a), str(b)}
    printed = capsys.readouterr().out
    for f in files:
        assert f in printed
