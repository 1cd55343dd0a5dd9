"""Study configs: presets validate, mistakes name the bad key (and its line) in one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from retscale.errors import UserError
from retscale.study.config import load_config, parse_config, preset_names

GOOD = """\
name: t
checkpoints:
  models:
    - {name: a, model: some/model, n_params: 1.0e+6, tokens: 2.0e+7}
eval:
  tasks: [scifact]
"""


def test_every_preset_validates() -> None:
    assert {"smoke", "mini", "full", "mpt-gpu"} <= set(preset_names())
    for name in preset_names():
        config, path = load_config(name)
        assert config.name == name and path.name == f"{name}.yaml"
        assert config.checkpoints.suite or config.checkpoints.models
        assert config.eval.tasks


def test_built_in_studies_fine_tune_at_a_tenth_of_the_pretraining_peak_lr_or_less() -> None:
    """Issue 11's proportions: one fine-tuning recipe per built-in study, at ≤ 1/10 of its suite's pretraining peak
    LR; the reference study also processes ≤ 30% of the smallest checkpoint's pretraining tokens (an upper bound:
    every pair kept, every text at its maximum length). ``mini`` cannot keep the token ratio; the README says so."""
    from retscale.study.stages import suite_spec

    for name in ("mini", "full"):
        config, _ = load_config(name)
        spec = suite_spec(config)
        assert config.finetune.learning_rate <= spec.peak_lr / 10 * (1 + 1e-9), name
    config, _ = load_config("full")
    ft = config.finetune
    assert config.pairs.max_pairs is not None
    tokens = ft.epochs * config.pairs.max_pairs * (ft.query_max_length + (1 + ft.n_negatives) * ft.passage_max_length)
    smallest = min(c.tokens for c in suite_spec(config).checkpoints())
    assert tokens <= 0.3 * smallest


def test_minimal_config_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    config, _ = load_config(path)
    assert config.checkpoints.models[0].tokens == 2e7
    assert config.baselines.bm25 and not config.baselines.zero_shot
    assert config.analysis.bootstrap == 1000


@pytest.mark.parametrize(("text", "key", "line"), [
    (GOOD.replace("  tasks: [scifact]", "  tasks: [scifact]\n  top_kk: 5"), "eval.top_kk: unknown key", 7),
    (GOOD.replace("n_params: 1.0e+6", "n_params: -1"), "checkpoints.models.0.n_params", 4),
    (GOOD.replace("  tasks: [scifact]", "  tasks: scifact"), "eval.tasks: Input should be a valid list", 6),
    (GOOD.replace("name: t\n", ""), "name: Field required", None),
    ("name: t\ncheckpoints: {}\neval: {tasks: [x]}\n", "give a built-in `suite` or a list of `models`", 2),
])
def test_mistakes_name_the_key_and_line(text: str, key: str, line: int | None) -> None:
    with pytest.raises(UserError) as err:
        parse_config(text, "study.yaml")
    msg = err.value.one_line()
    assert key in msg and "\n" not in msg
    assert err.value.line == line


def test_bad_yaml_and_unknown_preset(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="malformed YAML") as err:
        parse_config("name: [unclosed\n", "x.yaml")
    assert err.value.line is not None
    with pytest.raises(UserError, match="neither a config file nor a preset") as err2:
        load_config("no-such-preset")
    assert "mini" in err2.value.one_line()


def test_cli_reports_a_bad_config_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retscale.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("name: t", "name: t\nseeds: [1, 2]"))
    assert main(["study", str(bad), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"retscale: error: {bad}:2: seeds: unknown key (fix: see the presets in retscale/presets/ for valid keys)"
    assert not (tmp_path / "out").exists()  # nothing runs on a bad config


def test_bad_thread_count_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retscale.cli import main

    assert main(["study", "smoke", "--threads", "0", "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == "retscale: error: --threads must be >= 1, got 0"
    assert not (tmp_path / "out").exists()


def test_speed_settings_are_not_part_of_the_pretrain_key() -> None:
    from retscale.pretrain.suite import SuiteOptions
    from retscale.study.stages import pretrain_stage

    config, _ = load_config("smoke")
    base = pretrain_stage(config).key
    fast = config.model_copy(update={"checkpoints": config.checkpoints.model_copy(
        update={"suite_options": SuiteOptions(threads=2, save_every=3)})})
    assert pretrain_stage(fast).key == base
    seeded = config.model_copy(update={"checkpoints": config.checkpoints.model_copy(
        update={"suite_options": SuiteOptions(seed=1)})})
    assert pretrain_stage(seeded).key != base


SUITE = GOOD.replace("  models:\n    - {name: a, model: some/model, n_params: 1.0e+6, tokens: 2.0e+7}\n",
                     "  suite: smoke\n  suite_options:\n    seed: 1\n")
SECTIONS = SUITE + """\
pairs:
  max_articles: 200
mining:
  negatives: 3
  depth: 20
finetune:
  n_negatives: 3
  learning_rate: 0.001
icl:
  tasks: [copa]
"""


# Each section that belongs to another stage is that stage's own model: a typo or a bad value fails when the
# config loads, naming the key and its line, before any stage could run.
@pytest.mark.parametrize(("old", "new", "key", "line"), [
    ("    seed: 1\n", "    seed: 1\n    sead: 2\n", "checkpoints.suite_options.sead: unknown key", 6),
    ("    seed: 1\n", "    peak_lr: -1\n", "checkpoints.suite_options.peak_lr: Input should be greater than 0", 5),
    ("  max_articles: 200\n", "  max_artcles: 200\n", "pairs.max_artcles: unknown key", 9),
    ("  max_articles: 200\n", "  test_fraction: 2\n", "pairs.test_fraction: Input should be less", 9),
    ("  depth: 20\n", "  depht: 20\n", "mining.depht: unknown key", 12),
    ("  depth: 20\n", "  depth: 2\n", "mining.depth: 2 leaves fewer than 3 negatives after skipping the top 0", 12),
    ("  negatives: 3\n", "  negatives: 3\n  strategy: best\n", "mining.strategy: Input should be 'top' or", 12),
    ("  n_negatives: 3\n", "  n_negatve: 3\n", "finetune.n_negatve: unknown key", 14),
    ("  learning_rate: 0.001\n", "  learning_rate: fast\n", "finetune.learning_rate: Input should be a valid number", 15),
    ("  learning_rate: 0.001\n", "  gather_across_ranks: true\n", "finetune: gather_across_ranks needs in_batch_neg", 13),
    ("  suite: smoke\n", "  suite: smok\n", "checkpoints.suite: unknown suite 'smok'", 3),
    ("  tasks: [scifact]\n", "  tasks: [scifakt]\n", "eval.tasks: unknown task 'scifakt'", 7),
    ("  tasks: [copa]\n", "  tasks: [copaa]\n", "icl.tasks: unknown ICL task 'copaa'", 17),
])
def test_every_section_is_checked_when_the_config_loads(tmp_path: Path, old: str, new: str, key: str,
                                                        line: int) -> None:
    assert old in SECTIONS
    path = tmp_path / "study.yaml"
    path.write_text(SECTIONS.replace(old, new))
    start = time.perf_counter()
    with pytest.raises(UserError) as err:
        load_config(path)
    assert time.perf_counter() - start < 5
    msg = err.value.one_line()
    assert key in msg and "\n" not in msg and "--" not in msg  # config keys, never CLI flags
    assert err.value.line == line and str(err.value.path) == str(path)


def test_sections_as_written_are_the_stage_keys_and_unset_seeds_follow_the_study() -> None:
    from retscale.study.stages import as_written, mining_config

    config = parse_config(SECTIONS)
    assert as_written(config.mining) == {"negatives": 3, "depth": 20}
    assert as_written(config.finetune) == {"n_negatives": 3, "learning_rate": 0.001}
    assert as_written(config.pairs) == {"max_articles": 200}
    mining = mining_config(config.model_copy(update={"seed": 7}))
    assert (mining.seed, mining.n_threads, mining.negatives) == (7, 1, 3)
    pinned = parse_config(SECTIONS.replace("  depth: 20\n", "  depth: 20\n  seed: 2\n"))
    assert mining_config(pinned).seed == 2


def test_the_recorded_config_keeps_stage_sections_as_written() -> None:
    config = parse_config(SECTIONS)
    snap = config.snapshot()
    assert snap["mining"] == {"negatives": 3, "depth": 20}  # no seed 0 / thread defaults the study overrides
    assert snap["finetune"] == {"n_negatives": 3, "learning_rate": 0.001}
    assert snap["checkpoints"]["suite_options"] == {"seed": 1}
    assert snap["eval"]["top_k"] == 1000  # the study's own sections keep their defaults
