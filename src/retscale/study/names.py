"""The names the study writes and the analysis and report read: defined here once.

Stage names, checkpoint kinds, metric keys and file names are the contract between ``retscale.study`` (which writes
rows ``checkpoint, stage, task, metric, value`` into the store) and ``retscale.analysis`` / ``retscale.report``
(which select rows by these names). Both sides import them from here, so renaming one renames it everywhere instead
of silently emptying a report section.
"""

from __future__ import annotations

from enum import StrEnum

from retscale.pairs import heldout


class StageName(StrEnum):
    """The ``stage`` column of the store and results.csv (one value per kind of stage)."""

    PRETRAIN = "pretrain"  # the built-in suite's pretraining (checkpoint ``suite-<name>``; rows: losses)
    RANDOM_INIT = "random_init"  # each suite size's untrained weights (the control)
    PAIRS = "pairs"  # Wikipedia training pairs, the passage pool and the held-out task
    MINING = "mining"  # BM25 hard negatives for the training pairs
    FINETUNE = "finetune"
    EVALUATE = "evaluate"  # a fine-tuned checkpoint (or BM25) on the eval tasks
    ZERO_SHOT = "zero_shot"  # a checkpoint on the eval tasks before fine-tuning
    ICL = "icl"


class CheckpointKind(StrEnum):
    """What a study entry is; only ``SUITE`` entries enter the scaling fits and correlations."""

    SUITE = "suite"  # pretrained here, or an external model on the axes
    EXTERNAL = "external"  # an external model plotted as a reference line only
    CONTROL = "control"  # a suite size fine-tuned from random init (0 pretraining FLOPs)
    BASELINE = "baseline"  # BM25


class Metric(StrEnum):
    """The ``metric`` column, for the metrics the analysis and report read or the study writes itself.

    Evaluation rows carry every metric of ``retscale.evaluate.metrics.compute_metrics`` (``ndcg_at_10`` ...);
    only those named here are read back.
    """

    NDCG_AT_10 = "ndcg_at_10"  # the main metric
    N_QUERIES = "n_queries"  # queries an evaluation rests on
    ACCURACY = "accuracy"  # an ICL task's gauntlet accuracy
    N_ITEMS = "n_items"  # ICL items scored
    CORE_AVERAGE = "core_average"  # the ICL gauntlet's core average (task ``ICL_ALL_TASKS``)
    HELDOUT_LOSS = "heldout_loss"
    TRAIN_LOSS = "train_loss"
    TRAIN_PAIRS = "train_pairs"
    POOL_PASSAGES = "pool_passages"
    VALIDATION_PAIRS = "validation_pairs"
    DECONTAMINATED_ARTICLES = "decontaminated_articles"  # train articles dropped by the pair builder
    DECONTAMINATED_DOCUMENTS = "decontaminated_documents"  # pretraining documents dropped
    EXCLUDED_TEST_ARTICLES = "excluded_test_articles"  # test-split articles kept out of pretraining
    PRETRAIN_OVERLAP_NGRAM13 = "overlap_ngram13_pretraining"  # decoded pretraining documents sharing a 13-gram
    EPOCHS = "epochs"  # passes over the pretraining text
    MINED_PAIRS = "mined_pairs"
    MRR_AT_10 = "mrr_at_10"
    CONTRASTIVE_ENTROPY = "contrastive_entropy"  # dense models: InfoNCE loss of each query's positive (lower = better)
    N_SEEDS = "n_seeds"  # fine-tuning seeds a seed-mean evaluation rests on
    GOLD_PROB = "gold_prob"  # an ICL task's mean gold-choice probability (continuous)
    SHORT = "short"  # queries with fewer mined negatives than asked for


MAIN_METRIC = Metric.NDCG_AT_10
SHARED = "shared"  # the checkpoint label of a stage that serves every checkpoint (pairs, mining)
BM25 = "bm25"  # the checkpoint name of the BM25 baseline
ICL_ALL_TASKS = "all"  # the task label of the ICL core-average row
HYGIENE_METRICS = (Metric.DECONTAMINATED_ARTICLES, Metric.DECONTAMINATED_DOCUMENTS, Metric.EXCLUDED_TEST_ARTICLES,
                   Metric.PRETRAIN_OVERLAP_NGRAM13)
PER_QUERY = "per_query"  # provenance key: {task: {"qids": [...], metric: [...]}} (or "per_seed": {seed: ...})
PER_ITEM = "per_item"  # ICL provenance key: {task: [gold-choice probability per item]}
SEED_SUFFIX = "-s"  # per-seed stage names and metrics: finetune-s1, evaluate-s1, ndcg_at_10-s1
CORPUS_DATA = "pretraining-text"  # the task label of the pretrain stage's corpus rows (decontamination counts)
WIKI_DATA = "wiki"  # the task label of the pairs and mining stages' count rows
HELDOUT_TASK = heldout.TASK_NAME  # the eval task the pairs stage builds from the test split's Wikipedia articles
DEV_TASK = heldout.DEV_TASK_NAME  # the design task the pairs stage builds from the dev split's articles
WIKI_TASKS = (HELDOUT_TASK, DEV_TASK)  # eval tasks built by the study itself, not fetched from a registry

# files and folders of a study folder
STORE_FILE = "results.sqlite"
CONFIG_FILE = "config.json"
LOG_FILE = "study.log"
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
TABLES_DIR = "tables"
STAGES_DIR = "stages"  # each stage's work folder: stages/<stage>-<checkpoint>-<hash>/
