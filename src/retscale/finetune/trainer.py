"""The contrastive fine-tuning loop: ``finetune(config) -> output folder``.

Read as a script: read the training groups, build the bi-encoder (backbone + pooling + InfoNCE), AdamW with linear
warmup/decay, maybe resume; then each step embeds the batch's queries and grouped passages, backpropagates the loss
(plain or GradCache), sums gradients across ranks, clips and steps, and every ``checkpoint_every`` steps saves a
resumable checkpoint. At the end rank 0 writes a Hugging Face + sentence-transformers model folder and
``retscale.json``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from retscale.errors import UserError
from retscale.fileio import sha256_file
from retscale.finetune.checkpoint import (
    Progress,
    differences,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
)
from retscale.finetune.config import FinetuneConfig
from retscale.finetune.data import BatchSchedule, TrainGroup, read_groups
from retscale.finetune.gradcache import contrastive_backward
from retscale.finetune.infonce import InfoNCELoss
from retscale.finetune.output import MARKER, finished_identity, write_output
from retscale.models.biencoder import BiEncoder
from retscale.models.embedder import Embedder
from retscale.models.loading import ResolvedModel, load_backbone, load_tokenizer, resolve_model
from retscale.runtime import (
    DistContext,
    all_reduce_sum,
    broadcast_parameters,
    decay_groups,
    distributed,
    seed_everything,
    sum_gradients,
)

log = logging.getLogger(__name__)


def linear_warmup_decay(total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """LR multiplier: ``(step + 1) / warmup`` over the warmup steps, then linearly down to 0 at the last step.

    Not ``transformers.get_linear_schedule_with_warmup``: that one starts at ``step / warmup``, so its first step
    has learning rate 0 and every fine-tuned number of a study would move; the decay part is the same."""
    warmup = math.ceil(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


def prepare_backbone(backbone: Any, config: FinetuneConfig) -> Any:
    """Training mode, optional gradient checkpointing and LoRA adapters."""
    if config.gradient_checkpointing:
        # Non-reentrant: works with frozen inputs (LoRA) and preserves RNG. transformers 5 renamed the method.
        if hasattr(backbone, "activation_checkpointing_enable"):
            backbone.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hasattr(backbone.config, "use_cache"):
        backbone.config.use_cache = False  # no KV cache when training (and required by checkpointing)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules="all-linear")
        backbone = get_peft_model(backbone, lora)
    return backbone.train()


def build_encoder(config: FinetuneConfig, base: ResolvedModel, dist: DistContext) -> BiEncoder:
    """The bi-encoder being trained: ``base`` seeded, prepared and on this rank's device, with the run's InfoNCE."""
    tokenizer = load_tokenizer(base, padding_side="right")
    seed_everything(config.seed)  # before loading: LoRA adapters (and any newly initialised weights) draw from it
    backbone = prepare_backbone(load_backbone(base), config).to(dist.device)
    embedder = Embedder(backbone, tokenizer, pooling=config.pooling, normalize=True,
                        max_length=max(config.query_max_length, config.passage_max_length),
                        query_prefix=config.query_prefix, passage_prefix=config.passage_prefix)
    loss = InfoNCELoss(group_size=1 + config.n_negatives, temperature=config.temperature,
                       in_batch_negatives=config.in_batch_negatives, gather_across_ranks=config.gather_across_ranks,
                       global_batch_size=config.batch_size, dist=dist)
    bf16 = config.precision == "bf16" and dist.device.startswith("cuda")
    return BiEncoder(embedder, query_max_length=config.query_max_length,
                     passage_max_length=config.passage_max_length, loss=loss,
                     autocast_dtype=torch.bfloat16 if bf16 else None)


def run_identity(config: FinetuneConfig, base: ResolvedModel) -> dict[str, Any]:
    """Everything that changes the fine-tuned weights: a checkpoint resumes, and a finished output is returned,
    only when this matches."""
    return {"recipe": config.recipe(), "data_sha256": sha256_file(config.train), "base_model": base.identity()}


def finetune(config: FinetuneConfig, on_step: Callable[[int], None] | None = None) -> Path:
    """Fine-tune ``config.model`` on ``config.train``; returns the output folder. ``on_step(step)`` runs after
    each optimiser step (tests use it to simulate a crash)."""
    output = Path(config.output)
    groups = read_groups(config.train, config.n_negatives)
    base = resolve_model(config.model, revision=config.revision)
    identity = run_identity(config, base)
    if config.overwrite:
        remove_checkpoint(output)
        (output / MARKER).unlink(missing_ok=True)
    elif _finished_with(output, identity):
        log.info("%s is already a finished fine-tune of this model, recipe and data; returning it "
                 "(pass --overwrite to redo)", output)
        return output
    # Under a study started with torchrun the group is already up: this run joins it and leaves it up.
    with distributed(config.device) as dist:
        # With τ = 0.01 the softmax gradients of easy negatives underflow to denormal floats, which make CPU matmuls
        # in the backward pass 10-100x slower; flushing them to zero changes nothing measurable.
        torch.set_flush_denormal(True)
        try:
            return _train(config, groups, base, identity, dist, on_step)
        finally:
            torch.set_flush_denormal(False)


def _finished_with(output: Path, identity: dict[str, Any]) -> bool:
    """True if ``output`` is a finished fine-tune of this identity; a finished one of another run is an error
    rather than something to return (it would be a different model's result) or to overwrite unasked."""
    recorded = finished_identity(output)
    if recorded is None:
        return False
    # Outputs from before identities were recorded hold only some base-model fields: compare those.
    current = {**identity, "base_model": {k: identity["base_model"].get(k) for k in recorded.get("base_model", {})}}
    changed = differences(current, recorded)
    if changed:
        raise UserError("the output folder holds a finished fine-tune with a different recipe, training file or "
                        f"base model (differs in: {', '.join(changed)})", path=output,
                        fix="use a new --output folder, or --overwrite to replace it")
    return True


def _train(config: FinetuneConfig, groups: list[TrainGroup], base: ResolvedModel, identity: dict[str, Any],
           dist: DistContext, on_step: Callable[[int], None] | None) -> Path:
    output = Path(config.output)
    if config.batch_size % dist.world_size:
        raise UserError(f"batch size {config.batch_size} does not split evenly over {dist.world_size} processes",
                        fix=f"use a multiple of {dist.world_size}")
    schedule = BatchSchedule(groups, batch_size=config.batch_size, n_negatives=config.n_negatives,
                             seed=config.seed, epochs=config.epochs)
    total_steps = min(schedule.total_steps, config.max_steps or schedule.total_steps)

    encoder = build_encoder(config, base, dist)
    model = encoder.embedder.model
    broadcast_parameters(model, dist)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(decay_groups(model, config.weight_decay), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(total_steps, config.warmup_ratio))
    progress = load_checkpoint(output, model=model, optimizer=optimizer, scheduler=scheduler, identity=identity)
    if progress is not None and dist.is_main:
        log.info("resuming from step %d of %d", progress.step, total_steps)
    progress = progress or Progress()

    bar = tqdm(total=total_steps, initial=progress.step, desc="finetune", unit="step", disable=not dist.is_main,
               dynamic_ncols=True)
    while progress.step < total_steps:
        started = time.perf_counter()
        batch = schedule.batch(progress.step, dist.rank, dist.world_size)
        local_loss = contrastive_backward(encoder, batch.queries, batch.passages, config.chunk_size)
        sum_gradients(params, dist)
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        loss = all_reduce_sum(local_loss, dist)
        seconds = time.perf_counter() - started
        tokens = int(all_reduce_sum(float(encoder.count_tokens(batch.queries, batch.passages)), dist))
        progress.advance(tokens=tokens, seconds=seconds)
        if progress.step % config.log_every == 0 or progress.step == total_steps:
            progress.log_point(loss=loss, lr=lr)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", step_s=f"{seconds:.2f}", tok_s=f"{tokens / seconds:,.0f}")
        # Also after the last step: a failure while writing the output then costs no training.
        if progress.step % config.checkpoint_every == 0 or progress.step == total_steps:
            if dist.is_main:
                save_checkpoint(output, model=model, optimizer=optimizer, scheduler=scheduler,
                                progress=progress, identity=identity)
            dist.barrier()
        if on_step is not None:
            on_step(progress.step)
    bar.close()

    if dist.is_main:
        if config.lora:
            model = model.merge_and_unload()
        write_output(output, model=model, tokenizer=encoder.embedder.tokenizer, config=config, resolved=base,
                     identity=identity, progress=progress,
                     data={"path": str(config.train), "sha256": identity["data_sha256"], "groups": len(groups),
                           "steps_per_epoch": schedule.steps_per_epoch, "total_steps": total_steps},
                     world_size=dist.world_size)
        remove_checkpoint(output)
    dist.barrier()
    return output
