"""Parameter counts of a located model from its config alone: the architecture is built on the ``meta`` device
(shapes, no memory, no weights read), so counting a 7B model takes a second.

Conventions follow ``retscale.flops``: ``total`` counts every parameter once (a tied LM head is the input
embedding, counted once); ``embedding`` is the token, position and token-type lookup tables; ``non_embedding`` is
the rest, an untied LM head included.
"""

from __future__ import annotations

from retscale.errors import UserError
from retscale.flops import ParamCounts
from retscale.models.loading import ResolvedModel, is_decoder


def count_parameters(model: ResolvedModel) -> ParamCounts:
    """Total, embedding and non-embedding parameters of ``model``; a ``UserError`` when its config cannot be read
    or built (a GGUF file transformers cannot read the config of, an unknown architecture)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(model.path), **model.load_kwargs)
        auto_class = AutoModelForCausalLM if is_decoder(config) else AutoModel
        with torch.device("meta"):
            module = auto_class.from_config(config)
    except Exception as exc:  # any failure means "cannot count"; the caller decides what follows
        raise UserError(f"cannot count the parameters of model {model.name!r} from its config: "
                        f"{type(exc).__name__}: {exc}".splitlines()[0], path=model.path) from None
    total = sum(p.numel() for p in module.parameters())  # parameters() yields a tied weight once
    lookups = {id(p): p.numel() for m in module.modules() if isinstance(m, torch.nn.Embedding)
               for p in m.parameters()}
    embedding = sum(lookups.values())
    return ParamCounts(total=int(total), non_embedding=int(total - embedding), embedding=int(embedding))
