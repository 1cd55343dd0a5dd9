"""The results store: atomic stage commits, kill -9 safety, diffable exports."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from retscale.study.store import ModelEntry, open_store


def _finish(store, key: str, checkpoint: str, rows) -> None:  # type: ignore[no-untyped-def]
    attempt_id = store.start_stage(key)
    store.finish_stage(attempt_id=attempt_id, key=key, stage=key.split(":")[0], checkpoint=checkpoint, dep_hash="h",
                       rows=rows, provenance={"model": checkpoint}, output={"path": f"/x/{checkpoint}"}, seconds=1.5)


def test_rows_checkpoints_meta_roundtrip(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        assert store.finished("evaluate:a:h") is None
        _finish(store, "evaluate:a:h", "a", [("scifact", "ndcg_at_10", 0.5), ("scifact", "n_queries", 300)])
        assert store.finished("evaluate:a:h") == {"path": "/x/a"}
        store.put_checkpoint(ModelEntry("a", "suite", "4M", 4e6, 8e7, 1.92e15, {"seed": 0}))
        store.set_meta("config", {"name": "t"})
    with open_store(tmp_path, readonly=True) as store:
        assert [r.value for r in store.rows()] == [300.0, 0.5]
        assert store.checkpoints()[0].flops == pytest.approx(1.92e15)
        assert store.get_meta("config") == {"name": "t"}
        assert store.provenance("a", "evaluate") == {"model": "a"}
        assert store.stage_seconds() == {"evaluate": 1.5}


def test_failed_commit_leaves_no_trace(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        attempt_id = store.start_stage("icl:a:h")
        with pytest.raises(ValueError):
            store.finish_stage(attempt_id=attempt_id, key="icl:a:h", stage="icl", checkpoint="a", dep_hash="h",
                               rows=[("piqa", "accuracy", 0.6), ("piqa", "bad", "not a number")],  # type: ignore[list-item]
                               provenance={}, output={}, seconds=0)
        store.fail_stage(attempt_id, "ValueError: boom")
        assert store.rows() == [] and store.finished("icl:a:h") is None
        assert store.failures() == [{"key": "icl:a:h", "error": "ValueError: boom"}]


def test_csv_is_sorted_values_only_and_order_independent(tmp_path: Path) -> None:
    rows = {"b": [("scifact", "ndcg_at_10", 0.25)], "a": [("arguana", "ndcg_at_10", 1 / 3), ("arguana", "map", 0.1)]}
    for name, order in (("one", ["a", "b"]), ("two", ["b", "a"])):
        with open_store(tmp_path / name) as store:
            for ck in order:
                _finish(store, f"evaluate:{ck}:h", ck, rows[ck][::-1] if name == "two" else rows[ck])
            store.export_csv(tmp_path / name / "results.csv")
            store.export_parquet(tmp_path / name / "results.parquet")
    one = (tmp_path / "one" / "results.csv").read_text()
    assert one == (tmp_path / "two" / "results.csv").read_text()
    assert one.splitlines() == ["checkpoint,stage,task,metric,value", "a,evaluate,arguana,map,0.1",
                                "a,evaluate,arguana,ndcg_at_10,0.333333333333", "b,evaluate,scifact,ndcg_at_10,0.25"]
    table = pq.read_table(tmp_path / "one" / "results.parquet").to_pylist()
    assert [r["metric"] for r in table] == ["map", "ndcg_at_10", "ndcg_at_10"]


def test_current_results_are_the_last_complete_runs(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.begin_run({"name": "old"}, planned=2)
        _finish(store, "evaluate:a:old", "a", [("scifact", "ndcg_at_10", 0.1), ("arguana", "ndcg_at_10", 0.2)])
        store.set_checkpoints([ModelEntry("a", "suite", "4M", 4e6, 8e7, 1e15, {})])
        assert store.status().notes()[0].startswith("the study has not finished yet: 1 of 2 stages")
        _finish(store, "pretrain:s:old", "s", [])
        store.complete_run()
        assert store.status().notes() == []
    old_rows = [("arguana", 0.2), ("scifact", 0.1)]
    with open_store(tmp_path) as store:  # a new config, interrupted after one stage: nothing of it is current
        store.begin_run({"name": "new"}, planned=2)
        store.mark_used("pretrain:s:old")
        _finish(store, "evaluate:a:new", "a", [("scifact", "ndcg_at_10", 0.3)])
        store.set_checkpoints([ModelEntry("b", "suite", "8M", 8e6, 8e7, 2e15, {})])
        run_id = store.start_stage("evaluate:b:new")
        store.fail_stage(run_id, "KeyboardInterrupt: ")
    with open_store(tmp_path, readonly=True) as store:
        assert [(r.task, r.value) for r in store.rows()] == old_rows
        assert [c.name for c in store.checkpoints()] == ["a"] and store.config() == {"name": "old"}
        assert store.failures() == []
        assert "did not finish" in store.status().notes()[0]
    with open_store(tmp_path) as store:  # the new config completes: only its stages are current
        store.begin_run({"name": "new"}, planned=2)
        for key in ("pretrain:s:old", "evaluate:a:new"):
            store.mark_used(key)
        store.complete_run()
        assert [(r.task, r.value) for r in store.rows()] == [("scifact", 0.3)]
        assert store.checkpoints() == [] and store.config() == {"name": "new"}
    with open_store(tmp_path) as store:  # switching back reuses the old stages
        store.begin_run({"name": "old"}, planned=2)
        for key in ("evaluate:a:old", "pretrain:s:old"):
            store.mark_used(key)
        store.complete_run()
        assert [(r.task, r.value) for r in store.rows()] == old_rows and store.status().notes() == []


_SCHEMA_V2 = """
CREATE TABLE results (key TEXT NOT NULL, checkpoint TEXT NOT NULL, stage TEXT NOT NULL, task TEXT NOT NULL,
    metric TEXT NOT NULL, value REAL NOT NULL, provenance TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (key, task, metric));
CREATE TABLE stages (key TEXT PRIMARY KEY, stage TEXT NOT NULL, checkpoint TEXT NOT NULL, dep_hash TEXT NOT NULL,
    output TEXT NOT NULL DEFAULT '{}', seconds REAL NOT NULL, finished_at REAL NOT NULL, used_at REAL NOT NULL);
CREATE TABLE stage_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, error TEXT);
CREATE TABLE checkpoints (name TEXT PRIMARY KEY, kind TEXT NOT NULL, size TEXT NOT NULL, n_params REAL, tokens REAL,
    flops REAL, info TEXT NOT NULL DEFAULT '{}');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO results VALUES ('evaluate:a:old', 'a', 'evaluate', 'scifact', 'ndcg_at_10', 0.1, '{}'),
    ('evaluate:a:new', 'a', 'evaluate', 'scifact', 'ndcg_at_10', 0.3, '{}');
INSERT INTO stages VALUES ('evaluate:a:old', 'evaluate', 'a', 'old', '{}', 1, 10, 10),
    ('evaluate:a:new', 'evaluate', 'a', 'new', '{}', 1, 20, 30);
INSERT INTO checkpoints VALUES ('a', 'suite', '4M', 4e6, 8e7, 1e15, '{}');
INSERT INTO meta VALUES ('config', '{"name": "t"}'), ('complete_run_started', '25.0');
PRAGMA user_version = 2;
"""


def test_a_store_of_schema_2_is_migrated_with_its_current_results(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "results.sqlite")
    db.executescript(_SCHEMA_V2)
    db.close()
    with open_store(tmp_path, readonly=True) as store:
        assert [(r.task, r.value) for r in store.rows()] == [("scifact", 0.3)]
        assert [c.name for c in store.checkpoints()] == ["a"] and store.config() == {"name": "t"}
        assert store.status().notes() == []


def test_readonly_store_must_exist(tmp_path: Path) -> None:
    from retscale.errors import UserError

    with pytest.raises(UserError, match="no results store"):
        open_store(tmp_path / "nope", readonly=True)


_WRITER = textwrap.dedent("""
    import sys
    from retscale.study.store import open_store
    store = open_store(sys.argv[1])
    i = 0
    while True:
        key = f"evaluate:ck{i}:h"
        attempt_id = store.start_stage(key)
        rows = [(f"task{j}", "ndcg_at_10", i + j / 100) for j in range(200)]
        store.finish_stage(attempt_id=attempt_id, key=key, stage="evaluate", checkpoint=f"ck{i}", dep_hash="h",
                           rows=rows, provenance={}, output={"i": i}, seconds=0)
        i += 1
        if i == 3:
            print("ready", flush=True)
""")


def test_sigkill_mid_write_never_leaves_a_half_finished_stage(tmp_path: Path) -> None:
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 * (attempt + 1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    db = sqlite3.connect(tmp_path / "results.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finished = {k for (k,) in db.execute("SELECT key FROM stages")}
    counts = dict(db.execute("SELECT checkpoint, COUNT(*) FROM results GROUP BY checkpoint").fetchall())
    assert len(finished) >= 3
    # every finished stage has all its rows; no rows exist for a stage that did not finish
    assert {f"evaluate:{ck}:h" for ck in counts} == finished
    assert set(counts.values()) == {200}
