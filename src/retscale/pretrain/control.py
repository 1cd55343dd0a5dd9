"""Random-init controls: each suite size at step 0 (zero pretraining FLOPs), saved like a real checkpoint.

Fine-tuned and evaluated exactly like the pretrained checkpoints, a control answers the question the scaling
curve cannot answer by itself: how much of a fine-tuned model's retrieval score comes from pretraining at all?
The weights are the trunk's own starting point (``build_model`` with the suite seed), so "pretrained minus
control" is the effect of the pretraining tokens alone.
"""

from __future__ import annotations

from pathlib import Path

from retscale.pretrain.checkpoint import (
    INFO_FILE,
    PretrainingRecord,
    publish_checkpoint,
    read_pretraining_record,
)
from retscale.pretrain.corpus import build_corpus
from retscale.pretrain.model import build_model
from retscale.pretrain.suite import PlannedCheckpoint, SuiteSpec, control_name
from retscale.pretrain.tokenizer import load_bpe_tokenizer
from retscale.pretrain.train import heldout_loss


def save_random_init_controls(spec: SuiteSpec, output_dir: str | Path,
                              show_progress: bool = False) -> list[PretrainingRecord]:
    """One HF folder per size with its untrained weights and the suite tokenizer; existing ones are kept."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    first: dict[str, PlannedCheckpoint] = {}  # any checkpoint of a size gives its shape and N
    for ck in spec.checkpoints():
        first.setdefault(ck.size.name, ck)
    pending = [s for s in first if not (out / control_name(s) / INFO_FILE).exists()]
    if pending:
        corpus = build_corpus(spec.corpus, show_progress=show_progress)
        tokenizer = load_bpe_tokenizer(corpus.tokenizer_dir)
        for size in pending:
            ck = first[size]
            model = build_model(ck.shape, int(corpus.meta["eos_token_id"]), int(corpus.meta["pad_token_id"]),
                                seed=spec.seed)
            info = PretrainingRecord(
                name=control_name(size), size=size, n_params=ck.n_params,
                n_params_non_embedding=ck.n_params_non_embedding, tokens=0, tokens_per_param=0.0, epochs=0.0,
                flops_6nd=0.0, flops_full=0.0, train_loss=None, heldout_loss=heldout_loss(model, corpus, spec),
                wall_seconds=0.0, seed=spec.seed, lr_schedule=None)
            publish_checkpoint(model, tokenizer, info, out)
    return [read_pretraining_record(out / control_name(s)) for s in first]
