"""``Embedder``: any Hugging Face backbone + pooling + L2 normalisation + prefixes → one vector per text.

Encoding tokenizes everything once, sorts by token length (so a batch carries almost no padding), pads by hand
into tensors, and runs under ``torch.inference_mode``. Position ids come from the attention mask, so a text's
embedding does not depend on padding side, batch size or its batch-mates.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from retscale.errors import UserError
from retscale.fileio import atomic_write, write_json
from retscale.models.loading import (
    ResolvedModel,
    is_decoder,
    load_backbone,
    load_tokenizer,
    resolve_model,
)
from retscale.models.pooling import POOLINGS, Pooling, pool

DECODER_MAX_LENGTH = 128  # the paper's sequence length for decoder embedders
# Models that already derive positions from the padding (with an offset); passing our own would be wrong.
SELF_POSITIONING = {"roberta", "xlm-roberta", "camembert", "mpnet", "longformer", "ibert", "data2vec-text"}


class Embedder:
    """Wraps ``model`` (an ``AutoModel``) and its tokenizer. Use ``Embedder.load(name)`` to build one."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, pooling: Pooling = "mean", normalize: bool = True,
                 max_length: int = 512, query_prefix: str = "", passage_prefix: str = "",
                 source: ResolvedModel | None = None) -> None:
        if pooling not in POOLINGS:
            raise UserError(f"unknown pooling {pooling!r}", fix=f"use one of {', '.join(POOLINGS)}")
        if max_length < 1:
            raise UserError(f"max_length must be positive, got {max_length}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = int(max_length)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.source = source
        accepts = "position_ids" in inspect.signature(model.forward).parameters
        self._pass_positions = accepts and getattr(model.config, "model_type", "") not in SELF_POSITIONING

    @classmethod
    def load(cls, name_or_path: str | Path | ResolvedModel, *, pooling: Pooling | None = None,
             max_length: int | None = None, normalize: bool | None = None, query_prefix: str = "",
             passage_prefix: str = "", dtype: torch.dtype | None = None, padding_side: str = "right",
             revision: str | None = None) -> Embedder:
        """Load a model (a hub name at ``revision`` when given); unset options come from its sentence-transformers
        config, else the defaults (mean pooling, normalised, max_length 128 for decoders or the model's own limit
        for encoders)."""
        resolved = (name_or_path if isinstance(name_or_path, ResolvedModel)
                    else resolve_model(name_or_path, revision=revision))
        st = resolved.sentence_transformers_config or {}
        model = load_backbone(resolved, dtype=dtype)
        tokenizer = load_tokenizer(resolved, padding_side=padding_side)
        if max_length is None:
            max_length = st.get("max_seq_length") or _model_max_length(model.config, tokenizer)
        return cls(model, tokenizer, pooling=pooling or st.get("pooling") or "mean",
                   normalize=st.get("normalize", True) if normalize is None else normalize,
                   max_length=max_length, query_prefix=query_prefix, passage_prefix=passage_prefix,
                   source=resolved)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- differentiable path (fine-tuning) -------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Tokenize and pad ``texts`` into a batch for ``embed`` (cut at ``max_length``, default ``self.max_length``)."""
        ids = self._token_ids(texts, max_length)
        return self._pad(ids)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled (and normalised) float32 embeddings of a tokenized batch; keeps the autograd graph."""
        mask = batch["attention_mask"]
        inputs: dict[str, torch.Tensor | None] = {"input_ids": batch["input_ids"], "attention_mask": mask}
        if bool(mask.all()):
            # No padding (common after length sorting): the mask-free attention path is faster.
            inputs["attention_mask"] = None
        if self._pass_positions and self.tokenizer.padding_side == "left":
            # Positions count real tokens only, so left padding does not shift them.
            inputs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
        hidden = self.model(**inputs).last_hidden_state
        vectors = pool(self.pooling, hidden, mask)
        return F.normalize(vectors, p=2, dim=-1) if self.normalize else vectors

    # ---- inference path --------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False,
               out: np.ndarray | None = None, desc: str = "encoding", progress: Any = None) -> np.ndarray:
        """Embeddings of ``texts`` as float32 ``[len(texts), dim]``, in input order (written into ``out`` if given).

        ``batch_size`` texts of ``max_length`` tokens per forward pass; shorter texts are batched by the same
        token budget (more of them per pass).

        ``progress``: an existing tqdm bar to advance instead of opening one (callers encoding in chunks)."""
        result = np.empty((len(texts), self.dim), dtype=np.float32) if out is None else out
        if len(texts) == 0:
            return result
        ids = self._token_ids(texts)
        # Longest first: a too-large batch fails at once, and each batch holds near-equal lengths.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        was_training = self.model.training
        self.model.eval()
        bar = progress or tqdm(total=len(texts), desc=desc, unit="text", disable=not show_progress, leave=False)
        with torch.inference_mode():
            for rows in _token_budget_batches(order, ids, batch_size * self.max_length):
                batch = {k: v.to(self.device) for k, v in self._pad([ids[i] for i in rows]).items()}
                result[rows] = self.embed(batch).cpu().numpy()
                bar.update(len(rows))
        if progress is None:
            bar.close()
        self.model.train(was_training)
        return result

    def encode_queries(self, queries: Sequence[str], **kwargs: Any) -> np.ndarray:
        return self.encode([self.query_prefix + q for q in queries], **kwargs)

    def encode_passages(self, passages: Sequence[str], **kwargs: Any) -> np.ndarray:
        return self.encode([self.passage_prefix + p for p in passages], **kwargs)

    def _token_ids(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        encoded = self.tokenizer(list(texts), truncation=True, max_length=max_length or self.max_length, padding=False,
                                 return_attention_mask=False, return_token_type_ids=False)
        return encoded["input_ids"]

    def _pad(self, ids: list[list[int]]) -> dict[str, torch.Tensor]:
        # Hand-padding (one row copy per text) beats tokenizer.pad on long corpora and honours padding_side.
        width = max(len(row) for row in ids)
        input_ids = torch.full((len(ids), width), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        left = self.tokenizer.padding_side == "left"
        for r, row in enumerate(ids):
            span = slice(width - len(row), width) if left else slice(0, len(row))
            input_ids[r, span] = torch.tensor(row, dtype=torch.long)
            mask[r, span] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    # ---- provenance and saving -------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"pooling": self.pooling, "normalize": self.normalize, "max_length": self.max_length,
                                "query_prefix": self.query_prefix, "passage_prefix": self.passage_prefix,
                                "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
                                "padding_side": self.tokenizer.padding_side}
        if self.source is not None:
            info["model"] = self.source.describe()
        return info

    def save(self, directory: str | Path) -> Path:
        """Write HF weights + tokenizer + sentence-transformers module configs: ``SentenceTransformer(dir)``
        and ``Embedder.load(dir)`` both load it with the same pooling, normalisation and max length."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        # Saved right-padded: sentence-transformers passes no position ids, so left padding would shift them.
        side, self.tokenizer.padding_side = self.tokenizer.padding_side, "right"
        try:
            self.tokenizer.save_pretrained(directory)
        finally:
            self.tokenizer.padding_side = side
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if self.normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
            (directory / "2_Normalize").mkdir(exist_ok=True)
        write_json(directory / "modules.json", modules)
        write_json(directory / "sentence_bert_config.json", {"max_seq_length": self.max_length, "do_lower_case": False})
        write_json(directory / "1_Pooling" / "config.json", {
            "word_embedding_dimension": self.dim, "pooling_mode_cls_token": self.pooling == "cls",
            "pooling_mode_mean_tokens": self.pooling == "mean", "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": self.pooling == "last", "include_prompt": True})
        prompts = {"query": self.query_prefix, "document": self.passage_prefix}
        with atomic_write(directory / "config_sentence_transformers.json") as fh:
            json.dump({"prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"}, fh, indent=2)
        return directory


def _token_budget_batches(order: list[int], ids: list[list[int]], max_tokens: int) -> list[list[int]]:
    """Split length-sorted (longest first) rows into batches of at most ``max_tokens`` padded tokens.

    Full-length texts get ``batch_size`` per batch; shorter ones get proportionally more, since larger
    matmuls run faster on CPU and GPU alike."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = max(len(ids[current[0]]) if current else 0, len(ids[i]), 1)
        if current and (len(current) + 1) * width > max_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _model_max_length(config: Any, tokenizer: Any) -> int:
    if is_decoder(config):
        return DECODER_MAX_LENGTH
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 100_000]
    # BERT-style absolute positions: 512 total, and RoBERTa reserves 2 for its padding offset.
    return min([*usable, 512])
