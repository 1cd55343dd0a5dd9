"""Stages and the runner that executes each exactly once, resumable after any crash.

A ``Stage`` names what it is (stage, checkpoint), everything its result depends on (``deps``: config slices and
the keys of the stages it consumes), the upstream stages whose outputs it reads (``inputs``) and how to compute
it. Its key is ``stage:checkpoint:hash(deps)``: a finished key is never run again, and changing a setting changes
the keys of exactly the stages that depend on it. Each stage works in its own folder
``OUT/stages/<stage>-<checkpoint>-<hash>/``, so a half-done stage resumes from its own partial files (the stages'
own resumability) and never collides with another version of itself.

Paths inside the study folder are stored relative to it (``{study}/stages/...``) and resolved against the folder
the study runs in now, so a study folder can be moved or copied and still resumed and reported.

Words: a *run* is one invocation of the study; an *attempt* is one try at one stage within it (a row of the
store's ``stage_runs`` log); the ``StageRunner`` executes stages.

Under torchrun every rank runs the same plan through its own ``StageRunner``; rank 0 alone holds the store. For
each stage rank 0 says whether it is finished (and with what output), a *parallel* stage (fine-tuning, evaluation,
ICL) is computed by every rank together (its ``compute`` also takes the ``DistContext``), any other stage by rank 0
alone while the other ranks wait; rank 0 records the result and sends its output to the others. Under several
ranks a parallel stage's failure stops the study (the ranks cannot agree to skip it from inside a collective);
re-running resumes.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from retscale.errors import UserError
from retscale.fileio import stable_hash
from retscale.runtime import DistContext, broadcast_object
from retscale.study.names import LOG_FILE, STAGES_DIR
from retscale.study.store import ResultsStore

log = logging.getLogger("retscale.study")
StageInputs = Mapping[str, dict[str, Any]]  # role -> the output of the upstream stage filling it


@dataclass
class StageResult:
    rows: list[tuple[str, str, float]] = field(default_factory=list)  # (task, metric, value)
    provenance: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)  # JSON: what later stages need (paths, counts)


@dataclass
class Stage:
    name: str
    checkpoint: str  # "shared" for stages that serve every checkpoint
    deps: dict[str, Any]  # everything the result depends on, the key of every stage in ``inputs`` included
    # (work folder, outputs of ``inputs`` by role), plus the DistContext for a parallel stage
    compute: Callable[..., StageResult]
    fatal: bool = True  # False: a failure is recorded, the stages that need this one are skipped, the study goes on
    inputs: dict[str, Stage] = field(default_factory=dict)  # role -> upstream stage whose output compute reads
    parallel: bool = False  # every torchrun rank computes it, with rank 0 writing; else rank 0 alone

    @property
    def dep_hash(self) -> str:
        return stable_hash(self.deps)

    @property
    def key(self) -> str:
        return f"{self.name}:{self.checkpoint}:{self.dep_hash}"

    def work_dir(self, out_dir: Path) -> Path:
        return out_dir / STAGES_DIR / f"{self.name}-{self.checkpoint}-{self.dep_hash}"


STUDY_ROOT = "{study}"  # stands for the study folder in stored stage outputs and provenance


def to_stored(value: Any, root: Path) -> Any:
    """``value`` (JSON) with every absolute path inside ``root`` — in values and in keys — written as
    ``{study}/relative/path``."""
    if isinstance(value, dict):
        return {to_stored(k, root): to_stored(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_stored(v, root) for v in value]
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and value.startswith("/"):
        path = Path(value)
        if path == root or path.is_relative_to(root):
            return "/".join((STUDY_ROOT, *path.relative_to(root).parts))
    return value


def from_stored(value: Any, root: Path) -> Any:
    """Inverse of ``to_stored``: ``{study}/...`` resolved against the folder the study is in now."""
    if isinstance(value, dict):
        return {from_stored(k, root): from_stored(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [from_stored(v, root) for v in value]
    if isinstance(value, str) and (value == STUDY_ROOT or value.startswith(STUDY_ROOT + "/")):
        return str(root.joinpath(*value.split("/")[1:]))
    return value


class StageFailed(Exception):
    """A non-fatal stage failed; its dependents are skipped."""


class StageRunner:
    """Runs stages against the store, with one progress bar for the whole study. ``store`` is None on the
    torchrun ranks other than 0 (``ctx``): they learn each stage's output from rank 0."""

    def __init__(self, store: ResultsStore | None, out_dir: Path, total: int, *, show_progress: bool = True,
                 ctx: DistContext | None = None) -> None:
        self.ctx = ctx or DistContext()
        if (store is None) == self.ctx.is_main:
            raise ValueError("rank 0, and only rank 0, holds the store")
        self.store = store
        self.out_dir = out_dir.resolve()  # absolute: stage paths under it are stored relative to it
        self.bar = tqdm(total=total, desc="study", unit=" stage", disable=not (show_progress and self.ctx.is_main),
                        dynamic_ncols=True)
        self.ran: list[str] = []
        self.reused: list[str] = []  # finished before this run: read back, not computed
        self.skipped: list[str] = []  # not run: a stage they need failed
        self.failed: list[str] = []

    def close(self) -> None:
        self.bar.close()

    def __call__(self, stage: Stage, inputs: StageInputs | None = None) -> dict[str, Any]:
        """The stage's output, computing it (from ``inputs``, the outputs of ``stage.inputs`` by role) only if no
        finished attempt of this exact key exists."""
        key = stage.key
        done = broadcast_object(self.store.finished(key) if self.store is not None else None, self.ctx)
        if done is not None:
            if self.store is not None:
                self.store.mark_used(key)
            self.reused.append(key)
            self.bar.update(1)
            return from_stored(done, self.out_dir)
        if self.store is None:  # another rank than 0: compute alongside rank 0 if parallel, then take its output
            if stage.parallel:
                stage.compute(stage.work_dir(self.out_dir), inputs or {}, self.ctx)
            stored = broadcast_object(None, self.ctx)
            return self._finished(stage, stored)
        self.bar.set_description(f"{stage.name} · {stage.checkpoint}")
        log.info("start %s", key)
        attempt_id = self.store.start_stage(key)
        t0 = time.perf_counter()
        try:
            work = stage.work_dir(self.out_dir)
            result = stage.compute(work, inputs or {}, self.ctx) if stage.parallel else stage.compute(work, inputs or {})
        except (UserError, KeyboardInterrupt) as exc:
            self.store.fail_stage(attempt_id, f"{type(exc).__name__}: {exc}")
            raise
        except Exception as exc:
            self.store.fail_stage(attempt_id, f"{type(exc).__name__}: {exc}")
            log.error("stage %s failed:\n%s", key, traceback.format_exc())
            if stage.fatal or (stage.parallel and self.ctx.enabled):
                raise
            broadcast_object(None, self.ctx)  # the other ranks skip it too
            return self._finished(stage, None)
        seconds = time.perf_counter() - t0
        output = to_stored(result.output, self.out_dir)
        self.store.finish_stage(attempt_id=attempt_id, key=key, stage=stage.name, checkpoint=stage.checkpoint,
                                dep_hash=stage.dep_hash, rows=result.rows,
                                provenance=to_stored(result.provenance, self.out_dir), output=output,
                                seconds=seconds)
        log.info("done %s in %.1fs", key, seconds)
        return self._finished(stage, broadcast_object(output, self.ctx))

    def _finished(self, stage: Stage, stored: dict[str, Any] | None) -> dict[str, Any]:
        """Count a stage computed in this run: its output as every rank reads it (None: it failed)."""
        self.bar.update(1)
        if stored is None:
            self.failed.append(stage.key)
            raise StageFailed(stage.key)
        self.ran.append(stage.key)
        return from_stored(stored, self.out_dir)  # exactly what a later run reusing this stage gets

    def skip(self, stage: Stage) -> None:
        """Count a stage that will not run because a stage it needs failed."""
        log.info("skip %s: a stage it needs failed", stage.key)
        self.skipped.append(stage.key)
        self.bar.update(1)


@contextmanager
def log_to_file(out_dir: Path) -> Iterator[Path]:
    """Append every retscale log record of this run to ``OUT/study.log``."""
    path = out_dir / LOG_FILE
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("retscale")
    old_level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
