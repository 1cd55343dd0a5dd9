"""Public checkpoint suites whose training tokens follow from a checkpoint's revision: D = tokens per step × step.

Pythia (Biderman et al. 2023, "Pythia: A Suite for Analyzing Large Language Models Across Training and Scaling",
§2 and Table 1; github.com/EleutherAI/pythia): every size is trained with 1,024 sequences of 2,048 tokens per step
(2,097,152 tokens) for 143,000 steps (~300B tokens), with a cosine learning-rate decay over the whole run; the
hub branches ``step0`` … ``step143000`` hold the intermediate checkpoints and ``main`` is ``step143000``. Only the
last step has finished its schedule: an intermediate checkpoint of a cosine run is not annealed, so it sits above
a model trained to completion on that many tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retscale.errors import UserError


@dataclass(frozen=True)
class PublicSuite:
    """A family of public checkpoints with a fixed batch: hub names matching ``name_pattern``, revisions
    ``stepN`` (``None`` / ``main``: the final step)."""

    name: str
    name_pattern: str  # regular expression over the lower-cased hub name
    tokens_per_step: int
    final_step: int
    source: str  # where the numbers are published

    def matches(self, model: str) -> bool:
        return re.fullmatch(self.name_pattern, model.strip().lower()) is not None


PUBLIC_SUITES = (
    PublicSuite(name="pythia", name_pattern=r"eleutherai/pythia-[0-9.]+[mb](-deduped)?(-v0)?",
                tokens_per_step=1024 * 2048, final_step=143_000,
                source="Biderman et al. 2023, Table 1; github.com/EleutherAI/pythia"),
)


@dataclass(frozen=True)
class SuiteCheckpoint:
    """Where a public checkpoint sits in its suite's training run."""

    suite: str
    step: int
    tokens: int
    annealed: bool  # the learning-rate schedule had finished (the last step), not an intermediate checkpoint
    source: str


def find_public_suite(model: str) -> PublicSuite | None:
    return next((s for s in PUBLIC_SUITES if s.matches(model)), None)


def public_checkpoint(model: str, revision: str | None) -> SuiteCheckpoint | None:
    """The step, training tokens and annealing of ``model`` at ``revision`` when it belongs to a known public
    suite (None otherwise); a revision that is not one of the suite's steps is a ``UserError``."""
    suite = find_public_suite(model)
    if suite is None:
        return None
    if revision is None or revision == "main":
        step = suite.final_step
    else:
        match = re.fullmatch(r"step(\d+)", revision.strip())
        if match is None:
            raise UserError(f"model {model!r}: revision {revision!r} is not a {suite.name} training step",
                            fix=f"use step<N> (0 < N <= {suite.final_step}) or main, or declare `tokens`")
        step = int(match.group(1))
    if not 0 < step <= suite.final_step:
        raise UserError(f"model {model!r} at {revision!r}: {suite.name} steps with pretraining run from 1 to "
                        f"{suite.final_step} (step0 is the untrained initialisation)",
                        fix="pick a step in that range")
    return SuiteCheckpoint(suite=suite.name, step=step, tokens=step * suite.tokens_per_step,
                           annealed=step == suite.final_step, source=suite.source)
