"""Fine-tuning throughput: training tokens/s and achieved GFLOP/s vs this machine's fp32 matmul peak.

Runs the real training step (``retscale.finetune`` encode → InfoNCE → backward → AdamW) on a tiny random Llama
and on all-MiniLM-L6-v2, with a paper-shaped group (1 positive + 15 negatives, max length 128). FLOPs of one step
(forward + backward) are *counted* with ``torch.utils.flop_counter.FlopCounterMode``, not estimated; the peak is a
timed large fp32 matmul in the same process. ``--models`` also takes any model reference (an offline alias such
as smollm2-135m-instruct or gemma-3-270m, a .gguf file, a folder); ``--encode N`` adds the evaluation side: N
passages embedded without gradients at the passage length (what the budget of ``presets/real-cpu.yaml`` uses).

    python benchmarks/finetune.py [--queries 2] [--steps 3] [--chunk-size 0] [--threads 1] [--models minilm]
    python benchmarks/finetune.py --models smollm2-135m-instruct,gemma-3-270m --negatives 3 --threads 1 --encode 64
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from retscale.data.source_fetch import source_path
from retscale.finetune.config import FinetuneConfig
from retscale.finetune.gradcache import contrastive_backward
from retscale.finetune.trainer import build_encoder
from retscale.flops import measure_matmul_flops
from retscale.models.loading import load_tokenizer, resolve_model
from retscale.runtime import DistContext, decay_groups


def wiki_texts(count: int) -> list[str]:
    texts = []
    with gzip.open(source_path("enwiki-sample"), "rt", encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"].replace("\n", " ")
            if len(text) > 600:
                texts.append(text[:2000])
            if len(texts) == count:
                break
    return texts


def tiny_llama(folder: Path) -> Path:
    """A random 4-layer, d=256 Llama using the MiniLM word-piece vocabulary (speed does not need trained weights)."""
    from transformers import LlamaConfig, LlamaModel

    minilm = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    tokenizer = load_tokenizer(minilm)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def bench(name: str, model_path: str, texts: list[str], queries: int, steps: int, chunk_size: int | None,
          peak: float, negatives: int = 15, encode: int = 0, passage_length: int = 128,
          query_length: int = 128) -> None:
    """The trainer's own step: ``build_encoder`` (its loss, pooling and lengths), ``contrastive_backward``, AdamW."""
    config = FinetuneConfig(model=model_path, train=Path("unused"), output=Path("unused"), chunk_size=chunk_size,
                            n_negatives=negatives, passage_max_length=passage_length, query_max_length=query_length)
    resolved = resolve_model(model_path)
    started = time.perf_counter()
    encoder = build_encoder(config, resolved, DistContext())
    print(f"{name}: loaded in {time.perf_counter() - started:.1f}s", flush=True)
    model = encoder.embedder.model
    optimizer = torch.optim.AdamW(decay_groups(model, config.weight_decay), lr=config.learning_rate)
    group = 1 + config.n_negatives
    q_texts = [t[:120] for t in texts[:queries]]  # short, query-like
    p_texts = texts[:queries * group]

    def step() -> None:
        contrastive_backward(encoder, q_texts, p_texts, chunk_size)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - started) / steps
    step_tokens = encoder.count_tokens(q_texts, p_texts)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name:12s} params={n_params / 1e6:6.1f}M texts/step={len(q_texts) + len(p_texts):4d} "
          f"tokens/step={step_tokens:6.0f} step={seconds:6.2f}s tokens/s={step_tokens / seconds:8.0f} "
          f"queries/s={queries / seconds:6.3f} GFLOP/step={flops / 1e9:7.2f} "
          f"achieved={flops / seconds / 1e9:6.1f} GFLOP/s = {flops / seconds / 1e9 / peak:5.1%} of peak", flush=True)
    if encode:
        del optimizer
        model.eval()
        passages = (texts * (encode // len(texts) + 1))[:encode]
        started = time.perf_counter()
        encoder.encode_passages(passages, batch_size=16)
        seconds = time.perf_counter() - started
        print(f"{name:12s} encode: {len(passages)} passages at <= {passage_length} tokens in {seconds:.1f}s "
              f"= {len(passages) / seconds:.2f} passages/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2, help="queries per step (each with 16 passages)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=0, help="GradCache chunk size (0 = unchunked)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--models", default="tiny-llama,minilm",
                        help="comma-separated: tiny-llama, minilm, or any model reference (alias, .gguf, folder)")
    parser.add_argument("--negatives", type=int, default=15, help="hard negatives per query")
    parser.add_argument("--encode", type=int, default=0, help="also time embedding this many passages (eval)")
    parser.add_argument("--passage-length", type=int, default=128, help="passage max tokens")
    parser.add_argument("--query-length", type=int, default=128, help="query max tokens")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the trainer does: denormal gradients would dominate the timing
    peak = measure_matmul_flops(seconds=2.0) / 1e9
    print(f"fp32 matmul peak (1024^3, {torch.get_num_threads()} threads): {peak:.1f} GFLOP/s")
    texts = wiki_texts(args.queries * (1 + args.negatives))
    common = {"texts": texts, "queries": args.queries, "steps": args.steps, "chunk_size": args.chunk_size or None,
              "peak": peak, "negatives": args.negatives, "encode": args.encode,
              "passage_length": args.passage_length, "query_length": args.query_length}
    for name in args.models.split(","):
        if name == "tiny-llama":
            with tempfile.TemporaryDirectory() as tmp:
                bench("tiny-llama", str(tiny_llama(Path(tmp) / "llama")), **common)
        elif name == "minilm":
            bench("MiniLM-L6", "sentence-transformers/all-MiniLM-L6-v2", **common)
        else:
            bench(name, name, **common)


if __name__ == "__main__":
    main()
