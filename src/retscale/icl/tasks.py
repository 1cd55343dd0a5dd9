"""The gauntlet's task definitions and data, read into typed objects.

``tasks_v0.3.yaml`` says how each task is prompted (type, few-shot counts, delimiters, data file);
``eval_gauntlet_v0.3.yaml`` says how tasks are grouped and scored (categories, random baselines, averages).
Item files are llm-foundry's local jsonl; HellaSwag and MMLU come from their own public sources (the offline
folder's bz2 / csv copies, or rowanz/hellaswag's jsonl and the MMLU csv) and are converted into the exact jsonl
rows the gauntlet uses. Every file is a data source (``retscale.data.sources``): read in place from the offline
data folder, or fetched on first use.
"""

from __future__ import annotations

import bz2
import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from retscale.data.source_fetch import find_source, is_mmlu_row, source_path
from retscale.data.sources import get_source
from retscale.errors import UserError
from retscale.fileio import iter_jsonl

TASK_TYPES = ("multiple_choice", "schema", "language_modeling", "generation_task_with_answers")


@dataclass(frozen=True)
class IclTaskSpec:
    """One entry of ``tasks_v*.yaml`` with llm-foundry's defaults filled in."""

    label: str
    task_type: str
    dataset_uri: str
    num_fewshot: tuple[int, ...]
    continuation_delimiter: str = " "
    example_delimiter: str = "\n"
    prompt_string: str = ""
    question_prelimiter: str = ""
    cot_delimiter: str = ""
    do_normalization: bool = True
    early_stopping_criteria: tuple[str, ...] = ()
    has_categories: bool = False
    fewshot_random_seed: int = 1234


@dataclass(frozen=True)
class Benchmark:
    """One scored benchmark of the gauntlet: a task at one few-shot count."""

    name: str
    category: str
    num_fewshot: int
    random_baseline: float


@dataclass(frozen=True)
class Gauntlet:
    benchmarks: tuple[Benchmark, ...]
    averages: dict[str, tuple[str, ...]]
    weighting: str = "EQUAL"
    subtract_random_baseline: bool = True
    rescale_accuracy: bool = True

    @property
    def categories(self) -> dict[str, list[Benchmark]]:
        out: dict[str, list[Benchmark]] = {}
        for b in self.benchmarks:
            out.setdefault(b.category, []).append(b)
        return out


@dataclass(frozen=True)
class MCItem:
    query: str
    choices: tuple[str, ...]
    gold: int
    category: str | None = None


@dataclass(frozen=True)
class SchemaItem:
    context_options: tuple[str, ...]
    continuation: str
    gold: int


@dataclass(frozen=True)
class LMItem:
    context: str
    continuation: str
    category: str | None = None


@dataclass(frozen=True)
class QAItem:
    context: str
    answer: str
    aliases: tuple[str, ...] = ()
    chain_of_thought: str = ""
    category: str | None = None


Item = MCItem | SchemaItem | LMItem | QAItem


@dataclass
class TaskData:
    """A task's items, split into the partitions llm-foundry evaluates separately (``has_categories``)."""

    spec: IclTaskSpec
    source: str
    partitions: dict[str, list[Item]] = field(default_factory=dict)


def _yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except yaml.YAMLError as exc:
        raise UserError(f"malformed YAML ({exc})", path=path) from None


def default_yaml_dir() -> Path:
    """The folder holding the v0.3 gauntlet yamls (``tasks_v0.3.yaml``, ``eval_gauntlet_v0.3.yaml``)."""
    tasks = source_path("gauntlet-yamls", "tasks_v0.3.yaml")
    scoring = source_path("gauntlet-yamls", "eval_gauntlet_v0.3.yaml")
    if scoring.parent != tasks.parent:
        raise UserError(f"{scoring.name} is not beside {tasks}", fix="give the mirror both v0.3 yamls")
    return tasks.parent


def load_task_specs(path: Path | None = None) -> dict[str, IclTaskSpec]:
    """Read ``tasks_v0.3.yaml`` (or another tasks yaml) into ``{label: IclTaskSpec}``."""
    path = path or default_yaml_dir() / "tasks_v0.3.yaml"
    doc = _yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("icl_tasks"), list):
        raise UserError("expected a top-level 'icl_tasks' list", path=path)
    specs: dict[str, IclTaskSpec] = {}
    for entry in doc["icl_tasks"]:
        missing = [k for k in ("label", "dataset_uri", "num_fewshot", "icl_task_type") if k not in entry]
        if missing:
            raise UserError(f"task entry {entry.get('label', '?')!r} lacks {missing}", path=path)
        task_type = entry["icl_task_type"]
        if task_type == "question_answering":  # llm-foundry's deprecated alias
            task_type = "generation_task_with_answers"
        if task_type not in TASK_TYPES:
            raise UserError(f"task {entry['label']!r} has unsupported icl_task_type {task_type!r}", path=path,
                            fix=f"use one of {', '.join(TASK_TYPES)}")
        specs[entry["label"]] = IclTaskSpec(
            label=entry["label"], task_type=task_type, dataset_uri=entry["dataset_uri"],
            num_fewshot=tuple(int(k) for k in entry["num_fewshot"]),
            continuation_delimiter=entry.get("continuation_delimiter", " "),
            example_delimiter=entry.get("example_delimiter", "\n"),
            prompt_string=entry.get("prompt_string", ""),
            question_prelimiter=entry.get("question_prelimiter", ""),
            cot_delimiter=entry.get("cot_delimiter", ""),
            do_normalization=bool(entry.get("do_normalization", True)),
            early_stopping_criteria=tuple(entry.get("early_stopping_criteria") or ()),
            has_categories=bool(entry.get("has_categories", False)),
            fewshot_random_seed=int(entry.get("fewshot_random_seed", 1234)),
        )
    return specs


def load_gauntlet(path: Path | None = None) -> Gauntlet:
    """Read ``eval_gauntlet_v0.3.yaml``: categories, random baselines, weighting and named averages."""
    path = path or default_yaml_dir() / "eval_gauntlet_v0.3.yaml"
    doc = _yaml(path)
    body = doc.get("eval_gauntlet") if isinstance(doc, dict) else None
    if not isinstance(body, dict) or "categories" not in body:
        raise UserError("expected 'eval_gauntlet: {categories: ...}'", path=path)
    benchmarks = [Benchmark(b["name"], c["name"], int(b["num_fewshot"]), float(b["random_baseline"]))
                  for c in body["categories"] for b in c["benchmarks"]]
    averages = {k: tuple(v) for k, v in (body.get("averages") or {}).items()}
    return Gauntlet(tuple(benchmarks), averages, body.get("weighting", "EQUAL"),
                    bool(body.get("subtract_random_baseline", True)), bool(body.get("rescale_accuracy", True)))


# ---- item readers -------------------------------------------------------------------------------------------

def _require(row: dict[str, Any], keys: tuple[str, ...], path: str, line: int) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise UserError(f"row lacks field(s) {missing}", path=path, line=line)


def _gold(row: dict[str, Any], n: int, path: str, line: int) -> int:
    gold = row["gold"]
    if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < n:
        raise UserError(f"'gold' must be an index into {n} options, got {gold!r}", path=path, line=line)
    return gold


def _options(row: dict[str, Any], key: str, path: str, line: int) -> tuple[str, ...]:
    value = row[key]
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) for v in value):
        raise UserError(f"'{key}' must be a list of at least two strings", path=path, line=line)
    return tuple(value)


def parse_item(task_type: str, row: dict[str, Any], path: str, line: int) -> Item:
    """One jsonl row → a typed item; a missing or ill-typed field is a one-line ``UserError``."""
    if task_type == "multiple_choice":
        _require(row, ("query", "choices", "gold"), path, line)
        choices = _options(row, "choices", path, line)
        return MCItem(str(row["query"]), choices, _gold(row, len(choices), path, line), row.get("category"))
    if task_type == "schema":
        _require(row, ("context_options", "continuation", "gold"), path, line)
        options = _options(row, "context_options", path, line)
        return SchemaItem(options, str(row["continuation"]), _gold(row, len(options), path, line))
    if task_type == "language_modeling":
        _require(row, ("context", "continuation"), path, line)
        return LMItem(str(row["context"]), str(row["continuation"]), row.get("category"))
    if task_type == "generation_task_with_answers":
        _require(row, ("context", "answer"), path, line)
        return QAItem(str(row["context"]), str(row["answer"]), tuple(row.get("aliases") or ()),
                      str(row.get("chain_of_thought") or ""), row.get("category"))
    raise UserError(f"unknown task type {task_type!r}", fix=f"use one of {', '.join(TASK_TYPES)}")


def read_jsonl_items(path: Path, task_type: str) -> list[Item]:
    items = [parse_item(task_type, row, str(path), line) for line, row in iter_jsonl(path)]
    if not items:
        raise UserError("no items in file", path=path)
    return items


def read_hellaswag_bz2(path: Path) -> list[Item]:
    """``hellaswag_val_full.txt.bz2``: 6 lines an item — ``activity: context``, gold index, 4 endings."""
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        lines = [ln.rstrip("\n") for ln in fh]
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 6:
        raise UserError(f"expected 6 lines per item, got {len(lines)} lines", path=path)
    items: list[Item] = []
    for start in range(0, len(lines), 6):
        query, gold, *endings = lines[start:start + 6]
        if not gold.strip().isdigit() or not 0 <= int(gold) < 4:
            raise UserError(f"gold label {gold!r} is not 0-3", path=path, line=start + 2)
        items.append(MCItem(query, tuple(endings), int(gold)))
    return items


def read_hellaswag_jsonl(path: Path) -> list[Item]:
    """rowanz/hellaswag's ``hellaswag_val.jsonl``: the same items as the ``.txt.bz2`` form — the query is
    ``activity_label: ctx``, the choices the 4 ``endings``, the gold index ``label``."""
    items: list[Item] = []
    for line, row in iter_jsonl(path):
        try:
            query = f"{row['activity_label']}: {row['ctx']}"
            endings, gold = tuple(row["endings"]), int(row["label"])
        except (KeyError, TypeError, ValueError):
            raise UserError("expected activity_label, ctx, endings and label", path=path, line=line) from None
        if len(endings) != 4 or not 0 <= gold < 4:
            raise UserError("expected 4 endings and a label 0-3", path=path, line=line)
        items.append(MCItem(query, endings, gold))
    if not items:
        raise UserError("no items in file", path=path)
    return items


def mmlu_query(question: str, options: list[str]) -> str:
    """The gauntlet's MMLU row text: ``Question: q\\n(A) a (B) b (C) c (D) d\\n``."""
    letters = " ".join(f"({letter}) {opt}" for letter, opt in zip("ABCD", options, strict=True))
    return f"Question: {question}\n{letters}\n"


def read_mmlu_csv(folder: Path, split: str = "test") -> list[Item]:
    """``mmlu/<split>/<subject>_<split>.csv`` (question, A, B, C, D, answer; no header) → gauntlet MC items."""
    files = sorted((folder / split).glob(f"*_{split}.csv"))
    if not files:
        raise UserError(f"no MMLU csv files for split {split!r}", path=folder / split)
    items: list[Item] = []
    for f in files:
        subject = f.name[: -len(f"_{split}.csv")]
        with open(f, encoding="utf-8", newline="") as fh:
            for line, row in enumerate(csv.reader(fh), start=1):
                if not is_mmlu_row(row):
                    raise UserError("expected 6 columns ending in the answer letter A-D", path=f, line=line)
                items.append(MCItem(mmlu_query(row[0], row[1:5]), ("A", "B", "C", "D"),
                                    "ABCD".index(row[5].strip()), subject))
    return items


def _local_path(spec: IclTaskSpec) -> Path | None:
    """Map ``eval/local_data/<cat>/<file>.jsonl`` onto the gauntlet's local data source (fetched on first use);
    None if the source does not list the file and no local mirror has it."""
    direct = Path(spec.dataset_uri).expanduser()
    if direct.is_absolute():  # a user's own task file
        return direct if direct.is_file() else None
    rel = spec.dataset_uri.split("local_data/", 1)[-1]
    if rel in get_source("gauntlet-local-data").members:
        return source_path("gauntlet-local-data", rel)
    return find_source("gauntlet-local-data", rel)


def load_task_data(spec: IclTaskSpec, path: Path | None = None) -> TaskData | None:
    """The items of one task, or None when the offline data lacks it (the caller reports it as missing)."""
    path = path or _local_path(spec)
    if path is not None:
        items = read_jsonl_items(path, spec.task_type)
    elif spec.label == "hellaswag":  # not in local_data offline: converted from the full validation file
        path = source_path("hellaswag")
        items = read_hellaswag_bz2(path) if path.name.endswith(".bz2") else read_hellaswag_jsonl(path)
    elif spec.label == "mmlu":  # likewise, from the MMLU csv test split
        path = source_path("mmlu")
        items = read_mmlu_csv(path, "test")
    else:
        return None
    data = TaskData(spec, str(path))
    if spec.has_categories:
        # llm-foundry evaluates each category as its own dataset (sorted), each with its own few-shot pool.
        for item in items:
            category = getattr(item, "category", None)
            if category is None:
                raise UserError(f"task {spec.label!r} has_categories but an item lacks 'category'", path=path)
            data.partitions.setdefault(category, []).append(item)
        data.partitions = dict(sorted(data.partitions.items()))
    else:
        data.partitions[""] = items
    return data
