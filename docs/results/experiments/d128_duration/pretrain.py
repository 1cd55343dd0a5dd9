"""EXPERIMENTS.md §12, step 1: the reference suite's d128 on one warmup–stable–decay trunk to 50 tokens/param,
with cooldowns at 20 and 50. The corpus, article split, decontamination, tokenizer, batch, peak LR and schedule are
those of the ``full`` study. Writes runs/d128-duration/suite/d128-r20 and d128-r50; resumes after a kill.

    RETSCALE_HOME=... python docs/results/experiments/d128_duration/pretrain.py
"""

from __future__ import annotations

import dataclasses

from retscale.pretrain.train import pretrain_suite
from retscale.runtime import reuse_freed_memory
from retscale.study.config import load_config
from retscale.study.stages import suite_spec

OUTPUT = "runs/d128-duration/suite"


def main() -> None:
    reuse_freed_memory()  # as every retscale command does
    spec = suite_spec(load_config("full")[0])  # the reference study's suite, with its article split
    (d128,) = [size for size in spec.sizes if size.name == "d128"]
    spec = dataclasses.replace(spec, name="full-d128-duration",
                               sizes=(dataclasses.replace(d128, ratios=(20.0, 50.0)),))
    for record in pretrain_suite(spec, OUTPUT):
        print(f"{record.name}: D={record.tokens:,} heldout_loss={record.heldout_loss:.4f} "
              f"epochs={record.epochs:.2f} wall={record.wall_seconds:.0f}s")


if __name__ == "__main__":
    main()
