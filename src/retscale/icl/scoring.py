"""Per-item decisions and the gauntlet's aggregate scores.

Multiple choice / schema: the gauntlet (llm-foundry ``InContextLearningMultipleChoiceAccuracy``) picks the option
with the lowest per-token perplexity, i.e. the highest MEAN token log-likelihood — that is ``accuracy``. We also
report ``acc_raw`` (summed log-likelihood, lm-eval's ``acc``) and ``acc_char_norm`` (sum / characters of the
scored continuation, lm-eval's ``acc_norm``).
Gauntlet: per benchmark ``(acc - random_baseline) / (1 - random_baseline)``, weighted within its category
(EQUAL in v0.3), categories averaged into the yaml's named averages (``core_average``).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from typing import Any

from retscale.icl.loglik import ContinuationScore
from retscale.icl.tasks import Gauntlet

MC_RULES = ("per_token", "raw", "char")


def _first_argmax(values: Sequence[float]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def choose(scores: Sequence[ContinuationScore], texts: Sequence[str], rule: str) -> int:
    """The chosen option under one normalisation rule; ties go to the first option (as llm-foundry's ``index(min)``)."""
    if rule == "per_token":
        return _first_argmax([s.logprob / s.n_tokens for s in scores])
    if rule == "raw":
        return _first_argmax([s.logprob for s in scores])
    if rule == "char":
        return _first_argmax([s.logprob / max(len(t), 1) for s, t in zip(scores, texts, strict=True)])
    raise ValueError(f"unknown rule {rule!r}")


def gold_probability(logprobs: Sequence[float], gold: int) -> float:
    """The gold option's probability among the options: ``softmax(summed log-likelihoods)[gold]``.

    A continuous per-item ICL score (Schaeffer et al. 2023: accuracy is a discontinuous metric that hides smooth
    progress; the probability mass a model puts on the right answer moves long before its argmax does). Chance is
    ``1 / n_options`` for a model that cannot tell the options apart.
    """
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    return weights[gold] / sum(weights)


def normalize_answer(answer: str) -> str:
    """llm-foundry / TriviaQA normalisation: lower, drop punctuation and articles, squeeze spaces."""
    text = answer.replace("_", " ").lower()
    exclude = set(string.punctuation + "‘’´`")
    text = "".join(" " if ch in exclude else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split()).strip()


def generation_correct(output: str, answers: Sequence[str], stops: Sequence[str], cot_delimiter: str,
                       do_normalization: bool) -> bool:
    """llm-foundry ``InContextLearningGenerationExactMatchAccuracy``: cut at stop strings and the CoT delimiter,
    then the (normalised) output must START WITH one of the (normalised) answers."""
    final = output
    if stops:
        final = re.split("|".join(stops), final)[0]
    if cot_delimiter:
        final = final.split(cot_delimiter)[-1]
    if do_normalization:
        final = normalize_answer(final)
        labels = {normalize_answer(a) for a in answers}
    else:
        labels = set(answers)
    return any(final.startswith(label) for label in labels)


def rescaled(accuracy: float, random_baseline: float, gauntlet: Gauntlet) -> float:
    score = accuracy
    if gauntlet.subtract_random_baseline:
        score -= random_baseline
        if gauntlet.rescale_accuracy:
            score /= 1.0 - random_baseline
    return score


def _weight(gauntlet: Gauntlet, n_items: int) -> float:
    if gauntlet.weighting == "EQUAL":
        return 1.0
    if gauntlet.weighting == "SAMPLE_SZ":
        return float(max(n_items, 1))
    if gauntlet.weighting == "LOG_SAMPLE_SZ":
        return max(math.log(max(n_items, 1), 2), 1.0)
    raise ValueError(f"unknown gauntlet weighting {gauntlet.weighting!r}")


def gauntlet_scores(task_results: dict[str, dict[str, Any]], gauntlet: Gauntlet) -> dict[str, Any]:
    """Aggregate ``{label: {"num_fewshot", "accuracy", "n_items"}}`` into benchmark, category and average scores.

    llm-foundry drops a whole category when one benchmark is missing; we keep the category, score it over the
    benchmarks that ran, and say so (``complete``, ``missing``). Averages list exactly which categories they cover.
    """
    benchmarks: dict[str, Any] = {}
    categories: dict[str, Any] = {}
    for category, members in gauntlet.categories.items():
        scored, missing = [], []
        for b in members:
            res = task_results.get(b.name)
            if res is None or res.get("num_fewshot") != b.num_fewshot or res.get("accuracy") is None:
                missing.append(b.name)
                continue
            score = rescaled(res["accuracy"], b.random_baseline, gauntlet)
            benchmarks[b.name] = {"category": category, "num_fewshot": b.num_fewshot, "accuracy": res["accuracy"],
                                  "random_baseline": b.random_baseline, "score": score, "n_items": res.get("n_items")}
            scored.append((b.name, score, _weight(gauntlet, int(res.get("n_items") or 1))))
        total = sum(w for _, _, w in scored)
        categories[category] = {
            "score": sum(s * w for _, s, w in scored) / total if scored else None,
            "benchmarks_scored": [n for n, _, _ in scored], "benchmarks_missing": missing,
            "complete": not missing,
        }
    averages: dict[str, Any] = {}
    for name, members in gauntlet.averages.items():
        covered = [c for c in members if categories.get(c, {}).get("score") is not None]
        averages[name] = {
            "score": sum(categories[c]["score"] for c in covered) / len(covered) if covered else None,
            "categories_covered": covered,
            "categories_without_data": [c for c in members if c not in covered],
            "categories_partial": [c for c in covered if not categories[c]["complete"]],
            "complete": len(covered) == len(members) and all(categories[c]["complete"] for c in covered),
        }
    return {"benchmarks": benchmarks, "categories": categories, "averages": averages}
