"""The study's results store: one SQLite file (WAL) that survives ``kill -9`` at any moment.

Tables:
- ``results``: one row per stage key × task × metric (so checkpoint × stage × task × metric for one config), with
  the producing stage's provenance (JSON).
- ``stages``: one row per *finished* stage, keyed by ``stage:checkpoint:hash-of-everything-it-depends-on``.
  A stage's result rows and its completion row are written in one transaction, so after a crash either both
  exist or neither does — the stage then simply runs again. ``used_at`` is refreshed whenever a run uses the
  stage (computed or reused): rows of stages from an older config stay stored (switching back is free) but
  are not *current*, so exports and the report show exactly the latest config's numbers.
- ``stage_runs``: an append-only log of every stage start/finish, so tests can prove nothing finished ran twice.
- ``checkpoints``: what each checkpoint is (kind, size label, N, D, FLOPs) for the analysis.
- ``meta``: the study config and other run-wide facts, so ``retscale report`` can rebuild from the store alone.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retscale.errors import UserError
from retscale.fileio import atomic_write
from retscale.study.names import STORE_FILE

SCHEMA_VERSION = 2  # bump when the tables change; an older store is refused with a clear message
CSV_COLUMNS = ("checkpoint", "stage", "task", "metric", "value")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT NOT NULL, checkpoint TEXT NOT NULL, stage TEXT NOT NULL, task TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL NOT NULL, provenance TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (key, task, metric));
CREATE TABLE IF NOT EXISTS stages (
    key TEXT PRIMARY KEY, stage TEXT NOT NULL, checkpoint TEXT NOT NULL, dep_hash TEXT NOT NULL,
    output TEXT NOT NULL DEFAULT '{}', seconds REAL NOT NULL, finished_at REAL NOT NULL, used_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS stage_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, error TEXT);
CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, size TEXT NOT NULL, n_params REAL, tokens REAL, flops REAL,
    info TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class ResultRow:
    checkpoint: str
    stage: str
    task: str
    metric: str
    value: float


@dataclass(frozen=True)
class ModelEntry:
    """One entry of the study's scoreboard (a row of the ``checkpoints`` table): a checkpoint on the scaling axes
    or a baseline. ``kind`` (``retscale.study.names.CheckpointKind``): "suite" (fitted); "external", "baseline"
    or "control" (a suite size fine-tuned from random init): reference lines."""

    name: str
    kind: str
    size: str
    n_params: float | None
    tokens: float | None
    flops: float | None
    info: dict[str, Any]


class ResultsStore:
    """A thin, typed wrapper over the SQLite file. Every write is one short transaction."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise UserError(f"no results store at {self.path}", fix="pass the output folder of a `retscale study` run")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions explicitly, so a batch of rows commits atomically.
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed stage stays committed through power loss
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        has_tables = self.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
        if has_tables and version != SCHEMA_VERSION:
            self.db.close()
            raise UserError(f"{self.path} was written by another retscale version (store schema {version}, "
                            f"this one reads {SCHEMA_VERSION})", fix="use a new --output folder")
        if not readonly:
            self.db.executescript(_SCHEMA)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- stages ---------------------------------------------------------------------------------------------
    def finished(self, key: str) -> dict[str, Any] | None:
        """The stored output of a finished stage, or None if it has not finished."""
        row = self.db.execute("SELECT output FROM stages WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def mark_used(self, key: str) -> None:
        """A run reused this finished stage: its rows are current again."""
        with self._transaction() as db:
            db.execute("UPDATE stages SET used_at = ? WHERE key = ?", (time.time(), key))

    def start_stage(self, key: str) -> int:
        """Log the start of an attempt at stage ``key``; returns the attempt's id."""
        with self._transaction() as db:
            cur = db.execute("INSERT INTO stage_runs (key, started_at) VALUES (?, ?)", (key, time.time()))
        return int(cur.lastrowid or 0)

    def fail_stage(self, attempt_id: int, error: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE stage_runs SET error = ? WHERE id = ?", (error[:2000], attempt_id))

    def finish_stage(self, *, attempt_id: int, key: str, stage: str, checkpoint: str, dep_hash: str,
                     rows: Iterable[tuple[str, str, float]], provenance: dict[str, Any],
                     output: dict[str, Any], seconds: float) -> None:
        """Record a stage's metric rows ``(task, metric, value)`` and its completion, atomically."""
        prov = json.dumps(provenance, sort_keys=True, default=str)
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO results (key, checkpoint, stage, task, metric, value, provenance) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(key, checkpoint, stage, task, metric, float(value), prov) for task, metric, value in rows])
            now = time.time()
            db.execute("INSERT OR REPLACE INTO stages (key, stage, checkpoint, dep_hash, output, seconds, "
                       "finished_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, stage, checkpoint, dep_hash, json.dumps(output, sort_keys=True, default=str),
                        seconds, now, now))
            db.execute("UPDATE stage_runs SET finished_at = ? WHERE id = ?", (time.time(), attempt_id))

    def stage_run_log(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT key, started_at, finished_at, error FROM stage_runs ORDER BY id").fetchall()
        return [{"key": k, "started_at": s, "finished_at": f, "error": e} for k, s, f, e in rows]

    def stage_seconds(self) -> dict[str, float]:
        """Mean wall time per stage name over finished stages (feeds the ETA of later runs)."""
        rows = self.db.execute("SELECT stage, AVG(seconds) FROM stages GROUP BY stage").fetchall()
        return {stage: float(sec) for stage, sec in rows}

    def failures(self) -> list[dict[str, str]]:
        """Stages that failed since the last complete run began and never finished: what the report lists."""
        since = float(self.get_meta("complete_run_started", 0.0))
        rows = self.db.execute(
            "SELECT r.key, r.error FROM stage_runs r WHERE r.error IS NOT NULL AND r.started_at >= ? "
            "AND r.key NOT IN (SELECT key FROM stages) ORDER BY r.id", (since,)).fetchall()
        last: dict[str, str] = {}
        for key, error in rows:
            last[key] = error
        return [{"key": k, "error": e} for k, e in last.items()]

    # -- checkpoints and meta -------------------------------------------------------------------------------
    def set_checkpoints(self, records: list[ModelEntry]) -> None:
        """Replace the checkpoint list with the current config's (one transaction)."""
        with self._transaction() as db:
            db.execute("DELETE FROM checkpoints")
        for rec in records:
            self.put_checkpoint(rec)

    def put_checkpoint(self, rec: ModelEntry) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO checkpoints (name, kind, size, n_params, tokens, flops, info) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (rec.name, rec.kind, rec.size, rec.n_params, rec.tokens, rec.flops,
                        json.dumps(rec.info, sort_keys=True, default=str)))

    def checkpoints(self) -> list[ModelEntry]:
        rows = self.db.execute(
            "SELECT name, kind, size, n_params, tokens, flops, info FROM checkpoints ORDER BY name").fetchall()
        return [ModelEntry(n, k, s, p, t, f, json.loads(i)) for n, k, s, p, t, f, i in rows]

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                       (key, json.dumps(value, sort_keys=True, default=str)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # -- results --------------------------------------------------------------------------------------------
    def current_keys_sql(self) -> str:
        """SQL selecting the current stage keys: those the last complete run used, else the latest per stage."""
        since = self.get_meta("complete_run_started")
        if since is not None:
            return f"SELECT key FROM stages WHERE used_at >= {float(since)!r}"
        return ("SELECT key FROM stages s WHERE used_at = (SELECT MAX(used_at) FROM stages t "
                "WHERE t.stage = s.stage AND t.checkpoint = s.checkpoint)")

    def rows(self, *, stage: str | None = None) -> list[ResultRow]:
        """The current result rows, sorted — the order of results.csv."""
        sql = f"SELECT checkpoint, stage, task, metric, value FROM results WHERE key IN ({self.current_keys_sql()})"
        args: tuple[str, ...] = ()
        if stage is not None:
            sql, args = sql + " AND stage = ?", (stage,)
        return [ResultRow(*r) for r in self.db.execute(sql + " ORDER BY checkpoint, stage, task, metric", args)]

    def provenance(self, checkpoint: str, stage: str) -> dict[str, Any]:
        row = self.db.execute(f"SELECT provenance FROM results WHERE checkpoint = ? AND stage = ? AND key IN "
                              f"({self.current_keys_sql()}) LIMIT 1", (checkpoint, stage)).fetchone()
        return {} if row is None else json.loads(row[0])

    def export_csv(self, path: str | Path) -> Path:
        """Values only (no timings, no timestamps), sorted, fixed float format: two equal runs diff clean."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in self.rows():
            writer.writerow((r.checkpoint, r.stage, r.task, r.metric, format_value(r.value)))
        with atomic_write(path) as fh:
            fh.write(buf.getvalue())
        return Path(path)

    def export_parquet(self, path: str | Path) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = self.rows()
        table = pa.table({
            "checkpoint": [r.checkpoint for r in rows], "stage": [r.stage for r in rows],
            "task": [r.task for r in rows], "metric": [r.metric for r in rows],
            "value": pa.array([r.value for r in rows], type=pa.float64())})
        with atomic_write(path, "wb", encoding=None) as fh:
            pq.write_table(table, fh)
        return Path(path)


def format_value(value: float) -> str:
    """12 significant digits: stable across platforms, far below any metric's noise."""
    return f"{value:.12g}"


def open_store(study_dir: str | Path, *, readonly: bool = False) -> ResultsStore:
    return ResultsStore(Path(study_dir) / STORE_FILE, readonly=readonly)
