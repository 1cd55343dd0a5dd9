"""``retscale finetune``: contrastive fine-tuning from the command line (one flag per ``FinetuneConfig`` field)."""

from __future__ import annotations

import argparse
import os
import types
import typing
from pathlib import Path
from typing import Any

from retscale.finetune.config import FinetuneConfig

HELP = "fine-tune a model into a retriever (InfoNCE with hard negatives)"
DESCRIPTION = (
    "Fine-tune a decoder or encoder into an embedding model: mean pooling, cosine, InfoNCE over each query's "
    "positive and hard negatives. Defaults are the paper's recipe (15 negatives, τ=0.01, max length 128, one epoch, "
    "AdamW with linear warmup/decay). Resumable: re-run the same command after an interruption. Multi-process: "
    "torchrun --nproc_per_node N retscale finetune ... (gloo on CPU, NCCL on GPU)."
)
REQUIRED = ("model", "train", "output")


def _parser_for(annotation: Any) -> tuple[Any, list[str] | None]:
    """argparse ``type`` and ``choices`` for a field annotation (``X | None`` accepts the word 'none')."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        inner, choices = _parser_for(next(a for a in args if a is not type(None)))
        return (lambda text: None if text.lower() == "none" else inner(text)), choices
    if typing.get_origin(annotation) is typing.Literal:
        return str, [str(a) for a in args]
    return annotation, None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    fields = FinetuneConfig.model_fields
    parser.add_argument("--model", required=True, help=fields["model"].description)
    parser.add_argument("--train", required=True, type=Path, help=fields["train"].description)
    parser.add_argument("--output", required=True, type=Path, help=fields["output"].description)
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML file of FinetuneConfig fields; flags given here override it")
    for name, field in fields.items():
        if name in REQUIRED:
            continue
        flag = "--" + name.replace("_", "-")
        text = f"{field.description or name.replace('_', ' ')} (default: {field.default})"
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=text)
            continue
        kind, choices = _parser_for(field.annotation)
        parser.add_argument(flag, dest=name, type=kind, choices=choices, default=argparse.SUPPRESS, help=text)


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    from retscale.configfile import parse_yaml_mapping, read_yaml_text, validate

    values: dict[str, Any] = {}
    text = None
    if args.config is not None:
        text = read_yaml_text(args.config)
        values.update(parse_yaml_mapping(text, args.config, what="a finetune config (FinetuneConfig fields)"))
    flags = {}
    for name in FinetuneConfig.model_fields:
        if name in vars(args):
            values[name] = getattr(args, name)
            flags[name] = "--" + name.replace("_", "-")
    return validate(FinetuneConfig, values, path=args.config or "<command line>", text=text, flags=flags,
                    fix="see 'retscale finetune --help' for allowed values")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    from retscale.finetune.trainer import finetune

    output = finetune(config)
    if os.environ.get("RANK", "0") == "0":  # one line from torchrun, not one per process
        print(output)
    return 0
