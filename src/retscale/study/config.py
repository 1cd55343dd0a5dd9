"""The study config: a YAML file (or a built-in preset name) validated by pydantic.

Sections that belong to another stage are that stage's own model — ``pairs``: ``retscale.pairs.wiki.
WikiPairsOptions``, ``mining``: ``retscale.mining.MiningConfig``, ``finetune``: ``retscale.finetune.config.
FinetuneOptions``, ``checkpoints.suite_options``: ``retscale.pretrain.suite.SuiteOptions`` — so this file never
duplicates another stage's fields, and a bad key or value anywhere fails when the config loads, naming its line.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retscale.configfile import parse_yaml_mapping, read_yaml_text, validate
from retscale.errors import UserError
from retscale.finetune.config import FinetuneOptions
from retscale.mining.miner import MiningConfig
from retscale.pairs.wiki import WikiPairsOptions
from retscale.pretrain.public_suites import PUBLIC_SUITES, SuiteCheckpoint, public_checkpoint
from retscale.pretrain.suite import SUITES, SuiteOptions
from retscale.study.names import HELDOUT_TASK, WIKI_TASKS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExternalModel(_Strict):
    """A checkpoint that is not pretrained here: an HF name (at a ``revision``) or a local path, placed on the axes
    by N and D. N is counted from the model's config when the study records it (a declared ``n_params`` must be
    within 5% of the count; it is needed only where nothing can be counted); D is computed for known
    public suites from the revision's step (``retscale.pretrain.public_suites``), declared otherwise."""

    name: str
    model: str
    revision: str | None = None  # hub branch, tag or commit, e.g. Pythia's step13000 (None: the default branch)
    n_params: float | None = Field(default=None, gt=0)
    tokens: float | None = Field(default=None, gt=0)
    annealed: bool | None = None  # trained to the end of its LR schedule (None: known for public suites only)
    size: str | None = None  # groups checkpoints into lines; default: the formatted parameter count
    reference_only: bool = False  # plot as a reference line, keep out of the scaling fits

    @model_validator(mode="after")
    def _axes_known(self) -> ExternalModel:
        try:
            suite = self.public_checkpoint()
        except UserError as exc:
            raise ValueError(exc.problem) from None
        if self.tokens is None and suite is None:
            known = ", ".join(s.name for s in PUBLIC_SUITES)
            raise ValueError(f"model {self.model!r}: declare `tokens` (its pretraining tokens); they are computed "
                             f"from the revision only for known public suites ({known})")
        return self

    def public_checkpoint(self) -> SuiteCheckpoint | None:
        """Step, tokens and annealing when the model belongs to a known public suite (Pythia), else None."""
        return public_checkpoint(self.model, self.revision)


class CheckpointsConfig(_Strict):
    suite: str | None = None  # a built-in pretraining suite (retscale.pretrain.SUITES)
    suite_options: SuiteOptions = Field(default_factory=SuiteOptions)  # overrides of the suite's SuiteSpec
    models: list[ExternalModel] = Field(default_factory=list)

    @field_validator("suite")
    @classmethod
    def _known_suite(cls, suite: str | None) -> str | None:
        if suite is not None and suite not in SUITES:
            raise ValueError(f"unknown suite {suite!r}: choose one of {', '.join(SUITES)}")
        return suite

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
    # tokens a dense model embeds per query and document: the paper's 128 (None: each model's own setting, e.g. a
    # fine-tuned model's training length)
    max_length: int | None = Field(default=128, gt=0)
    split: str | None = None  # None: each task's evaluation split (dev for msmarco, test for the others)
    max_queries: int | None = Field(default=None, gt=0)  # a seeded query subset, for quick studies
    max_docs: int | None = Field(default=None, gt=0)  # judged docs of kept queries + seeded others (smoke only)
    top_k: int = Field(default=1000, gt=0)
    batch_size: int = Field(default=64, gt=0)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        from retscale.data.registry import canonical_name

        for task in tasks:
            if task in WIKI_TASKS or canonical_name(task) is not None or Path(task).exists():
                continue
            raise ValueError(f"unknown task {task!r}: give a registry task (`retscale data list`), {HELDOUT_TASK}, "
                             "or the path of a BEIR folder or zip")
        return tasks


class IclConfig(_Strict):
    tasks: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, gt=0)  # examples per task

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        """Unknown task labels fail when the config loads, not after pretraining and fine-tuning (checked against
        the gauntlet's tasks yaml when the offline data is there; without it the ICL stage says what is missing)."""
        from retscale.icl.tasks import default_yaml_dir, load_task_specs

        try:
            known = set(load_task_specs(default_yaml_dir() / "tasks_v0.3.yaml"))
        except Exception:  # no gauntlet yamls on this machine: nothing to check against
            return tasks
        unknown = [t for t in tasks if t not in known | {"gauntlet", "gauntlet-v0.3", "tiny"}]
        if unknown:
            raise ValueError(f"unknown ICL task {unknown[0]!r}: use gauntlet-v0.3, tiny, or a label of the "
                             "gauntlet's tasks_v0.3.yaml")
        return tasks


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
    pairs: WikiPairsOptions = Field(default_factory=WikiPairsOptions)
    # the study always mines; unset `seed` and `n_threads` default to the study's seed and 1 thread
    mining: MiningConfig = Field(default_factory=MiningConfig)
    finetune: FinetuneOptions = Field(default_factory=FinetuneOptions)  # unset `seed`: the study's seed
    # several seeds: each model is fine-tuned and evaluated once per seed and its scores are the seeds' mean (the
    # seed spread and a seed-aware bootstrap go into the report); empty: one fine-tune, with `finetune.seed`
    finetune_seeds: list[int] = Field(default_factory=list)
    eval: EvalConfig
    icl: IclConfig = Field(default_factory=IclConfig)
    baselines: BaselinesConfig = Field(default_factory=BaselinesConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)

    def snapshot(self) -> dict[str, Any]:
        """The config as recorded (config.json, the store's meta): the stage sections as written, because their
        unset fields take the study's values at run time (its seed, one mining thread), not the models' defaults."""
        out = self.model_dump(mode="json")
        for name in ("pairs", "mining", "finetune"):
            out[name] = getattr(self, name).model_dump(mode="json", exclude_unset=True)
        out["checkpoints"]["suite_options"] = self.checkpoints.suite_options.model_dump(mode="json",
                                                                                        exclude_unset=True)
        return out


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
    return parse_config(read_yaml_text(path), path), path


def parse_config(text: str, path: str | Path = "<config>") -> StudyConfig:
    raw = parse_yaml_mapping(text, path, what="a study config")
    return validate(StudyConfig, raw, path=path, text=text, fix="see the presets in retscale/presets/ for valid keys")
