"""The study's results store: one SQLite file (WAL) that survives ``kill -9`` at any moment.

Tables:
- ``results``: one row per stage key × task × metric (so checkpoint × stage × task × metric for one config), with
  the producing stage's provenance (JSON).
- ``stages``: one row per *finished* stage, keyed by ``stage:checkpoint:hash-of-everything-it-depends-on``.
  A stage's result rows and its completion row are written in one transaction, so after a crash either both
  exist or neither does — the stage then simply runs again. Rows of stages from an older config stay stored
  (switching back is free) but are not *current*.
- ``runs``: one row per ``retscale study`` invocation (its config, how many stages it plans, when it started and,
  if it got through every stage, finished); ``run_stages``: the stage keys each run used, computed or reused.
  A run is a transaction over its config: the *current* results are the stages of the last complete run, so an
  interrupted or rejected run of another config never mixes into exports or the report (before the first
  complete run, the latest run's finished stages are current and ``status()`` says what is missing).
- ``stage_runs``: an append-only log of every stage start/finish, so tests can prove nothing finished ran twice.
- ``checkpoints``: per run, what each checkpoint is (kind, size label, N, D, FLOPs) for the analysis.
- ``meta``: run-wide facts; stores written without runs (synthetic studies, tests) keep their config here.
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
from retscale.fileio import atomic_write, stable_hash
from retscale.study.names import STORE_FILE

SCHEMA_VERSION = 3  # bump when the tables change; an older store is migrated, else refused with a clear message
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
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, config_hash TEXT NOT NULL, config TEXT NOT NULL, planned INTEGER NOT NULL,
    started_at REAL NOT NULL, finished_at REAL);
CREATE TABLE IF NOT EXISTS run_stages (run_id INTEGER NOT NULL, key TEXT NOT NULL, PRIMARY KEY (run_id, key));
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, size TEXT NOT NULL, n_params REAL,
    tokens REAL, flops REAL, info TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
NO_RUN = 0  # the run id of rows written outside any run (synthetic stores, tests)

# Schema 2 → 3, after its ``checkpoints`` became ``checkpoints_v2`` and ``_SCHEMA`` made the new tables: its one
# implicit run (the stages the last complete run used, else the latest of each stage) becomes run 1.
_MIGRATE_FROM_2 = """
INSERT INTO run_stages (run_id, key) SELECT 1, key FROM stages s WHERE used_at >= COALESCE(
    (SELECT CAST(value AS REAL) FROM meta WHERE key = 'complete_run_started'),
    (SELECT MAX(used_at) FROM stages t WHERE t.stage = s.stage AND t.checkpoint = s.checkpoint));
INSERT INTO runs (id, config_hash, config, planned, started_at, finished_at) SELECT * FROM (
    SELECT 1, '', COALESCE((SELECT value FROM meta WHERE key = 'config'), '{}'), COUNT(*) AS n,
           COALESCE(MIN(s.used_at), 0), CASE WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'complete_run_started')
           THEN MAX(s.used_at) END
    FROM run_stages r JOIN stages s ON s.key = r.key) WHERE n > 0;
INSERT INTO checkpoints SELECT (SELECT COALESCE(MAX(id), 0) FROM runs), name, kind, size, n_params, tokens, flops,
    info FROM checkpoints_v2;
DROP TABLE checkpoints_v2;
DELETE FROM meta WHERE key = 'complete_run_started' OR (key = 'config' AND EXISTS (SELECT 1 FROM runs));
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


@dataclass(frozen=True)
class RunRecord:
    """One ``retscale study`` invocation: its config, the stages it plans and has used, whether it got through."""

    id: int
    config_hash: str
    config: dict[str, Any]
    planned: int
    used: int
    started_at: float
    finished_at: float | None

    @property
    def complete(self) -> bool:
        return self.finished_at is not None


@dataclass(frozen=True)
class StoreStatus:
    """Which run the current results come from, and what a reader must be told about them."""

    current: RunRecord | None
    unfinished_later: RunRecord | None  # a run of another config, begun after ``current`` and never finished

    def notes(self) -> list[str]:
        out = []
        if self.current is not None and not self.current.complete:
            out.append(f"the study has not finished yet: {self.current.used} of {self.current.planned} stages are "
                       "done and shown; re-run the same `retscale study` command to complete it")
        if self.unfinished_later is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.unfinished_later.started_at))
            out.append(f"a later run with another config (started {when}, {self.unfinished_later.used} of "
                       f"{self.unfinished_later.planned} stages) did not finish; these are the results of the last "
                       "complete run")
        return out


class ResultsStore:
    """A thin, typed wrapper over the SQLite file. Every write is one short transaction."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise UserError(f"no results store at {self.path}", fix="pass the output folder of a `retscale study` run")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.active_run = NO_RUN  # the run this process records into (begin_run)
        # isolation_level=None: we open transactions explicitly, so a batch of rows commits atomically.
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        try:
            self._open(readonly)
        except sqlite3.DatabaseError as exc:  # not an SQLite file (overwritten, truncated, another format)
            self.db.close()
            raise UserError(f"not a readable results store ({exc})", path=self.path,
                            fix="move it aside and re-run `retscale study` on this folder (finished stage folders "
                                "are reused), or use a new --output folder") from None

    def _open(self, readonly: bool) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed stage stays committed through power loss
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        has_tables = self.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
        if has_tables and version == 2:
            with self._transaction() as db:
                db.execute("ALTER TABLE checkpoints RENAME TO checkpoints_v2")
                for statement in (_SCHEMA + _MIGRATE_FROM_2).split(";"):
                    if statement.strip():
                        db.execute(statement)
                for run_id, config in db.execute("SELECT id, config FROM runs").fetchall():
                    db.execute("UPDATE runs SET config_hash = ? WHERE id = ?", (stable_hash(json.loads(config)),
                                                                                 run_id))
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif has_tables and version != SCHEMA_VERSION:
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
        """This run reused a finished stage: it belongs to the run's results."""
        with self._transaction() as db:
            db.execute("UPDATE stages SET used_at = ? WHERE key = ?", (time.time(), key))
            self._record_use(db, key)

    def _record_use(self, db: sqlite3.Connection, key: str) -> None:
        if self.active_run != NO_RUN:
            db.execute("INSERT OR IGNORE INTO run_stages (run_id, key) VALUES (?, ?)", (self.active_run, key))

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
            self._record_use(db, key)

    def stage_run_log(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT key, started_at, finished_at, error FROM stage_runs ORDER BY id").fetchall()
        return [{"key": k, "started_at": s, "finished_at": f, "error": e} for k, s, f, e in rows]

    def stage_seconds(self) -> dict[str, float]:
        """Mean wall time per stage name over finished stages (feeds the ETA of later runs)."""
        rows = self.db.execute("SELECT stage, AVG(seconds) FROM stages GROUP BY stage").fetchall()
        return {stage: float(sec) for stage, sec in rows}

    def failures(self) -> list[dict[str, str]]:
        """Stages that failed during the current run and never finished: what the report lists."""
        run = self.current_run()
        since = 0.0 if run is None else run.started_at
        until = None if run is None else run.finished_at
        rows = self.db.execute(
            "SELECT r.key, r.error FROM stage_runs r WHERE r.error IS NOT NULL AND r.started_at >= ? "
            "AND (? IS NULL OR r.started_at <= ?) AND r.key NOT IN (SELECT key FROM stages) ORDER BY r.id",
            (since, until, until)).fetchall()
        last: dict[str, str] = {}
        for key, error in rows:
            last[key] = error
        return [{"key": k, "error": e} for k, e in last.items()]

    # -- runs -----------------------------------------------------------------------------------------------
    def begin_run(self, config: dict[str, Any], planned: int) -> int:
        """Start recording a run of ``config`` (``planned`` stages); stages used from now on belong to it."""
        with self._transaction() as db:
            cur = db.execute("INSERT INTO runs (config_hash, config, planned, started_at) VALUES (?, ?, ?, ?)",
                             (stable_hash(config), json.dumps(config, sort_keys=True, default=str), planned,
                              time.time()))
        self.active_run = int(cur.lastrowid or 0)
        return self.active_run

    def complete_run(self) -> None:
        """The active run went through every stage: its stages become the current results."""
        with self._transaction() as db:
            db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (time.time(), self.active_run))

    def _run(self, where: str) -> RunRecord | None:
        row = self.db.execute(
            "SELECT id, config_hash, config, planned, (SELECT COUNT(*) FROM run_stages WHERE run_id = id), "
            f"started_at, finished_at FROM runs WHERE {where} ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return RunRecord(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])

    def current_run(self) -> RunRecord | None:
        """The run whose stages are the current results: the last complete one, else the latest."""
        return self._run("finished_at IS NOT NULL") or self._run("1")

    def status(self) -> StoreStatus:
        current = self.current_run()
        later = None if current is None else self._run(f"id > {current.id} AND finished_at IS NULL "
                                                       f"AND config_hash != '{current.config_hash}'")
        return StoreStatus(current, later)

    def config(self) -> dict[str, Any]:
        """The config of the current results ({} if none is known)."""
        run = self.current_run()
        return run.config if run is not None else self.get_meta("config", {})

    # -- checkpoints and meta -------------------------------------------------------------------------------
    def set_checkpoints(self, records: list[ModelEntry]) -> None:
        """Replace the active run's checkpoint list (one transaction)."""
        with self._transaction() as db:
            db.execute("DELETE FROM checkpoints WHERE run_id = ?", (self.active_run,))
        for rec in records:
            self.put_checkpoint(rec)

    def put_checkpoint(self, rec: ModelEntry) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO checkpoints (run_id, name, kind, size, n_params, tokens, flops, info) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (self.active_run, rec.name, rec.kind, rec.size, rec.n_params, rec.tokens, rec.flops,
                        json.dumps(rec.info, sort_keys=True, default=str)))

    def checkpoints(self) -> list[ModelEntry]:
        """The current run's checkpoints."""
        run = self.current_run()
        rows = self.db.execute("SELECT name, kind, size, n_params, tokens, flops, info FROM checkpoints "
                               "WHERE run_id = ? ORDER BY name", (NO_RUN if run is None else run.id,)).fetchall()
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
        """SQL selecting the current stage keys: those of the current run (every finished stage without runs)."""
        run = self.current_run()
        if run is None:
            return "SELECT key FROM stages"
        return f"SELECT key FROM run_stages WHERE run_id = {int(run.id)}"

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

    def output(self, checkpoint: str, stage: str) -> dict[str, Any]:
        """The stored output of the current run's ``stage`` for ``checkpoint`` (bulky per-query values live here,
        once per stage, rather than in every result row's provenance)."""
        row = self.db.execute(f"SELECT output FROM stages WHERE checkpoint = ? AND stage = ? AND key IN "
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
