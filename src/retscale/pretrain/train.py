"""The pretraining loop (nanoGPT-like): one warmup–stable trunk per size, one decay branch per checkpoint.

For each size, checkpoints are trained by increasing ratio. The trunk (warmup + constant LR) runs to the first
checkpoint's decay start, is snapshotted, the branch decays to LR 0 at that checkpoint's budget and is saved as an
HF model; then the trunk continues to the next decay start, and so on. Everything is resumable after a kill at any
point: the trunk (``.work/<size>/trunk.pt``), each snapshot and each branch keep an atomically written training
state (model, optimizer, RNG, step = data position, wall time, recent losses); a checkpoint is done once its folder
with ``retscale_checkpoint.json`` exists (written in a temporary folder, then renamed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from retscale.errors import UserError
from retscale.fileio import atomic_write, stable_hash, write_json
from retscale.flops import measure_matmul_flops, mfu, training_flops_per_token
from retscale.pretrain.checkpoint import (
    INFO_FILE,
    PretrainingRecord,
    publish_checkpoint,
    read_pretraining_record,
)
from retscale.pretrain.corpus import Corpus, build_corpus
from retscale.pretrain.loss import next_token_loss
from retscale.pretrain.model import build_model
from retscale.pretrain.suite import PlannedCheckpoint, SuiteSpec
from retscale.pretrain.throughput import compiler_failures_reported, torch_threads
from retscale.pretrain.tokenizer import load_bpe_tokenizer
from retscale.runtime import decay_groups, load_training_state, save_training_state

StepHook = Callable[[str, int], None]  # (segment name, steps done) — e.g. to stop a run in tests
RECENT = 10  # train_loss = mean of the last RECENT step losses


class Run:
    """Model + optimizer + progress counters of one trajectory (the trunk or a branch)."""

    def __init__(self, spec: SuiteSpec, ck: PlannedCheckpoint, eos_id: int, pad_id: int) -> None:
        self.model = build_model(ck.shape, eos_id, pad_id, seed=spec.seed)
        self.model.train()
        self.optimizer = torch.optim.AdamW(decay_groups(self.model, spec.weight_decay), lr=spec.peak_lr,
                                           betas=(0.9, 0.95), eps=1e-8)
        self.step = 0
        self.wall_seconds = 0.0
        self.losses: list[float] = []

    def save(self, path: Path) -> None:
        save_training_state(path, {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                                   "step": self.step, "wall_seconds": self.wall_seconds, "losses": self.losses})

    def load(self, path: Path) -> None:
        state = load_training_state(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.wall_seconds, self.losses = state["step"], state["wall_seconds"], state["losses"]


def train_segment(run: Run, ck: PlannedCheckpoint, spec: SuiteSpec, corpus: Corpus, end_step: int,
                  state_path: Path, label: str, peak_flops: float, show_progress: bool,
                  on_step: StepHook | None = None) -> None:
    """Advance ``run`` along ``ck``'s schedule to ``end_step``, saving its state every ``spec.save_every`` steps
    and at the end. Batches depend only on the step, so a resumed segment replays exactly."""
    schedule = ck.schedule(spec.peak_lr)
    flops_per_token = training_flops_per_token(ck.shape)
    bar = tqdm(total=end_step, initial=run.step, desc=label, unit="step", disable=not show_progress, leave=False)
    # torch.compile (suite option) fuses the decoder's element-wise ops (RMSNorm, SwiGLU, RoPE); it shares
    # run.model's parameters, so saving and resuming go through run.model as usual
    decoder = torch.compile(run.model.get_decoder()) if spec.compile and run.step < end_step else None
    while run.step < end_step:
        t0 = time.perf_counter()
        lr = schedule.lr(run.step)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        batch = torch.from_numpy(corpus.batch(run.step, spec.batch_size, spec.seq_len, spec.seed))
        # the compiled backward graph is built lazily, inside backward(): both are guarded
        with compiler_failures_reported(spec.name, compiled=decoder is not None):
            loss = next_token_loss(run.model, batch, decoder=decoder)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
        run.optimizer.step()
        run.step += 1
        run.losses = [*run.losses[-(RECENT - 1):], float(loss.item())]
        dt = time.perf_counter() - t0
        run.wall_seconds += dt
        if run.step % spec.save_every == 0 or run.step == end_step:
            run.save(state_path)
        tok_s = spec.tokens_per_step / dt
        bar.set_postfix(loss=f"{run.losses[-1]:.3f}", lr=f"{lr:.1e}", tok_s=f"{tok_s:,.0f}",
                        mfu=f"{flops_per_token * tok_s / peak_flops:.0%}")
        bar.update(1)
        if on_step is not None:
            on_step(label, run.step)
    bar.close()
    if run.step == end_step and not state_path.exists():
        run.save(state_path)  # a zero-length segment still leaves its state behind


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, corpus: Corpus, spec: SuiteSpec) -> float:
    model.eval()
    total, count = 0.0, 0
    for rows in corpus.heldout_batches(spec.eval_sequences, spec.batch_size, spec.seq_len):
        batch = torch.from_numpy(rows)
        n_tokens = batch[:, 1:].numel()
        total += next_token_loss(model, batch).item() * n_tokens
        count += n_tokens
    model.train()
    return total / count


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _finish(run: Run, ck: PlannedCheckpoint, spec: SuiteSpec, corpus: Corpus, out: Path) -> PretrainingRecord:
    """Score the held-out split and publish the HF folder + metadata atomically (temp folder, then rename)."""
    tokenizer = load_bpe_tokenizer(corpus.tokenizer_dir)
    info = PretrainingRecord(
        name=ck.name, size=ck.size.name, n_params=ck.n_params, n_params_non_embedding=ck.n_params_non_embedding,
        tokens=ck.tokens, tokens_per_param=ck.tokens / ck.n_params, epochs=corpus.epochs(ck.tokens, spec.seq_len),
        flops_6nd=ck.flops_6nd, flops_full=ck.flops_full, train_loss=sum(run.losses) / len(run.losses),
        heldout_loss=heldout_loss(run.model, corpus, spec), wall_seconds=run.wall_seconds, seed=spec.seed,
        lr_schedule=ck.schedule(spec.peak_lr).describe())
    publish_checkpoint(run.model, tokenizer, info, out)
    return info


def _fingerprint(spec: SuiteSpec, cks: list[PlannedCheckpoint]) -> str:
    """What the training trajectory of a size depends on (not the speed settings threads and compile, save_every or
    eval settings). ``compile`` is hashed as off, so the fingerprint of a run begun before it became a speed
    setting is unchanged and its training state resumes."""
    keep = {k: v for k, v in dataclasses.asdict(spec.without_speed_settings()).items()
            if k not in ("name", "save_every", "threads", "eval_sequences", "sizes", "ratios")}
    return stable_hash({"spec": keep, "checkpoints": [dataclasses.asdict(ck) for ck in cks]})


def _read_text(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def _is_done(out: Path, ck: PlannedCheckpoint) -> bool:
    """A published checkpoint; one published by a different spec is an error, not something to overwrite."""
    if not (out / ck.name / INFO_FILE).exists():
        return False
    info = read_pretraining_record(out / ck.name)
    if (info.n_params, info.tokens) != (ck.n_params, ck.tokens):
        raise UserError(f"{out / ck.name} holds a checkpoint with N={info.n_params:,}, D={info.tokens:,}, but this "
                        f"suite's {ck.name} has N={ck.n_params:,}, D={ck.tokens:,}",
                        fix="use another --output folder for a changed suite")
    return True


def train_size(spec: SuiteSpec, cks: list[PlannedCheckpoint], corpus: Corpus, out: Path, peak_flops: float,
               show_progress: bool = True, on_step: StepHook | None = None) -> None:
    """Train every not-yet-finished checkpoint of one size (``cks`` sorted by ratio)."""
    work = out / ".work" / cks[0].size.name
    fingerprint = _fingerprint(spec, cks)
    if work.exists() and _read_text(work / "spec.key") != fingerprint:
        shutil.rmtree(work)  # training state from a different spec: never resume from it
    work.mkdir(parents=True, exist_ok=True)
    with atomic_write(work / "spec.key") as fh:
        fh.write(fingerprint)
    trunk_path = work / "trunk.pt"
    eos, pad = int(corpus.meta["eos_token_id"]), int(corpus.meta["pad_token_id"])
    for ck in cks:
        if _is_done(out, ck):
            continue
        branch_path = work / f"branch-{ck.name}.pt"
        snapshot = work / f"trunk-step{ck.decay_start}.pt"
        run = Run(spec, ck, eos, pad)
        if branch_path.exists():
            run.load(branch_path)
        else:
            if not snapshot.exists():
                if trunk_path.exists():
                    run.load(trunk_path)
                if run.step > ck.decay_start:
                    raise RuntimeError(f"trunk of {ck.size.name} is past {ck.name}'s decay start and its snapshot "
                                       f"is missing; delete {work} to retrain this size")
                train_segment(run, ck, spec, corpus, ck.decay_start, trunk_path, f"{ck.size.name} trunk",
                              peak_flops, show_progress, on_step)
                _copy_atomic(trunk_path, snapshot)
            run.load(snapshot)
        train_segment(run, ck, spec, corpus, ck.steps, branch_path, f"{ck.name} decay", peak_flops,
                      show_progress, on_step)
        info = _finish(run, ck, spec, corpus, out)
        if show_progress:
            tqdm.write(f"{ck.name}: N={ck.n_params:,} D={ck.tokens:,} heldout_loss={info.heldout_loss:.4f} "
                       f"train_loss={info.train_loss:.4f} ({info.wall_seconds:.0f}s, "
                       f"MFU {mfu(ck.shape, ck.tokens / max(info.wall_seconds, 1e-9), peak_flops):.0%})")
    shutil.rmtree(work)  # every checkpoint of this size is done: the trunk and snapshots are no longer needed
    with contextlib.suppress(OSError):
        work.parent.rmdir()  # only succeeds once no other size has work in progress


def pretrain_suite(spec: SuiteSpec, output_dir: str | Path, show_progress: bool = True,
                   on_step: StepHook | None = None) -> list[PretrainingRecord]:
    """Train (or finish) every checkpoint of ``spec`` into ``output_dir``; finished checkpoints are skipped."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = spec.checkpoints()
    pending = [ck for ck in checkpoints if not _is_done(out, ck)]
    if pending:
        corpus = build_corpus(spec.corpus, show_progress=show_progress)
        needed = spec.batch_size * spec.seq_len
        if len(corpus.train) < needed:
            raise UserError(f"corpus has {len(corpus.train)} tokens, less than one batch ({needed})",
                            fix="raise the suite's corpus max_chars")
        with torch_threads(spec.threads):
            peak = measure_matmul_flops()
            for size in spec.sizes:
                cks = [ck for ck in checkpoints if ck.size == size]
                if any(ck in pending for ck in cks):
                    train_size(spec, cks, corpus, out, peak, show_progress, on_step)
    infos = [read_pretraining_record(out / ck.name) for ck in checkpoints]
    write_json(out / "suite.json", {"suite": spec.name, "checkpoints": [i.to_dict() for i in infos],
                                    "peak_lr": spec.peak_lr, "tokens_per_step": spec.tokens_per_step,
                                    "flops_axis": "flops_6nd (N = total parameters, tied embeddings)"})
    return infos


