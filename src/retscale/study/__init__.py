"""The study: one config → a plan of stages over a suite of checkpoints → a resumable store of results.

The report is built on top (``retscale.experiment``); this package never imports ``retscale.report``."""

from retscale.study.config import StudyConfig, load_config
from retscale.study.orchestrate import StudySummary, run_study
from retscale.study.plan import StudyPlan, plan_study
from retscale.study.store import ResultsStore, open_store

__all__ = ["ResultsStore", "StudyConfig", "StudyPlan", "StudySummary", "load_config", "open_store", "plan_study",
           "run_study"]
