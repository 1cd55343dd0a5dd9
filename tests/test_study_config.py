"""Study configs: presets validate, mistakes name the bad key (and its line) in one line."""

from __future__ import annotations

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
    from retscale.study.stages import pretrain_stage

    config, _ = load_config("smoke")
    base = pretrain_stage(config).key
    fast = config.model_copy(update={"checkpoints": config.checkpoints.model_copy(
        update={"suite_options": {"threads": 2, "save_every": 3}})})
    assert pretrain_stage(fast).key == base
    seeded = config.model_copy(update={"checkpoints": config.checkpoints.model_copy(
        update={"suite_options": {"seed": 1}})})
    assert pretrain_stage(seeded).key != base
