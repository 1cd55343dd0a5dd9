"""The Python API: the main jobs as typed functions, ``from retscale import ...``.

| function | what it does | CLI twin |
|---|---|---|
| ``evaluate(model, tasks)`` | a model (HF name or path, ``.gguf``, ``bm25``) on BEIR tasks → ``{task: TaskResult}`` | ``retscale evaluate`` |
| ``finetune(model, train, output, **options)`` | contrastive fine-tuning → the output model folder | ``retscale finetune`` |
| ``run_study(config, output_dir)`` | a whole study (preset name, YAML path or ``StudyConfig``), report included | ``retscale study`` |
| ``load_results(study_dir)`` | a finished study's results as rows (checkpoint, stage, task, metric, value) | ``results.csv`` |
| ``load_table(study_dir)`` | the same as the analysis sees it: one ``Point`` per checkpoint | ``retscale report`` |

This module sits above every stage (it may import study and report); ``retscale/__init__.py`` re-exports it lazily,
so ``import retscale`` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retscale.analysis.table import StudyTable
    from retscale.evaluate.runner import TaskResult
    from retscale.study.config import StudyConfig
    from retscale.study.orchestrate import StudySummary
    from retscale.study.store import ResultRow


def evaluate(model: str, tasks: str | list[str], output_dir: str | Path | None = None, *, top_k: int = 1000,
             batch_size: int = 32, max_length: int | None = None, pooling: str | None = None
             ) -> dict[str, TaskResult]:
    """Evaluate ``model`` on each of ``tasks`` (registry names or BEIR folders); results are also written to
    ``output_dir`` (default: a temporary folder) as ``<task>.json``."""
    import tempfile

    from retscale.evaluate.retrievers import make_retriever
    from retscale.evaluate.runner import evaluate_task

    names = [t.strip() for t in tasks.split(",")] if isinstance(tasks, str) else list(tasks)
    out = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="retscale-eval-"))
    retriever = make_retriever(model, batch_size=batch_size, max_length=max_length, pooling=pooling)
    return {task: evaluate_task(retriever, task, out, top_k=top_k) for task in names}


def finetune(model: str, train: str | Path, output: str | Path, **options: Any) -> Path:
    """Fine-tune ``model`` on ``train`` (canonical pairs jsonl with negatives) into ``output``; ``options`` are
    ``retscale.finetune.config.FinetuneOptions`` fields (``learning_rate``, ``n_negatives``, ...)."""
    from retscale.finetune.config import FinetuneConfig
    from retscale.finetune.trainer import finetune as run_finetune

    return Path(run_finetune(FinetuneConfig(model=model, train=Path(train), output=Path(output), **options)))


def run_study(config: str | Path | StudyConfig, output_dir: str | Path | None = None, *,
              show_progress: bool = True) -> StudySummary:
    """Run (or resume) a study and build its report; ``config`` is a preset name, a YAML path or a config."""
    from retscale.experiment import run_experiment
    from retscale.study.config import StudyConfig, load_config

    if not isinstance(config, StudyConfig):
        config, _ = load_config(config)
    return run_experiment(config, output_dir, show_progress=show_progress)


def load_results(study_dir: str | Path) -> list[ResultRow]:
    """The current results of a study folder (those of its last complete run), as rows."""
    from retscale.study.store import open_store

    with open_store(study_dir, readonly=True) as store:
        return list(store.rows())


def load_table(study_dir: str | Path) -> StudyTable:
    """The study's checkpoints with their positions (N, D, FLOPs) and scores, as the analysis reads them."""
    from retscale.analysis.table import load_table as table_from_store
    from retscale.study.store import open_store

    with open_store(study_dir, readonly=True) as store:
        return table_from_store(store, tasks=store.config().get("eval", {}).get("tasks"))
