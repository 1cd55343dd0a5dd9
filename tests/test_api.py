"""The README's Python example runs as written, and ``import retscale`` stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "the README has lost its Python example"
    return match.group(1)


def test_import_is_light() -> None:
    code = "import sys, retscale; print('torch' in sys.modules, retscale.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"


@pytest.mark.slow
def test_readme_example_runs(tmp_path: Path) -> None:
    """The example, run in a fresh process from an empty folder, prints what its comments say."""
    script = tmp_path / "example.py"
    script.write_text(_example(), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "0.6863"
    assert lines[1].endswith("report.html") and (tmp_path / "runs" / "smoke" / "report.html").exists()
    assert int(lines[2].split()[0]) > 50 and "xs-r0.5" in lines[2]
