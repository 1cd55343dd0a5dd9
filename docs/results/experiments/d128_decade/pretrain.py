"""EXPERIMENTS.md §15, step 1: the reference suite's d128 on one warmup–stable–decay trunk to 210 tokens/param,
with cooldowns at 20, 50, 100 and 210 — the durations of the reference suite's d64, one decade of D. The corpus,
article split, decontamination, tokenizer, batch, peak LR, schedule and compile setting are those of the ``full``
study. Writes runs/d128-decade/suite/d128-r{20,50,100,210}; resumes after a kill.

    RETSCALE_HOME=... python docs/results/experiments/d128_decade/pretrain.py
"""

from __future__ import annotations

import dataclasses

from retscale.pretrain.train import pretrain_suite
from retscale.runtime import reuse_freed_memory
from retscale.study.config import load_config
from retscale.study.stages import suite_spec

OUTPUT = "runs/d128-decade/suite"


def main() -> None:
    reuse_freed_memory()  # as every retscale command does
    spec = suite_spec(load_config("full")[0])  # the reference study's suite, with its article split
    (d64,) = [size for size in spec.sizes if size.name == "d64"]
    (d128,) = [size for size in spec.sizes if size.name == "d128"]
    spec = dataclasses.replace(spec, name="full-d128-decade", sizes=(dataclasses.replace(d128, ratios=d64.ratios),))
    print(spec)
    for record in pretrain_suite(spec, OUTPUT):
        print(f"{record.name}: D={record.tokens:,} heldout_loss={record.heldout_loss:.4f} "
              f"epochs={record.epochs:.2f} wall={record.wall_seconds:.0f}s")


if __name__ == "__main__":
    main()
