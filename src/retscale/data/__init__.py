"""Data stage: BEIR-format retrieval datasets — loading, validation, a task registry and cached downloads — and the
public sources of the other data sets (Wikipedia, NLTK, Eval Gauntlet, HellaSwag, MMLU), fetched on first use.

Public API (see docs/ARCHITECTURE.md): ``BeirDataset``, ``TaskSpec``, ``load_beir``, ``load_task``, ``fetch_task``,
``passage_text``, ``TASKS`` (+ ``TASK_GROUPS``/``expand_tasks`` for ``cqadupstack``, ``get_task``), ``SOURCES``,
``PublicSource``, ``source_path``.
"""

from retscale.data.beir import load_beir
from retscale.data.fetch import fetch_task, load_task
from retscale.data.registry import TASK_GROUPS, TASKS, expand_tasks, get_task
from retscale.data.source_fetch import source_path
from retscale.data.sources import SOURCES, PublicSource
from retscale.data.types import BeirDataset, TaskSpec, passage_text

__all__ = ["SOURCES", "TASKS", "TASK_GROUPS", "BeirDataset", "PublicSource", "TaskSpec", "expand_tasks", "fetch_task",
           "get_task", "load_beir", "load_task", "passage_text", "source_path"]
