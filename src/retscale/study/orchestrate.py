"""``run_study``: config → the plan → every stage (resumable) → results.csv/parquet.

The report is built by the layer above (``retscale.experiment``), which may import both study and report.

Re-running the same command after a crash or ``kill -9`` resumes: finished stages are read back from the store,
unfinished ones continue from their own partial files. Two complete runs of one config give the same results.csv.

A run is a transaction over its config: nothing is written to the folder before the config is validated and the
folder's lock is held, and results.csv, config.json and the report switch to the new config only when its run
has gone through every stage (``ResultsStore.complete_run``).

Under torchrun (``ctx`` of several ranks) every rank runs the plan and rank 0 alone takes the folder's lock, holds
the store and writes the log, results.csv and config.json (``retscale.study.runner`` says which stages the ranks
share). The results are those of one process, within float rounding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from retscale.runtime import DistContext
from retscale.study.config import StudyConfig
from retscale.study.lock import study_lock
from retscale.study.names import RESULTS_CSV, RESULTS_PARQUET
from retscale.study.plan import plan_study, run_plan
from retscale.study.runner import StageRunner, log_to_file
from retscale.study.stages import write_config_snapshot
from retscale.study.store import open_store

log = logging.getLogger("retscale.study")


@dataclass
class StudySummary:
    output_dir: Path
    ran: list[str]  # stage keys computed in this invocation
    reused: list[str]  # stage keys already finished before it
    failed: list[str]
    report: Path | None = None  # set by ``retscale.experiment.run_experiment``
    exports: list[Path] = field(default_factory=list)
    rank: int = 0  # under torchrun: this process's rank (only rank 0 writes, and its summary names the files)


def default_output(config: StudyConfig) -> Path:
    return Path(config.output or f"runs/{config.name}")


def run_study(config: StudyConfig, output_dir: str | Path | None = None, *,
              show_progress: bool = True, ctx: DistContext | None = None) -> StudySummary:
    ctx = ctx or DistContext()
    plan = plan_study(config, show_progress=show_progress and ctx.is_main)
    out = Path(output_dir) if output_dir is not None else default_output(config)
    out.mkdir(parents=True, exist_ok=True)
    if not ctx.is_main:  # rank 0 holds the folder; this rank computes its share of the parallel stages
        runner = StageRunner(None, out, len(plan.stages), show_progress=False, ctx=ctx)
        run_plan(plan, runner, None)
        runner.close()
        ctx.barrier()  # rank 0 has written results.csv
        return StudySummary(out, runner.ran, runner.reused, runner.failed, rank=ctx.rank)
    with study_lock(out), log_to_file(out) as log_path, open_store(out) as store:
        run_id = store.begin_run(config.snapshot(), len(plan.stages))
        current = store.current_run()
        if current is not None and current.id == run_id:  # no complete run to keep: config.json describes this one
            write_config_snapshot(config, out)
        log.info("study %s → %s (log: %s)", config.name, out, log_path)
        runner = StageRunner(store, out, len(plan.stages), show_progress=show_progress, ctx=ctx)
        try:
            run_plan(plan, runner, store)
        finally:
            runner.close()
        # every stage of this config has now been used in this run: its stages are the current results
        store.complete_run()
        write_config_snapshot(config, out)
        summary = StudySummary(out, runner.ran, runner.reused, runner.failed)
        summary.exports = [store.export_csv(out / RESULTS_CSV), store.export_parquet(out / RESULTS_PARQUET)]
        log.info("stages: %d ran, %d reused, %d failed", len(runner.ran), len(runner.reused), len(runner.failed))
    ctx.barrier()
    return summary
