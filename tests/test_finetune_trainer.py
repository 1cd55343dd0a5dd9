"""End-to-end fine-tuning of a tiny Llama: output format, resume equality, recipe checks, LoRA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from finetune_fixtures import make_pairs, make_tiny_llama
from retscale.errors import UserError
from retscale.fileio import read_json, sha256_file
from retscale.finetune.checkpoint import checkpoint_path
from retscale.finetune.config import FinetuneConfig
from retscale.finetune.trainer import finetune


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ft")
    model = make_tiny_llama(root / "llama")
    # Attention dropout makes the run consume RNG, so resume equality also checks RNG restoring.
    cfg = read_json(model / "config.json")
    cfg["attention_dropout"] = 0.1
    (model / "config.json").write_text(__import__("json").dumps(cfg))
    return model, make_pairs(root / "pairs.jsonl", n_queries=12, n_negatives=4)


def _config(setup: tuple[Path, Path], output: Path, **overrides: object) -> FinetuneConfig:
    model, train = setup
    values = {"model": str(model), "train": train, "output": output, "n_negatives": 3, "batch_size": 4,
              "epochs": 2, "learning_rate": 1e-3, "checkpoint_every": 2, **overrides}
    return FinetuneConfig(**values)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


@pytest.mark.slow
def test_output_loads_in_embedder_and_sentence_transformers(setup: tuple[Path, Path], tmp_path: Path) -> None:
    out = finetune(_config(setup, tmp_path / "out", chunk_size=5, gradient_checkpointing=True))
    meta = read_json(out / "retscale.json")
    assert meta["steps"] == 6 and len(meta["curve"]) == 6 and meta["tokens"] > 0
    assert meta["data"]["sha256"] == sha256_file(setup[1]) and meta["data"]["groups"] == 12
    assert meta["base_model"]["weights_sha256"] and meta["recipe"]["temperature"] == 0.01
    assert not checkpoint_path(out).exists()  # removed once the run is complete

    from sentence_transformers import SentenceTransformer

    from retscale.models.embedder import Embedder

    texts = ["question about apple the", "the old river story"]
    st = SentenceTransformer(str(out), device="cpu").encode(texts)
    ours = Embedder.load(out).encode(texts)
    assert np.allclose(st, ours, atol=1e-5)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    before = _weights(setup[0])
    after = _weights(out)
    assert not torch.equal(before["model.layers.0.mlp.up_proj.weight"], after["layers.0.mlp.up_proj.weight"])
    # A finished output is returned as is; a different recipe aimed at it is refused.
    assert finetune(_config(setup, out, chunk_size=5, gradient_checkpointing=True)) == out
    with pytest.raises(UserError, match="different recipe"):
        finetune(_config(setup, out, temperature=0.05))


def test_resume_after_crash_equals_uninterrupted_run(setup: tuple[Path, Path], tmp_path: Path) -> None:
    whole = finetune(_config(setup, tmp_path / "whole"))

    def crash(step: int) -> None:
        if step == 3:  # after the step-2 checkpoint, before the step-4 one
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(_config(setup, tmp_path / "resumed"), on_step=crash)
    assert checkpoint_path(tmp_path / "resumed").is_file()
    assert not (tmp_path / "resumed" / "retscale.json").exists()
    with pytest.raises(UserError, match="different run"):
        finetune(_config(setup, tmp_path / "resumed", learning_rate=5e-4))
    resumed = finetune(_config(setup, tmp_path / "resumed"))
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    curve_a = read_json(whole / "retscale.json")["curve"]
    curve_b = read_json(resumed / "retscale.json")["curve"]
    assert [c["loss"] for c in curve_a] == [c["loss"] for c in curve_b]


def test_lora_trains_adapters_and_saves_merged_weights(setup: tuple[Path, Path], tmp_path: Path) -> None:
    out = finetune(_config(setup, tmp_path / "lora", lora=True, lora_r=4, max_steps=2))
    weights = _weights(out)
    assert not any("lora" in name for name in weights)
    base = _weights(setup[0])
    assert not torch.equal(base["model.layers.0.self_attn.q_proj.weight"], weights["layers.0.self_attn.q_proj.weight"])
    # Embeddings are not LoRA targets: unchanged.
    assert torch.equal(base["model.embed_tokens.weight"], weights["embed_tokens.weight"])


def test_finished_output_of_another_base_model_is_refused(tmp_path: Path) -> None:
    """Issue 14: fine-tuning model B into a folder holding model A's finished fine-tune must not return A's."""
    import json
    import shutil

    train = make_pairs(tmp_path / "pairs.jsonl", n_queries=4, n_negatives=2)
    model_a = make_tiny_llama(tmp_path / "a", seed=0)
    model_b = make_tiny_llama(tmp_path / "b", seed=1)
    out = tmp_path / "out"

    def config(model: Path) -> FinetuneConfig:
        return FinetuneConfig(model=str(model), train=train, output=out, n_negatives=2, batch_size=2, max_steps=1)

    assert finetune(config(model_a)) == out
    weights = _weights(out)
    shutil.copytree(model_a, tmp_path / "a-copy")
    assert finetune(config(tmp_path / "a-copy")) == out  # the same model in another folder: reused
    with pytest.raises(UserError) as refused:
        finetune(config(model_b))
    assert "base model" in refused.value.problem and "base_model" in refused.value.problem
    assert refused.value.path == str(out) and "--output" in (refused.value.fix or "")
    # Same weights, different settings (dropout) is a different model too.
    cfg = read_json(tmp_path / "a-copy" / "config.json")
    (tmp_path / "a-copy" / "config.json").write_text(json.dumps({**cfg, "attention_dropout": 0.1}))
    with pytest.raises(UserError, match="base_model"):
        finetune(config(tmp_path / "a-copy"))
    assert all(torch.equal(weights[k], v) for k, v in _weights(out).items())  # A's result left as it was
    # A marker written before run identities were recorded is still checked on what it holds.
    marker = read_json(out / "retscale.json")
    del marker["identity"]
    (out / "retscale.json").write_text(json.dumps(marker))
    assert finetune(config(model_a)) == out
    with pytest.raises(UserError, match="base_model"):
        finetune(config(model_b))
    other = finetune(config(model_b).model_copy(update={"output": tmp_path / "out-b"}))
    assert not torch.equal(_weights(other)["layers.0.mlp.up_proj.weight"], weights["layers.0.mlp.up_proj.weight"])
