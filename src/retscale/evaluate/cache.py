"""Corpus embeddings streamed to a memory-mapped float32 file and reused across runs.

The file is keyed by everything that changes the vectors (weights hash, pooling, max length, normalisation,
passage prefix, dtype, dataset checksum). Chunks are written into ``<key>.f32.partial`` and recorded in a
per-rank progress file after each flush, so an interrupted run resumes where it stopped; only a complete file
is renamed to ``<key>.f32``, and then ``<key>.json`` is written with the SHA-256 of the vectors, so a partial file
never looks finished. ``load`` trusts an entry only when the vectors still match that checksum: a damaged file (of
the right size or not) is logged and encoded again, never reused. One process at a time writes an entry (a lock
file beside it); a second one waits, then reuses what the first wrote.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from retscale.errors import UserError
from retscale.fileio import read_json, sha256_file, stable_hash, write_json
from retscale.runtime import DistContext
from retscale.settings import cache_dir

log = logging.getLogger(__name__)
CHUNK_TEXTS = 2048  # most texts per resumable unit (and per progress-file update)
MIN_CHUNK_TEXTS = 128  # fewest, unless the corpus is smaller
CHUNKS_PER_CORPUS = 64  # a corpus is cut into about this many units, so an interruption loses ≤ ~1/64 of it


def chunk_texts(n_texts: int, world_size: int = 1) -> int:
    """Texts per resumable unit: about 1/64 of the corpus, between 128 and 2,048 (a real decoder on a CPU encodes
    1–4 texts a second, so a 2,048-text unit was up to half an hour of work lost at an interruption), and small
    enough that every rank gets a share."""
    size = min(CHUNK_TEXTS, max(MIN_CHUNK_TEXTS, -(-n_texts // CHUNKS_PER_CORPUS)))
    return max(1, min(size, -(-n_texts // world_size)))


class CorpusEmbeddingCache:
    """One corpus's embeddings on disk: ``load()`` if complete, else ``build(embedder, texts, ...)``."""

    def __init__(self, key_fields: dict[str, Any], n_rows: int, dim: int, root: Path | None = None) -> None:
        self.key = stable_hash({**key_fields, "rows": n_rows, "dim": dim, "format": "f32-v1"}, length=24)
        self.key_fields = key_fields
        self.n_rows = n_rows
        self.dim = dim
        self.root = root or cache_dir("embeddings")
        self.path = self.root / f"{self.key}.f32"
        self.meta_path = self.root / f"{self.key}.json"
        self.partial = self.root / f"{self.key}.f32.partial"

    def _progress_path(self, rank: int) -> Path:
        return self.root / f"{self.key}.progress.rank{rank}.json"

    @property
    def nbytes(self) -> int:
        return self.n_rows * self.dim * 4

    def load(self, *, warn: bool = True) -> np.memmap | None:
        """The cached embeddings (read-only memmap), or None if absent, incomplete or damaged (logged)."""
        if not (self.meta_path.is_file() and self.path.is_file()):
            return None
        try:
            meta = read_json(self.meta_path)
        except UserError:
            meta = None  # damaged metadata: the entry cannot be verified
        expected = meta.get("sha256") if isinstance(meta, dict) else None
        stat = self.path.stat()
        if stat.st_size != self.nbytes or expected != _file_sha256(str(self.path), stat.st_size, stat.st_mtime_ns):
            if warn:
                log.warning("embedding cache %s does not match its checksum (damaged, or written by an older "
                            "version): encoding the corpus again", self.path)
            return None
        if self.n_rows == 0:
            return np.zeros((0, self.dim), dtype=np.float32)  # type: ignore[return-value]
        return np.memmap(self.path, dtype=np.float32, mode="r", shape=(self.n_rows, self.dim))

    def build(self, embedder: Any, texts: Sequence[str], *, batch_size: int = 32, ctx: DistContext | None = None,
              show_progress: bool = True) -> np.memmap:
        """Encode ``texts`` into the cache (this rank's share of chunks when distributed) and return it."""
        ctx = ctx or DistContext()
        with self._writer_lock(ctx):
            return self._build(embedder, texts, batch_size=batch_size, ctx=ctx, show_progress=show_progress)

    @contextlib.contextmanager
    def _writer_lock(self, ctx: DistContext) -> Iterator[None]:
        """Hold ``<key>.lock`` (main rank) while this entry is written; another process waits for it."""
        if not ctx.is_main:
            yield
            return
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{self.key}.lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("embedding cache %s: another process is writing it; waiting", self.key)
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _build(self, embedder: Any, texts: Sequence[str], *, batch_size: int, ctx: DistContext,
               show_progress: bool) -> np.memmap:
        if ctx.is_main and self.load(warn=False) is None:
            self._prepare_partial()
        ctx.barrier()
        # Written by another process while this one waited for the lock? (Every rank sees the same entry: the
        # main rank holds the lock until the end.)
        reuse = self.load(warn=False)
        if reuse is not None:
            return reuse
        # Longest texts first across the whole corpus, so each chunk holds similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        size = chunk_texts(len(texts), ctx.world_size)
        chunks = [order[i:i + size] for i in range(0, len(order), size)]
        mine = [c for c in range(len(chunks)) if c % ctx.world_size == ctx.rank]
        progress_path = self._progress_path(ctx.rank)
        done = self._done_chunks(size)
        todo = [c for c in mine if c not in done]
        if todo and self.n_rows:
            memmap = np.memmap(self.partial, dtype=np.float32, mode="r+", shape=(self.n_rows, self.dim))
            total = sum(len(chunks[c]) for c in mine)
            with tqdm(total=total, initial=total - sum(len(chunks[c]) for c in todo), desc="encoding corpus",
                      unit="doc", disable=not (show_progress and ctx.is_main), leave=False) as bar:
                for c in todo:
                    rows = np.asarray(chunks[c])
                    memmap[rows] = embedder.encode([texts[i] for i in rows], batch_size=batch_size, progress=bar)
                    memmap.flush()
                    done.add(c)
                    write_json(progress_path, {"chunk": size, "done": sorted(done)})
            del memmap
        ctx.barrier()
        if ctx.is_main:
            self._finish(size, len(chunks))
        ctx.barrier()
        result = self.load()
        assert result is not None, "embedding cache incomplete after build"
        return result

    def _prepare_partial(self) -> None:
        """Reuse a partial file of the right size (resume); otherwise start a fresh one."""
        if self.partial.is_file() and self.partial.stat().st_size == self.nbytes:
            return
        self._remove_progress()
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.partial, "wb") as fh:
            fh.truncate(self.nbytes)

    def _done_chunks(self, size: int) -> set[int]:
        """Chunks any rank has finished in an earlier or current run with the same chunking."""
        done: set[int] = set()
        for path in self.root.glob(f"{self.key}.progress.rank*.json"):
            progress = read_json(path)
            if progress.get("chunk") == size:
                done.update(progress["done"])
            elif progress.get("done"):
                log.warning("%s: progress recorded in units of %s texts, now %d: encoding this corpus from the start",
                            path.name, progress.get("chunk"), size)
        return done

    def _finish(self, size: int, n_chunks: int) -> None:
        missing = set(range(n_chunks)) - self._done_chunks(size)
        if missing:
            raise RuntimeError(f"embedding cache {self.key}: chunks {sorted(missing)[:5]} were not encoded")
        # Data first, then the metadata with its checksum: an entry is complete only when both agree.
        self.meta_path.unlink(missing_ok=True)
        digest = sha256_file(self.partial)
        os.replace(self.partial, self.path)
        write_json(self.meta_path, {"key": self.key, "rows": self.n_rows, "dim": self.dim, "sha256": digest,
                                    **self.key_fields})
        self._remove_progress()

    def _remove_progress(self) -> None:
        for path in self.root.glob(f"{self.key}.progress.rank*.json"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on (path, size, mtime) so one process hashes a large cache once, and a rewritten file again.
    return sha256_file(path)
