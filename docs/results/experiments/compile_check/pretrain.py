"""EXPERIMENTS.md §13, step 1: the reference suite's d64-r20 trained again with ``torch.compile`` on (the suite
option ``compile``), everything else as the ``full`` study (corpus, article split, tokenizer, batch, schedule; the
warmup is 10% of the shortest checkpoint, r20 in both, so the trajectory is the reference's d64 trunk to r20).
Writes runs/compile-check/suite/d64-r20; resumes after a kill.

    RETSCALE_HOME=... python docs/results/experiments/compile_check/pretrain.py
"""

from __future__ import annotations

import dataclasses

from retscale.pretrain.train import pretrain_suite
from retscale.runtime import reuse_freed_memory
from retscale.study.config import load_config
from retscale.study.stages import suite_spec

OUTPUT = "runs/compile-check/suite"


def main() -> None:
    reuse_freed_memory()  # as every retscale command does
    spec = suite_spec(load_config("full")[0])  # the reference study's suite, with its article split
    (d64,) = [size for size in spec.sizes if size.name == "d64"]
    spec = dataclasses.replace(spec, name="full-d64-compiled", compile=True,
                               sizes=(dataclasses.replace(d64, ratios=(20.0,)),))
    for record in pretrain_suite(spec, OUTPUT):
        print(f"{record.name}: D={record.tokens:,} heldout_loss={record.heldout_loss:.6f} "
              f"train_loss={record.train_loss:.6f} wall={record.wall_seconds:.0f}s")


if __name__ == "__main__":
    main()
