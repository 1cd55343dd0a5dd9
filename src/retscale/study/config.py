"""The study config: a YAML file (or a built-in preset name) validated by pydantic.

Sections that belong to another stage (``pairs``, ``mining``, ``finetune``, ``pretrain``) are passed through as
mappings to that stage's own validated config, so this file never duplicates another stage's fields.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retscale.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCheckpoint(_Strict):
    """A checkpoint that is not pretrained here: an HF name or a local path, placed on the axes by N and D."""

    name: str
    model: str
    n_params: float = Field(gt=0)
    tokens: float = Field(gt=0)
    size: str | None = None  # groups checkpoints into lines; default: the formatted parameter count
    reference_only: bool = False  # plot as a reference line, keep out of the scaling fits


class CheckpointsConfig(_Strict):
    suite: str | None = None  # a built-in pretraining suite (retscale.pretrain.SUITES)
    suite_options: dict[str, Any] = Field(default_factory=dict)  # overrides passed to plan_suite
    models: list[ModelCheckpoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> CheckpointsConfig:
        if self.suite is None and not self.models:
            raise ValueError("give a built-in `suite` or a list of `models`")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"checkpoint names must be unique, got {names}")
        return self


class EvalConfig(_Strict):
    tasks: list[str] = Field(min_length=1)
    split: str | None = None  # None: each task's evaluation split (dev for msmarco, test for the others)
    max_queries: int | None = Field(default=None, gt=0)  # a seeded query subset, for quick studies
    max_docs: int | None = Field(default=None, gt=0)  # judged docs of kept queries + seeded others (smoke only)
    top_k: int = Field(default=1000, gt=0)
    batch_size: int = Field(default=64, gt=0)


class IclConfig(_Strict):
    tasks: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, gt=0)  # examples per task


class BaselinesConfig(_Strict):
    bm25: bool = True
    zero_shot: bool = False  # also evaluate each checkpoint before fine-tuning
    # built-in suites: fine-tune and evaluate each size from its untrained initial weights (0 pretraining FLOPs),
    # the control that says how much of the fine-tuned score pretraining contributes
    random_init: bool = False


class AnalysisConfig(_Strict):
    bootstrap: int = Field(default=1000, ge=50)
    predict_flops: list[float] = Field(default_factory=list)  # unseen budgets to extrapolate to
    isoflop_tolerance: float = Field(default=0.3, gt=0)  # "comparable FLOPs": within this many decades


class StudyConfig(_Strict):
    name: str
    description: str = ""
    output: str | None = None  # default output folder; `--output` overrides it
    seed: int = 0
    checkpoints: CheckpointsConfig
    pairs: dict[str, Any] = Field(default_factory=dict)
    mining: dict[str, Any] | None = None  # None: train on the pairs' own negatives (in-batch only)
    finetune: dict[str, Any] = Field(default_factory=dict)
    eval: EvalConfig
    icl: IclConfig = Field(default_factory=IclConfig)
    baselines: BaselinesConfig = Field(default_factory=BaselinesConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)


def preset_names() -> list[str]:
    folder = resources.files("retscale") / "presets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    return Path(str(resources.files("retscale") / "presets" / f"{name}.yaml"))


def load_config(spec: str | Path) -> tuple[StudyConfig, Path]:
    """A YAML path or a preset name → the validated config and the file it came from."""
    path = Path(spec)
    if not path.is_file():
        if str(spec) in preset_names():
            path = preset_path(str(spec))
        else:
            raise UserError(f"{spec!s} is neither a config file nor a preset",
                            fix=f"give a YAML file or one of: {', '.join(preset_names())}")
    text = path.read_text(encoding="utf-8-sig")
    return parse_config(text, path), path


def parse_config(text: str, path: str | Path = "<config>") -> StudyConfig:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"malformed YAML ({getattr(exc, 'problem', exc)})", path=path,
                        line=None if mark is None else mark.line + 1) from None
    if not isinstance(raw, dict):
        raise UserError("a study config must be a YAML mapping", path=path)
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserError(f"{key}: {msg}{more}", path=path, line=_line_of(text, loc),
                        fix="see the presets in retscale/presets/ for valid keys") from None


def _line_of(text: str, loc: list[str]) -> int | None:
    """The 1-based line of the deepest existing YAML node along ``loc``, for error messages."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line
