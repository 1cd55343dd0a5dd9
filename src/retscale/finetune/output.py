"""The finished fine-tune: a model folder that ``Embedder.load`` and ``SentenceTransformer`` both read, and
``retscale.json`` — the run identity (recipe, data checksum, base-model content hashes), the full config,
base-model provenance, training curve and library versions.

``retscale.json`` is written last (atomically), so its presence means the folder is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from retscale.fileio import read_json, write_json
from retscale.finetune.checkpoint import Progress
from retscale.finetune.config import FinetuneConfig
from retscale.models.embedder import Embedder
from retscale.models.loading import ResolvedModel
from retscale.runtime import provenance

MARKER = "retscale.json"


def is_finished(output: Path) -> bool:
    return (output / MARKER).is_file()


def base_model_provenance(resolved: ResolvedModel) -> dict[str, Any]:
    """Where the base model came from, plus its pretraining record when it is a retscale checkpoint."""
    info = resolved.describe()
    record = resolved.path / "retscale_checkpoint.json"
    if record.is_file():
        info["retscale_checkpoint"] = read_json(record)
    return info


def forget_gguf_origin(model: torch.nn.Module) -> None:
    """A model read from GGUF holds ordinary dequantised float tensors, but transformers still marks it as
    "quantized with gguf" and refuses ``save_pretrained``; after training those tensors are simply the weights."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None or getattr(quantizer.quantization_config, "quant_method", None) != "gguf":
        return
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def write_output(output: Path, *, model: torch.nn.Module, tokenizer: Any, config: FinetuneConfig,
                 resolved: ResolvedModel, identity: dict[str, Any], progress: Progress, data: dict[str, Any],
                 world_size: int) -> None:
    """Save the model folder, then ``retscale.json`` (last: its presence means the folder is complete)."""
    model.eval()
    forget_gguf_origin(model)
    embedder = Embedder(model, tokenizer, pooling=config.pooling, normalize=True,
                        max_length=max(config.query_max_length, config.passage_max_length),
                        query_prefix=config.query_prefix, passage_prefix=config.passage_prefix)
    embedder.save(output)
    write_json(output / MARKER, provenance(
        kind="finetune",
        identity=identity,
        recipe=config.recipe(),
        config=config.model_dump(mode="json"),
        data=data,
        base_model=base_model_provenance(resolved),
        embedder={"pooling": config.pooling, "normalize": True, "query_prefix": config.query_prefix,
                  "passage_prefix": config.passage_prefix},
        steps=progress.step,
        tokens=progress.tokens,
        train_seconds=round(progress.seconds, 3),
        final_loss=progress.curve[-1]["loss"] if progress.curve else None,
        curve=progress.curve,
        world_size=world_size,
    ))


def finished_identity(output: Path) -> dict[str, Any] | None:
    """The run identity a finished output was made with (None if ``output`` is not a finished fine-tune).

    Outputs written before identities were recorded yield what their marker does say (recipe, data checksum,
    weights hash), so they are still compared on those."""
    if not is_finished(output):
        return None
    done = read_json(output / MARKER)
    if "identity" in done:
        return done["identity"]
    return {"recipe": done.get("recipe"), "data_sha256": done.get("data", {}).get("sha256"),
            "base_model": {"weights_sha256": done.get("base_model", {}).get("weights_sha256")}}
