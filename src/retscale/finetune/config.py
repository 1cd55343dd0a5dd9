"""``FinetuneConfig``: the whole contrastive fine-tuning recipe, one value per knob.

``FinetuneOptions`` holds every knob except what to train and where (``model``, ``train``, ``output``): it is the
study config's ``finetune:`` section, and ``FinetuneConfig`` adds the three.

Defaults are the paper's single recipe for every model size (Portes et al. 2025, following E5 / Wang et al. 2022):
mean pooling of the final hidden states, cosine similarity, InfoNCE over the query's positive and 15 mined hard
negatives (no in-batch negatives), temperature 0.01, max length 128 for queries and passages, one epoch of AdamW
with linear warmup then linear decay. Every field is overridable from the CLI (``retscale finetune --help``) and
from a study config (the same field names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retscale.models.pooling import Pooling

# E5 (Wang et al. 2022) fine-tunes with τ = 0.01 and the paper's recipe follows E5, so we do too: a sharp softmax
# over 16 candidates that keeps pushing hard negatives away after easy ones are solved. (For scale:
# sentence-transformers' MultipleNegativesRankingLoss uses scale 20, i.e. τ = 0.05.)
DEFAULT_TEMPERATURE = 0.01


class FinetuneOptions(BaseModel):
    """Every fine-tuning setting but the base model, the data and the output folder."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    # the loss
    n_negatives: int = Field(15, ge=1, description="hard negatives per query")
    temperature: float = Field(DEFAULT_TEMPERATURE, gt=0, description="InfoNCE τ (logits = cos / τ)")
    in_batch_negatives: bool = Field(False, description="also use the other queries' passages as negatives")
    gather_across_ranks: bool = Field(False, description="with DDP, in-batch negatives come from every rank")
    pooling: Pooling = "mean"
    query_prefix: str = ""
    passage_prefix: str = ""
    query_max_length: int = Field(128, ge=1)
    passage_max_length: int = Field(128, ge=1)

    # optimisation
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=1, description="queries per optimiser step, summed over all ranks")
    learning_rate: float = Field(2e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1, description="fraction of steps with linear warmup")
    max_grad_norm: float | None = Field(1.0, description="clip the global gradient norm; None = no clipping")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (smoke runs)")
    seed: int = 0

    # memory and hardware
    chunk_size: int | None = Field(None, ge=1, description="GradCache: texts per forward chunk; None = one pass")
    gradient_checkpointing: bool = False
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 = autocast on GPU")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")

    # LoRA (peft)
    lora: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)

    # resumability and logging
    checkpoint_every: int = Field(200, ge=1, description="save a resumable checkpoint every K steps")
    log_every: int = Field(1, ge=1, description="record the loss curve every K steps")
    overwrite: bool = Field(False, description="discard an existing finished output instead of returning it")

    @model_validator(mode="after")
    def _check(self) -> FinetuneOptions:
        if self.gather_across_ranks and not self.in_batch_negatives:
            raise ValueError("gather_across_ranks needs in_batch_negatives")
        return self


class FinetuneConfig(FinetuneOptions):
    """A whole fine-tuning run: the options plus what to train, on what, into where."""

    model: str = Field(description="base model: HF dir, .gguf file, retscale checkpoint, or offline alias")
    revision: str | None = Field(None, description="hub branch, tag or commit of the base model (e.g. step13000)")
    train: Path = Field(description="training pairs jsonl (canonical format, with negatives)")
    output: Path = Field(description="output folder for the fine-tuned model")

    def recipe(self) -> dict[str, object]:
        """The knobs that change the result (paths and bookkeeping left out): what resuming must match."""
        # the revision is part of the base model's identity (trainer.run_identity), not of the recipe
        skip = {"model", "revision", "train", "output", "checkpoint_every", "log_every", "overwrite", "device"}
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in skip}
