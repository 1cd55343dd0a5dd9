"""EXPERIMENTS.md §14: the re-run's pretrained checkpoints against the committed run's — held-out loss, the largest
per-tensor relative weight difference, and the wall time along each checkpoint's trajectory.

    python docs/results/experiments/reference_rerun/pretrain_compare.py COMMITTED_RUN RERUN   (e.g. runs/full)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from safetensors.torch import load_file

CHECKPOINTS = ["d64-r20", "d64-r50", "d64-r100", "d64-r210", "d128-r20", "d192-r20"]


def main() -> None:
    old, new = (next(Path(run).glob("stages/pretrain-suite-full-*")) for run in sys.argv[1:3])
    print(old.name, new.name)
    for ck in CHECKPOINTS:
        a, b = (json.loads((root / ck / "retscale_checkpoint.json").read_text()) for root in (old, new))
        wa, wb = (load_file(str(root / ck / "model.safetensors")) for root in (old, new))
        relative = max(float((wa[k] - wb[k]).norm() / wa[k].norm()) for k in wa)
        print(f"{ck:<9} heldout {a['heldout_loss']:.6f} → {b['heldout_loss']:.6f} "
              f"(Δ {b['heldout_loss'] - a['heldout_loss']:+.1e})  weights rel ≤ {relative:.1e}  "
              f"wall {a['wall_seconds']:.0f}s → {b['wall_seconds']:.0f}s")


if __name__ == "__main__":
    main()
