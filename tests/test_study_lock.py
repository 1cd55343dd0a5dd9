"""One study per output folder at a time; a corrupt results store is one line, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from retscale.errors import UserError
from retscale.study.lock import study_lock
from retscale.study.names import STORE_FILE as STORE_NAME
from retscale.study.store import open_store

_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from retscale.study.lock import study_lock
    with study_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(600)
""")


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "retscale.cli", *map(str, args)], env=_env(), text=True,
                          capture_output=True, timeout=600)


def test_a_held_folder_is_refused_with_the_holders_pid_and_freed_after_it_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError) as err, study_lock(tmp_path):
            pass
        msg = err.value.one_line()
        assert str(tmp_path) in msg and f"PID {holder.pid}" in msg
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a killed holder leaves the lock file, but not the lock
        holder.wait()
    with study_lock(tmp_path):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


def test_two_studies_on_one_folder_the_second_exits_with_one_line(tmp_path: Path) -> None:
    """Reproduction 8: a second `retscale study` on a running study's folder exits 2 at once, naming the folder
    and the first one's PID; the pretrain stage is started once."""
    out = tmp_path / "smoke"
    first = subprocess.Popen([sys.executable, "-m", "retscale.cli", "study", "smoke", "--output", str(out),
                              "--no-progress"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = out / "study.log"
        deadline = time.monotonic() + 300
        while not (log.is_file() and "start pretrain:" in log.read_text(encoding="utf-8")):
            assert first.poll() is None and time.monotonic() < deadline, "the first study did not start pretraining"
            time.sleep(0.1)
        second = _cli("study", "smoke", "--output", out, "--no-progress")
        assert first.poll() is None, "the first study ended before the second one was tried"
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr
    assert str(out) in lines[0] and f"PID {first.pid}" in lines[0]
    with open_store(out, readonly=True) as store:
        assert [r["key"].split(":")[0] for r in store.stage_run_log()] == ["pretrain"]


@pytest.mark.parametrize("command", ["report", "study"])
def test_a_corrupt_results_store_is_one_line_naming_the_file(tmp_path: Path, command: str) -> None:
    store = tmp_path / STORE_NAME
    store.write_bytes(os.urandom(8192))
    args = ("report", tmp_path) if command == "report" else ("study", "smoke", "--output", tmp_path, "--no-progress")
    done = _cli(*args)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert str(store) in lines[0] and "fix:" in lines[0]
