"""The public data sources the study and ICL read besides BEIR: where each one lives publicly, pinned, and how it is
checked. ``retscale.data.source_fetch`` fetches them on first use; ``retscale data list`` shows them.

Each entry's ``path`` is its place in the offline data folder's layout (``beir/``, ``text/``, ``icl/``), which is
also the layout of a mirror (``RETSCALE_DATA_MIRROR``: mirror base + ``path`` is the file) and of the cache
(``$RETSCALE_HOME/sources/<path>``). GitHub files are checked against their git blob ids at the pinned commit
(``git hash-object``); every one of those ids was read from the repository tree at that commit and equals the id
of the file in the project's offline data folder, so the offline copies are the public files byte for byte.

Unverified offline (no network here): the Wikipedia shard (``revision`` is ``main``, not a commit; no digest or row
count known), the content of ``hellaswag_val.jsonl`` (its blob id comes from the tree, the bytes were not seen),
and MMLU's ``data.tar`` (an unversioned URL, no digest; the offline copy is an earlier release: 1,542 val and
14,079 test rows where the current one is said to have 1,531 and 14,042, so only its 57 subjects per split are
checked).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from retscale.errors import UserError

# How the official file becomes the file at ``path``:
# ``members``: a folder of files fetched one by one (``url`` is their base); ``file``: one file, as is;
# ``wikipedia-parquet``: a parquet shard sampled into the sample's jsonl.gz; ``mmlu-tar``: ``data.tar`` unpacked.
Form = Literal["members", "file", "wikipedia-parquet", "mmlu-tar"]

LLM_FOUNDRY_COMMIT = "8c8dd48f72168c5d51e2f7b151595892a8fba43d"  # main, 2025-07-21
NLTK_DATA_COMMIT = "5db857e6f7df11eabb5e5665836db9ec8df07e28"  # gh-pages (the package server), 2023-02-02
HELLASWAG_COMMIT = "a29ff8e9a04bba4bd6588223785ce105328adc57"  # master, 2020-05-28
WIKIPEDIA_REVISION = "main"  # unverified: replace with the commit that a first online fetch records
WIKIPEDIA_SHARD = "20231101.en/train-00000-of-00041.parquet"


@dataclass(frozen=True)
class WikipediaSample:
    """How a Wikipedia parquet shard becomes the project's sample: ``articles`` rows drawn with ``seed`` (kept in
    shard order), written as ``{"id","url","title","text"}`` lines; section headings get the WikiExtractor
    trailing "." the pair builder recognises them by."""

    articles: int = 25_000  # ≈ 3,000 characters an article in the full dump: near the offline sample's 58.5M
    seed: int = 0


@dataclass(frozen=True)
class PublicSource:
    """One public data set: where it is (pinned), what it must contain, and under which licence."""

    name: str
    path: str  # place in the offline data folder / mirror / cache layout
    url: str  # the public file, or for ``members`` the base its member paths are joined to
    revision: str  # the commit (or dump) ``url`` is pinned to
    licence: str
    description: str
    form: Form = "file"
    members: dict[str, str] = field(default_factory=dict)  # member path → git blob id (``members`` and ``mmlu-tar``)
    git_blob: str | None = None  # git blob id of the file at ``url`` (GitHub files)
    items: int | None = None  # items the reader must find (HellaSwag)
    official_path: str = ""  # where the official file is cached when its format differs from ``path``'s
    sample: WikipediaSample | None = None

    @property
    def is_folder(self) -> bool:
        return self.form in ("members", "mmlu-tar")


def _github(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


MMLU_SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine",
    "college_physics", "computer_security", "conceptual_physics", "econometrics", "electrical_engineering",
    "elementary_mathematics", "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics", "high_school_mathematics",
    "high_school_microeconomics", "high_school_physics", "high_school_psychology", "high_school_statistics",
    "high_school_us_history", "high_school_world_history", "human_aging", "human_sexuality",
    "international_law", "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
    "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition", "philosophy",
    "prehistory", "professional_accounting", "professional_law", "professional_medicine",
    "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy",
    "virology", "world_religions",
)
MMLU_SPLITS = ("dev", "val", "test")

_NLTK_ZIPS = {
    "abc.zip": "3719d040d64e288172edcff1925b77fe2acfcc67",
    "brown.zip": "8bdf3124ebe861cf11b04865fb3d552ddfb8f1fa",
    "genesis.zip": "67298f7c3a161ef93de96a13dfd71a21d3d750d7",
    "inaugural.zip": "df9dd9646a68e08def1f4e93ba7279455388805d",
    "movie_reviews.zip": "f319367c9713c9cea17df9f270ef3955cd21f774",
    "problem_reports.zip": "452d778546dace8302c96f2e60800e8909907275",
    "shakespeare.zip": "796ac800118fbdb0a133ccffcbd2cacbcbf1c525",
    "state_union.zip": "6728cb763b7a498942097846584054d1247bbd6a",
    "webtext.zip": "56cef58e97fada3d68467c5964d743ade1e2e06d",
}

_GAUNTLET_YAMLS = {
    "eval_gauntlet_v0.1.yaml": "2dcd8a6a18e151d8f70b3c24cf7ed76c11a0ca8d",
    "eval_gauntlet_v0.2.yaml": "cc7f8c6b014a1a0460d2a19197870c27d301a110",
    "eval_gauntlet_v0.3.yaml": "8f4b0bb8fef85adf6e477a9a939e9daf89201da1",
    "tasks_v0.1.yaml": "6546b13dd73236dc2f11671b6e10da6a4bcf82c8",
    "tasks_v0.2.yaml": "ae39d87fbd095f53e5c038791979c9c28bd3df87",
    "tasks_v0.3.yaml": "396ceaaf85891a9fd764c207cecf6dfc59daee88",
}

# The gauntlet's local data that the offline folder holds (identical blobs). Not listed: hellaswag and mmlu (their
# own sources below) and the large files the offline folder lacks (squad, coqa, narrative_qa, triviaqa, bbq,
# bigbench_elementary_math_qa): the ICL runner reports those tasks as missing, online or not.
_GAUNTLET_LOCAL_DATA = {
    "commonsense_reasoning/bigbench_novel_concepts.jsonl": "c620e3df62462e607a14e5c31561b4c6198f2511",
    "commonsense_reasoning/bigbench_strange_stories.jsonl": "70364c99a54bca1f04c21cd5fe18d2d26cf6a7e6",
    "commonsense_reasoning/bigbench_strategy_qa.jsonl": "ab27234396700bbc8372c934843136b49662e84b",
    "commonsense_reasoning/commonsense_qa.jsonl": "f1cc16a88b05ab0934aab2ec2d02a6869e6e5520",
    "commonsense_reasoning/copa.jsonl": "b22f96e08ae9d0e97e1ae58f67b6425c77ef200a",
    "commonsense_reasoning/openbook_qa.jsonl": "a8aff255a64cbc72a85252acf00df25a315686c2",
    "commonsense_reasoning/piqa.jsonl": "a9992adfdefde366fe7ccff871f5aa62449a09cf",
    "commonsense_reasoning/siqa.jsonl": "e718550ee2141f5aa8ff993a344db8d38c206445",
    "language_understanding/bigbench_conceptual_combinations.jsonl": "ecc2050c1e373d193eee328fdc6624dde0df2f2a",
    "language_understanding/bigbench_conlang_translation.jsonl": "8cb521e2a9b449fd452eca9f70c563420f1da778",
    "language_understanding/bigbench_language_identification.jsonl": "1f132fbbb12a67ce267b7b92b458175632c265f3",
    "language_understanding/lambada_openai.jsonl": "4da02dd53b9e7385871d06ab855471d77b2f7dda",
    "language_understanding/lambada_openai_small.jsonl": "9c4c7f54750f127708ddc4c8e91da863bae77258",
    "language_understanding/winograd_wsc.jsonl": "762fe030ac6938ecba438c47a04057247c6ab891",
    "language_understanding/winogrande.jsonl": "316e87ae4659f0c402b0f00551fdec83ab0a0986",
    "reading_comprehension/agi_eval_lsat_lr.jsonl": "2bb4846c866a21b939e0b59f2f5f3d580c348475",
    "reading_comprehension/agi_eval_lsat_rc.jsonl": "bd106a8cb1441af971e9ed181d40c109f0a40a9b",
    "reading_comprehension/agi_eval_sat_en.jsonl": "52db9fd1d3888651b6cf0936eb68b9c006cbbbf7",
    "reading_comprehension/bigbench_understanding_fables.jsonl": "c1e592564734c3bd526e1e55945a7a24801a634b",
    "reading_comprehension/boolq.jsonl": "f42083a58713d00ef4600118cfdf79618c269190",
    "reading_comprehension/pubmed_qa_labeled.jsonl": "374348ed2fc45b1dbccb6baf434dbd2141bd3a16",
    "safety/enterprise_pii_classification.jsonl": "c2e78eb11178808dc8d968889ed7690ee46ac647",
    "safety/winogender_mc_female.jsonl": "c85da7288bfb95bd6589e016ab8622e1ccc2548e",
    "safety/winogender_mc_male.jsonl": "4dc8750dffa962f68cc526f255c4994f7667f412",
    "symbolic_problem_solving/agi_eval_lsat_ar.jsonl": "d663b427ba310d3f877f09a6830198ca7c856189",
    "symbolic_problem_solving/agi_eval_sat_math.jsonl": "24569a086b7c58292445520e19a33353e4050fde",
    "symbolic_problem_solving/aqua.jsonl": "a5ad4a1b911d00c9363f3bc6c5cd05ffecd88a32",
    "symbolic_problem_solving/bigbench_cs_algorithms.jsonl": "7ecee0f270f3de8b6558da14ae02181f3d950a40",
    "symbolic_problem_solving/bigbench_dyck_languages.jsonl": "27a4ac2b3b18716add92f4ecd62475c4f8d77768",
    "symbolic_problem_solving/bigbench_logical_deduction.jsonl": "3a33d45cedae752f342bcc2780be1e0e28f69036",
    "symbolic_problem_solving/bigbench_operators.jsonl": "a982dc4f962725c9dc4abb07d3cc333c99959290",
    "symbolic_problem_solving/bigbench_repeat_copy_logic.jsonl": "86621f10e7124ed6f3a61fb91493c1256c008f60",
    "symbolic_problem_solving/bigbench_simple_arithmetic.jsonl": "cd151d8f3a71e16b757837d96fdcb96fe8e71ae4",
    "symbolic_problem_solving/gsm8k.jsonl": "b6c9b4853d52572d2c0eecf6409ffff1bf41f79d",
    "symbolic_problem_solving/gsm8k_prepended_8shot.jsonl": "438468c35e60dbde8909a1ea2d1e6c951547ead8",
    "symbolic_problem_solving/logi_qa.jsonl": "c44f41cbbd84c8e006fb1fd3d0b34226299ebe12",
    "symbolic_problem_solving/math.jsonl": "a7c8439ed0c9ea9eeddf15c477249fc992b15b54",
    "symbolic_problem_solving/math_complex_soln.jsonl": "add156040b0ec17d09e107aa1c12c12469751f39",
    "symbolic_problem_solving/math_qa.jsonl": "fa30db1e6c74bf5a76512e761db5b501b3835428",
    "symbolic_problem_solving/math_simple_soln.jsonl": "6c24cbd21fc8ed9f85c53dbd41856d8e587ffdcd",
    "symbolic_problem_solving/simple_arithmetic_nospaces.jsonl": "ecf7fbad810a0ae1fd6677fcff8f117d8bcb3b98",
    "symbolic_problem_solving/simple_arithmetic_withspaces.jsonl": "ef7ce67c1b7fde8097d9a01bbd93c4737cac8ad5",
    "symbolic_problem_solving/svamp.jsonl": "04d1c04a2de288bcbaff275b753788c68fa84a92",
    "world_knowledge/arc_challenge.jsonl": "ce66b8dcfb4bac892a404a0dda8b4e8ed0f84b89",
    "world_knowledge/arc_easy.jsonl": "b5fd1bf87a24246a6be67230b721541688f5c349",
    "world_knowledge/bigbench_misconceptions.jsonl": "f5300baa4e79bf433830cdfdf3ffc6e7f5a2abc0",
    "world_knowledge/bigbench_movie_recommendation.jsonl": "c7097f555a68ca84bfff157c5c22736cd7ac72c1",
    "world_knowledge/bigbench_qa_wikidata.jsonl": "5e1be72797ba082fd4f6efa42f7d759d2d23339a",
    "world_knowledge/jeopardy_all.jsonl": "2f771918dbc8b68550df204171b14d2648b5d494",
    "world_knowledge/jeopardy_small.jsonl": "e3a476c4e911c6043603699e389ba608f0c0cd74",
    "world_knowledge/triviaqa_sm_sub.jsonl": "eb69d9b81d2cc2f404f2e09a5e15e45b9b74948a",
    "world_knowledge/triviaqa_small.jsonl": "9d7a20deec0c7cf88101e2e47f294d360c9eb34c",
}

_SOURCES: list[PublicSource] = [
    PublicSource(
        name="enwiki-sample", path="text/enwiki-sample.jsonl.gz",
        url=f"https://huggingface.co/datasets/wikimedia/wikipedia/resolve/{WIKIPEDIA_REVISION}/{WIKIPEDIA_SHARD}",
        revision=f"{WIKIPEDIA_REVISION} (20231101.en dump)", licence="CC BY-SA 3.0 and GFDL",
        description="English Wikipedia articles for pretraining text and query-passage pairs",
        form="wikipedia-parquet", sample=WikipediaSample()),
    PublicSource(
        name="nltk", path="text/nltk", url=_github("nltk/nltk_data", NLTK_DATA_COMMIT, "packages/corpora"),
        revision=NLTK_DATA_COMMIT, licence="per corpus (Brown: non-commercial research)",
        description="NLTK corpora as packaged by nltk_data (pretraining text)", form="members", members=_NLTK_ZIPS),
    PublicSource(
        name="gauntlet-yamls", path="icl/gauntlet/yamls",
        url=_github("mosaicml/llm-foundry", LLM_FOUNDRY_COMMIT, "scripts/eval/yamls"), revision=LLM_FOUNDRY_COMMIT,
        licence="Apache-2.0", description="MosaicML Eval Gauntlet task and scoring yamls (llm-foundry)",
        form="members", members=_GAUNTLET_YAMLS),
    PublicSource(
        name="gauntlet-local-data", path="icl/gauntlet/local_data",
        url=_github("mosaicml/llm-foundry", LLM_FOUNDRY_COMMIT, "scripts/eval/local_data"),
        revision=LLM_FOUNDRY_COMMIT, licence="Apache-2.0 (llm-foundry); each task keeps its data set's licence",
        description="MosaicML Eval Gauntlet task data, one jsonl per task", form="members",
        members=_GAUNTLET_LOCAL_DATA),
    PublicSource(
        name="hellaswag", path="icl/hellaswag_val_full.txt.bz2",
        url=_github("rowanz/hellaswag", HELLASWAG_COMMIT, "data/hellaswag_val.jsonl"), revision=HELLASWAG_COMMIT,
        licence="MIT", description="HellaSwag validation set (10,042 items)", form="file",
        git_blob="0f5ee25d72216f12317d5d8a7b92deafa423d81e", items=10_042,
        official_path="icl/hellaswag_val.jsonl"),
    PublicSource(
        name="mmlu", path="icl/mmlu", url="https://people.eecs.berkeley.edu/~hendrycks/data.tar",
        revision="unversioned (data.tar)", licence="MIT",
        description="MMLU (Hendrycks et al.): 57 subjects, dev/val/test csv", form="mmlu-tar",
        members={f"{split}/{subject}_{split}.csv": "" for split in MMLU_SPLITS for subject in MMLU_SUBJECTS}),
]

SOURCES: dict[str, PublicSource] = {source.name: source for source in _SOURCES}


def get_source(name: str) -> PublicSource:
    """The registry entry ``name``; an unknown name is a ``UserError`` listing close matches."""
    if name in SOURCES:
        return SOURCES[name]
    close = difflib.get_close_matches(name, list(SOURCES), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(f"unknown data source {name!r}", fix=f"{hint}run 'retscale data list'")
