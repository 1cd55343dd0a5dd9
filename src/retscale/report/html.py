"""A self-contained HTML report of a study, rebuilt from the results store alone.

Figures are embedded as base64 PNG (and also written as PNG + PDF beside the report), tables are inline and
also written as CSV; the config, the provenance and what was missing are listed, and every number says how
many checkpoints/queries it rests on.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retscale.analysis.comparison import ZERO_SHOT_SUFFIX, Comparison, compare, comparison_table
from retscale.analysis.evidence import Evidence, gather_evidence, headline, ood_tasks
from retscale.analysis.figures import figure_comparison, figure_icl, figure_per_task, figure_scaling
from retscale.analysis.inference import AVERAGE, extrapolation_warning
from retscale.analysis.summary import Analysis, analyze, write_tables
from retscale.analysis.table import StudyTable, load_table
from retscale.fileio import atomic_write, write_json
from retscale.flops import format_count
from retscale.study.names import (
    FIGURES_DIR,
    HYGIENE_METRICS,
    REPORT_FILE,
    TABLES_DIR,
    CheckpointKind,
    Metric,
    StageName,
)
from retscale.study.store import ResultsStore, open_store

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}td,th{border:1px solid #ccc;padding:.25em .55em;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em}.note{color:#8a4b00}.verdict{font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{_e(c)}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(png: Path, caption: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{_e(png.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)} (also <code>{_e(png.name)}</code> and "
            f"<code>{_e(png.with_suffix('.pdf').name)}</code>)</figcaption></figure>")


def _scores_section(table: StudyTable) -> str:
    rows = [[p.name, p.kind, p.size, format_count(p.n_params), format_count(p.tokens),
             "—" if p.flops is None else f"{p.flops:.3g}", _num(p.avg_ndcg(table.tasks)),
             *[_num(p.ndcg.get(t)) for t in table.tasks], _num(p.icl_average)] for p in table.points]
    nq = ", ".join(f"{t}: {next((p.n_queries[t] for p in table.points if t in p.n_queries), 0)}"
                   for t in table.tasks)
    return (f"<h2>Scores</h2><p>nDCG@10 per checkpoint (queries per task — {_e(nq)}).</p>"
            + _table(["checkpoint", "kind", "size", "N", "D", "FLOPs", "avg nDCG@10",
                      *table.tasks, "ICL avg"], rows, left=3))


def _correlations_section(result: Analysis, table: StudyTable) -> str:
    def rows(x: str, y: str | None = None) -> list[list[Any]]:
        return [[c.group, c.y, c.corr.method, c.corr.text(), _num(c.corr.p_value, 3)]
                for c in result.correlations if c.x == x and (y is None or c.y == y)]

    flops = rows("log10 FLOPs", "avg nDCG@10")
    per_task = [r for r in rows("log10 FLOPs") if r[1] != "avg nDCG@10"]
    icl = rows("ICL core average")
    out = ("<h2>Correlations</h2><p>Bootstrap 95% intervals over checkpoints; n = checkpoints each rests on; "
           "p two-sided, exact (all orderings) for n ≤ 7. With n ≤ 4 a bootstrap interval is degenerate (a "
           "resample of 3 points is perfectly ordered or undefined): read those rows by their p-value.</p>"
           "<h3>Spearman / Pearson (FLOPs, avg nDCG@10), within each size and pooled</h3>"
           + _table(["group", "score", "method", "r [95% CI] (n)", "p"], flops, left=3))
    if per_task:
        out += ("<h3>Spearman (FLOPs, nDCG@10) task by task</h3>"
                + _table(["group", "score", "method", "r [95% CI] (n)", "p"], per_task, left=3))
    items = ", ".join(f"{t}: {n}" for t, n in sorted(table.icl_items().items()))
    out += "<h3>ICL core average vs nDCG@10</h3>"
    if items:
        out += f"<p>ICL items scored per checkpoint — {_e(items)}.</p>"
    out += (_table(["group", "score", "method", "r [95% CI] (n)", "p"], icl, left=3) if icl
            else '<p class="note">No ICL correlation: it needs ICL scores of fitted checkpoints.</p>')
    return out


def _gains_section(result: Analysis, table: StudyTable) -> str:
    if not result.gains:
        return ""
    rows = [[g["checkpoint"], g["control"], f"{g['flops']:.3g}", _num(g["gain_avg"]),
             *[_num(g.get(f"gain_{t}")) for t in table.tasks]] for g in result.gains]
    controls = [p for p in table.points if p.kind == CheckpointKind.CONTROL]
    ctl = "; ".join(f"{p.name}: {_num(p.avg_ndcg(table.tasks))}" for p in controls)
    positive = sum(1 for g in result.gains if g["gain_avg"] is not None and g["gain_avg"] > 0)
    return ("<h2>Pretraining vs random init</h2><p>Each size is also fine-tuned and evaluated from its untrained "
            "initial weights (0 pretraining FLOPs, same recipe). The gain is the pretrained checkpoint's nDCG@10 "
            f"minus its size's control (avg nDCG@10 of the controls — {_e(ctl)}). "
            f"{positive} of {len(result.gains)} checkpoints beat their control on average.</p>"
            + _table(["checkpoint", "control", "FLOPs", "gain avg", *[f"gain {t}" for t in table.tasks]], rows,
                     left=2))


def _fits_section(result: Analysis, table: StudyTable) -> str:
    rows = []
    for f in result.fits:
        params = "; ".join(f"{k}={v:.4g} [{f.ci[k][0]:.3g}, {f.ci[k][1]:.3g}]" for k, v in f.params.items())
        note = " — at a bound: no saturation visible in these data" if f.at_bound else ""
        rows.append([f.group, f.model + note, f.n, params, _num(f.r2), _num(f.rmse, 4), _num(f.aic, 1),
                     f.n_boot_ok])
    out = ("<h2>Scaling fits: avg nDCG@10 vs FLOPs</h2><p>log-linear: y = a + b·log10(C/C0); saturating power "
           "law: y = L − A·(C/C0)^−alpha; C0 = geometric mean of the fitted FLOPs. Intervals: bootstrap over "
           "checkpoints.</p>")
    out += _table(["group", "model", "n", "parameters [95% CI]", "R²", "RMSE", "AIC", "bootstrap fits"], rows,
                  left=2) if rows else '<p class="note">Too few checkpoints to fit a curve.</p>'
    flops = [p.flops for p in table.suite() if p.flops]
    preds = [[f.group, f.model, f"{p['flops']:.3g}", _num(p["score"]), f"[{_num(p['low'])}, {_num(p['high'])}]",
              f.n, extrapolation_warning(flops, p["flops"]) or ""] for f in result.fits for p in f.predictions]
    if preds:
        out += "<h3>Predictions for unseen budgets (95% prediction interval)</h3>"
        out += _table(["group", "model", "FLOPs", "predicted avg nDCG@10", "interval", "n", "warning"], preds, left=2)
    return out


def _checkpoints_section(store: ResultsStore) -> str:
    """What each pretrained checkpoint saw (N, D, tokens per parameter, epochs of the training text, held-out LM
    loss), and the caveat that checkpoints of one size share one warmup–stable–decay trunk."""
    entries = [c for c in store.checkpoints() if c.kind == CheckpointKind.SUITE and c.info.get("lr_schedule")]
    if not entries:
        return ""
    rows = []
    for c in entries:
        info, sched = c.info, c.info["lr_schedule"]
        rows.append([c.name, format_count(c.n_params or 0), format_count(c.tokens or 0),
                     _num((c.tokens or 0) / (c.n_params or 1), 1), f"{c.flops or 0:.2e}", _num(info.get("epochs"), 2),
                     _num(info.get("heldout_loss"), 3), f"{sched.get('decay_start', 0):,} / {sched.get('total_steps', 0):,}",
                     "-" if info.get("wall_seconds") is None else f"{info['wall_seconds'] / 60:.1f}"])
    return ("<h2>Checkpoints</h2><p>Checkpoints of one size share one pretraining run: a warmup–stable–decay "
            "schedule whose constant-LR trunk is shared, each checkpoint branching off for its own cooldown "
            "(Hägele et al. 2024). Their differences are therefore not independent runs, and there is one "
            "pretraining seed per size: intervals capture query and fine-tuning-seed variation, not pretraining-seed "
            "variation. Epochs: passes over the training text (more than 1 means the text repeats).</p>"
            + _table(["checkpoint", "N", "D", "D/N", "6ND", "epochs", "held-out LM loss", "decay from step / steps",
                      "training minutes (trunk to its cooldown + cooldown)"], rows))


def _hygiene_section(store: ResultsStore) -> str:
    """What keeps evaluation zero-shot, with its counts: the split, decontamination and the overlap check."""
    rows = [[r.checkpoint, r.stage, r.task, r.metric, f"{r.value:g}"] for r in store.rows()
            if r.stage in (StageName.PRETRAIN, StageName.PAIRS, StageName.MINING)
            and (r.metric.startswith("overlap_") or r.metric in HYGIENE_METRICS)]
    if not rows:
        return ""
    return ("<h2>Data hygiene</h2><p>Every Wikipedia article belongs to one split (train / dev / test); training "
            "text comes from train articles only, and a training document sharing a 13-word n-gram with an evaluation "
            "text (a test article, or a BEIR task's corpus or queries) is dropped. The overlap check counts training "
            "texts (mined queries and passages) equal to (<code>overlap_exact</code>) or sharing a 13-gram with "
            "(<code>overlap_ngram13</code>) each evaluation corpus.</p>"
            + _table(["checkpoint", "stage", "task", "metric", "value"], rows, left=4))


def _isoflop_section(result: Analysis) -> str:
    iso = result.isoflop
    out = (f"<h2>IsoFLOP comparison</h2><p class='verdict'>{_e(iso.verdict)}</p>"
           f"<p>{iso.n_pairs} pairs of different-size checkpoints within {iso.tolerance} decades of FLOPs "
           f"({iso.n_checkpoints} checkpoints). Size effect at matched FLOPs (bigger − smaller, adjusted for the "
           f"FLOPs gap): {_num(iso.size_effect)} [{_num(iso.low)}, {_num(iso.high)}]; FLOPs alone explain a "
           f"spread of {_num(iso.flops_spread)} (slope {_num(iso.flops_slope)} per decade).</p>")
    if iso.pairs:
        out += _table(["bigger", "smaller", "Δlog10 FLOPs", "difference", "adjusted"],
                      [[p["bigger"], p["smaller"], _num(p["dlog10_flops"], 2), _num(p["difference"]),
                        _num(p["adjusted"])] for p in iso.pairs], left=2)
    return out


def _missing_section(store: ResultsStore, table: StudyTable, result: Analysis) -> str:
    items = store.status().notes() + [f"{f['key']}: {f['error']}" for f in store.failures()]
    items += [f"{p.name}: no {t} score" for p in table.points for t in table.tasks if t not in p.ndcg]
    items += [f"{p.name}: no ICL score" for p in table.suite() if p.icl_average is None]
    items += result.notes
    body = "".join(f"<li>{_e(i)}</li>" for i in items) or "<li>nothing: every planned number is present</li>"
    return f"<h2>What was missing</h2><ul class='note'>{body}</ul>"


def _provenance_section(store: ResultsStore) -> str:
    prov: dict[str, Any] = {}
    for c in store.checkpoints():
        prov[c.name] = {"checkpoint": c.info, **{s: store.provenance(c.name, s)
                                                 for s in (StageName.FINETUNE, StageName.EVALUATE, StageName.ICL)}}
    config = store.config()
    return ("<h2>Config</h2><pre>" + _e(json.dumps(config, indent=2, sort_keys=True)) + "</pre>"
            "<h2>Provenance</h2><pre>" + _e(json.dumps(prov, indent=2, sort_keys=True, default=str)) + "</pre>")


def _evidence_section(evidence: Evidence | None, store: ResultsStore) -> str:
    """The findings as the issue-11 standards want them: each with its number, CI and n — nothing stronger."""
    if evidence is None:
        return ("<h2>Findings with intervals</h2><p class='note'>No scaling findings: they need per-query results "
                "of at least two pretrained suite checkpoints, and this study has fewer (or is an older store). A "
                "study of reference models gets its intervals from <code>retscale report --compare-to</code>.</p>")
    items = "".join(f"<li>{_e(line)}</li>" for line in headline(evidence))
    gains = [[g.checkpoint, g.control, _num(g.gain, 4), f"[{_num(g.low, 4)}, {_num(g.high, 4)}]",
              "yes" if g.excludes_zero else "no", g.n_seeds_checkpoint, g.n_seeds_control]
             for g in evidence.gains if g.task == AVERAGE]
    intervals = [[i.checkpoint, _num(i.score, 4), f"[{_num(i.low, 4)}, {_num(i.high, 4)}]", i.n_seeds,
                  ", ".join(f"{t} {n}" for t, n in i.n_queries.items())]
                 for i in evidence.intervals if i.task == AVERAGE]
    ce = [[i.checkpoint, _num(i.score, 3), f"[{_num(i.low, 3)}, {_num(i.high, 3)}]"] for i in evidence.contrastive]
    spread = [[s.checkpoint, s.task, ", ".join(_num(v, 4) for v in s.per_seed), _num(s.std, 4)]
              for s in evidence.seed_spread if s.task == AVERAGE]
    lengths = sorted({json.dumps(store.provenance(c.name, StageName.EVALUATE).get("retriever", {}).get("max_length"))
                      for c in store.checkpoints() if c.kind != CheckpointKind.BASELINE})
    parts = [f"<h2>Findings with intervals</h2><p>Out-of-domain tasks averaged: {_e(', '.join(evidence.tasks))} "
             f"(each task weighted equally). Dense models embed queries and documents at "
             f"{_e(', '.join(lengths))} tokens.</p><ul>{items}</ul>",
             "<h3>Average out-of-domain nDCG@10 per checkpoint</h3>",
             _table(["checkpoint", "score", "95% CI", "seeds", "queries"], intervals),
             "<h3>Pretrained minus random-init control (paired query bootstrap)</h3>",
             _table(["checkpoint", "control", "gain", "95% CI", "CI excludes 0", "seeds", "control seeds"], gains)]
    if ce:
        parts += ["<h3>Contrastive entropy (nats, lower is better; positive vs 255 shared random negatives, "
                  "τ 0.05)</h3>", _table(["checkpoint", "mean over OOD tasks", "95% CI"], ce)]
    by_task = [[d.task, metric, _num(d.log10_d.estimate, 4), f"[{_num(d.log10_d.low, 4)}, {_num(d.log10_d.high, 4)}]",
                _num(d.log10_n.estimate, 4), f"[{_num(d.log10_n.low, 4)}, {_num(d.log10_n.high, 4)}]",
                ", ".join(f"{t} {n}" for t, n in d.n_queries.items())]
               for metric, d in evidence.duration_by_task if not d.note]
    if by_task:
        parts += ["<h3>Duration effect per task (score ~ log10 N + log10 D; per decade)</h3>",
                  _table(["task", "metric", "log10 D", "95% CI", "log10 N", "95% CI", "queries"], by_task)]
    if spread:
        parts += ["<h3>Fine-tuning seed spread (average OOD nDCG@10)</h3>",
                  _table(["checkpoint", "task", "per seed", "std"], spread)]
    parts += [f"<p class='note'>{_e(n)}</p>" for n in evidence.notes]
    return "".join(parts)


def _comparison_section(comparisons: list[Comparison], flops: dict[str, float | None], figures: list[str],
                        budgets: tuple[str, str]) -> str:
    if not comparisons:
        return ""
    other = comparisons[0].other
    out = (f"<h2>Against the {_e(other)} study</h2><p>This study's models beside the {_e(other)} study's pretrained "
           "checkpoints on the task both evaluated, on the same queries. Intervals: 95% bootstrap over queries "
           "(and fine-tuning seeds where a checkpoint has several). The difference is paired over queries against "
           f"the {_e(other)} checkpoint with the highest score on this same task: choosing the best on the task it "
           "is compared on flatters that checkpoint slightly.</p>"
           f"<p>Fine-tuning budgets — this study: {_e(budgets[0])}; {_e(other)}: {_e(budgets[1])}.</p>")
    for comp in comparisons:
        diffs = {d.model: d for d in comp.differences}
        rows = [[i.checkpoint, _flops(flops.get(i.checkpoint)), f"{i.score:.3f} [{i.low:.3f}, {i.high:.3f}]",
                 i.n_queries[comp.task], i.n_seeds, diffs[i.checkpoint].text() if i.checkpoint in diffs else ""]
                for i in comp.models + comp.suite]
        out += (f"<h3>{_e(comp.task)}: best {_e(other)} checkpoint {_e(comp.best)}</h3>"
                + _table(["model", "FLOPs", "nDCG@10 [95% CI]", "queries", "seeds", f"minus {comp.best}"], rows)
                + "".join(f"<p class='note'>{_e(n)}</p>" for n in comp.notes))
    return out + "".join(figures)


def _fine_tuning_budget(store: ResultsStore) -> str:
    """One line: the pairs, negatives, τ, learning rate, batch, lengths and seeds a study fine-tuned with (its
    config as stored, with the defaults it ran under)."""
    from retscale.finetune.config import FinetuneOptions
    from retscale.pairs.wiki import WikiPairsOptions

    config = store.config()
    ft = FinetuneOptions.model_validate(config.get("finetune", {}))
    pairs = WikiPairsOptions.model_validate(config.get("pairs", {}))
    mined = next((r.value for r in store.rows(stage=StageName.MINING) if r.metric == Metric.MINED_PAIRS), None)
    seeds = len(config.get("finetune_seeds") or []) or 1
    kept = f" ({mined:,.0f} kept with all their hard negatives)" if mined is not None else ""
    n_pairs = "all" if pairs.max_pairs is None else f"{pairs.max_pairs:,}"
    return (f"{n_pairs} pairs{kept}, {ft.n_negatives} BM25 hard negatives"
            f"{' + in-batch' if ft.in_batch_negatives else ''}, τ {ft.temperature:g}, lr {ft.learning_rate:g}, "
            f"batch {ft.batch_size}, queries {ft.query_max_length} / passages {ft.passage_max_length} tokens, "
            f"{ft.epochs} epoch{'s' if ft.epochs > 1 else ''}, {seeds} seed{'s' if seeds > 1 else ''}")


def _flops(value: float | None) -> str:
    return "—" if not value else f"{value:.3g}"


def _compare(store: ResultsStore, name: str, other_dir: Path, fig_dir: Path, *, n_boot: int, seed: int
             ) -> tuple[list[Comparison], str]:
    """The comparisons of study ``name`` with the study in ``other_dir``, and their report section."""
    with open_store(other_dir, readonly=True) as other:
        other_name = str(other.config().get("name", other_dir.name))
        comparisons = compare(store, other, other_name, n_boot=n_boot, seed=seed)
        flops = {e.name: e.flops for e in store.checkpoints()}
        flops |= {f"{other_name}:{e.name}": e.flops for e in other.checkpoints()}
        flops |= {name + ZERO_SHOT_SUFFIX: value for name, value in flops.items()}
        figures = []
        for comp in comparisons:
            table = comparison_table(store, other, comp.task)
            n_queries = comp.models[0].n_queries[comp.task]
            png = figure_comparison(table, fig_dir, f"{comp.task}: the {other_name} suite and the models of "
                                                    f"{name}, {n_queries} queries", other_name)[0]
            figures.append(_figure(png, f"Fig 4: {comp.task} nDCG@10 vs pretraining FLOPs, the {other_name} suite "
                                        "(lines, per size) and this study's models at their FLOPs."))
        budgets = (_fine_tuning_budget(store), _fine_tuning_budget(other))
    return comparisons, _comparison_section(comparisons, flops, figures, budgets)


def build_report(study_dir: str | Path, compare_to: Sequence[str | Path] = ()) -> Path:
    """Rebuild ``report.html``, ``figures/`` and ``tables/`` in ``study_dir`` from its results store; with
    ``compare_to``, also set this study's external models beside each of those studies' suites (Fig 4 and a
    section)."""
    study_dir = Path(study_dir)
    with open_store(study_dir, readonly=True) as store:
        config = store.config()
        analysis_cfg = config.get("analysis", {})
        table = load_table(store, tasks=config.get("eval", {}).get("tasks"))
        # the headline average is over the out-of-domain tasks (the paper's BEIR view); the Wikipedia tasks the
        # study builds itself are reported per task
        headline_table = dataclasses.replace(table, tasks=ood_tasks(table.tasks) or table.tasks)
        result = analyze(headline_table, n_boot=int(analysis_cfg.get("bootstrap", 1000)),
                         seed=int(config.get("seed", 0)), predict_flops=analysis_cfg.get("predict_flops") or None,
                         tolerance=float(analysis_cfg.get("isoflop_tolerance", 0.3)))
        fig_dir = study_dir / FIGURES_DIR
        fig_dir.mkdir(parents=True, exist_ok=True)
        figs = [
            (figure_scaling(headline_table, fig_dir, result.best_pooled_fit())[0],
             f"Fig 1: average nDCG@10 over {', '.join(headline_table.tasks)} vs pretraining FLOPs, "
             f"{result.n_checkpoints} checkpoints, {result.n_queries} queries per point."),
            (figure_per_task(table, fig_dir)[0], "Fig 2: nDCG@10 vs pretraining FLOPs per task."),
            (figure_icl(headline_table, fig_dir)[0], "Fig 3: nDCG@10 vs ICL core average."),
        ]
        write_tables(table, result, study_dir / TABLES_DIR, average_tasks=headline_table.tasks)
        evidence = gather_evidence(store, table.tasks, n_boot=int(analysis_cfg.get("bootstrap", 1000)),
                                   seed=int(config.get("seed", 0)),
                                   tolerance=float(analysis_cfg.get("isoflop_tolerance", 0.3)))
        if evidence is not None:
            write_json(study_dir / TABLES_DIR / "evidence.json", evidence.as_dict())
        for stale in [*fig_dir.glob("fig4_*"), study_dir / TABLES_DIR / "comparison.json"]:
            stale.unlink(missing_ok=True)  # from an earlier --compare-to: never publish a comparison not made now
        name = str(config.get("name", study_dir.name))
        comparison_parts = [_compare(store, name, Path(other), fig_dir, n_boot=int(analysis_cfg.get("bootstrap", 1000)),
                                     seed=int(config.get("seed", 0))) for other in compare_to]
        if compare_to:
            write_json(study_dir / TABLES_DIR / "comparison.json", [c.as_dict() for part in comparison_parts
                                                                     for c in part[0]])
        title = f"retscale study: {name}"
        parts = [f"<h1>{_e(title)}</h1>",
                 f"<p>{_e(config.get('description', ''))}</p>",
                 f"<p>{result.n_checkpoints} fitted checkpoints in {len(table.sizes())} sizes, "
                 f"{len(table.references())} reference models, {len(table.tasks)} evaluation tasks; averages over "
                 f"{', '.join(headline_table.tasks)} ({result.n_queries} queries per average).</p>",
                 _evidence_section(evidence, store),
                 "<h2>Figures</h2>", *[_figure(p, c) for p, c in figs],
                 *[section for _, section in comparison_parts],
                 _correlations_section(result, headline_table), _gains_section(result, headline_table),
                 _isoflop_section(result), _fits_section(result, headline_table), _checkpoints_section(store),
                 _hygiene_section(store),
                 _scores_section(table), _missing_section(store, table, result), _provenance_section(store)]
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            "<link rel='icon' href='data:,'>"  # no favicon request: a file:// page must load with zero errors
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    out = study_dir / REPORT_FILE
    with atomic_write(out) as fh:
        fh.write(page)
    return out
