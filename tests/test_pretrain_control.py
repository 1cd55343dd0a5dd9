"""Random-init controls: the trunk's exact starting weights, saved as loadable zero-FLOPs checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from retscale.pretrain.checkpoint import read_pretraining_record
from retscale.pretrain.control import control_name, save_random_init_controls
from retscale.pretrain.corpus import build_corpus
from retscale.pretrain.model import build_model
from retscale.pretrain.suite import get_suite


def test_controls_are_the_untrained_start_of_each_size(tmp_path: Path, one_torch_thread: None) -> None:
    from transformers import AutoModelForCausalLM

    spec = get_suite("smoke")
    infos = save_random_init_controls(spec, tmp_path)
    assert [i.name for i in infos] == [control_name(s.name) for s in spec.sizes]
    corpus = build_corpus(spec.corpus, show_progress=False)
    for info, ck in zip(infos, [next(c for c in spec.checkpoints() if c.size == s) for s in spec.sizes], strict=True):
        assert (info.tokens, info.flops_6nd, info.n_params) == (0, 0.0, ck.n_params)
        assert read_pretraining_record(tmp_path / info.name) == info
        # untrained: held-out loss near ln(vocab), far above any trained checkpoint's
        assert info.heldout_loss is not None and abs(info.heldout_loss - math.log(spec.vocab_size)) < 1.0
        saved = AutoModelForCausalLM.from_pretrained(tmp_path / info.name)
        fresh = build_model(ck.shape, int(corpus.meta["eos_token_id"]), int(corpus.meta["pad_token_id"]),
                            seed=spec.seed)
        for (name, a), b in zip(saved.state_dict().items(), fresh.state_dict().values(), strict=True):
            assert torch.equal(a, b), name


def test_existing_controls_are_kept(tmp_path: Path, one_torch_thread: None) -> None:
    spec = get_suite("smoke")
    save_random_init_controls(spec, tmp_path)
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")}
    save_random_init_controls(spec, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")} == stamp
