"""Public data sources: fetched on first use from a mirror laid out like the offline data folder (here a loopback
HTTP server) or from their official URLs (here a loopback server playing each public host, serving tiny files the
tests build in the official formats); offline with neither, one line naming the URL and the mirror setting."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retscale.cli import main
from retscale.data.registry import TASKS
from retscale.data.source_fetch import find_source, git_blob_id, mark_headings, sample_wikipedia, source_path
from retscale.data.sources import MMLU_SPLITS, MMLU_SUBJECTS, SOURCES, WikipediaSample
from retscale.errors import UserError
from retscale.icl.tasks import (
    IclTaskSpec,
    load_task_data,
    read_hellaswag_bz2,
    read_hellaswag_jsonl,
    read_mmlu_csv,
)
from retscale.pairs.wiki import split_sections

REPO = Path(__file__).resolve().parents[1]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """``serve(folder)`` → the base URL of a loopback HTTP server for ``folder`` (stopped after the test)."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither the offline data folder nor a mirror; a fresh cache."""
    monkeypatch.delenv("RETSCALE_SHARED_DATA", raising=False)
    monkeypatch.delenv("RETSCALE_DATA_MIRROR", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("RETSCALE_HOME", str(home))
    return home


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _official(monkeypatch: pytest.MonkeyPatch, name: str, **changes: object) -> None:
    monkeypatch.setitem(SOURCES, name, dataclasses.replace(SOURCES[name], **changes))


def _blob(data: bytes) -> str:
    """git's blob id, computed here independently of the code under test."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# --- the registry ----------------------------------------------------------------------------------------------

def test_registered_blob_ids_match_the_offline_copies(shared_data: Path) -> None:
    """The pinned git blob ids (read from the public repositories' trees) are those of the offline files: the
    offline folder holds the public files byte for byte, and a fetch from either checks the same ids."""
    for name in ("nltk", "gauntlet-yamls", "gauntlet-local-data"):
        source = SOURCES[name]
        assert source.members and source.revision in source.url
        for member, blob in source.members.items():
            assert git_blob_id(shared_data / source.path / member) == blob, member
    assert git_blob_id(shared_data / "text/nltk/abc.zip") == _blob((shared_data / "text/nltk/abc.zip").read_bytes())


def test_every_source_names_a_pinned_location_and_a_licence() -> None:
    for source in SOURCES.values():
        assert source.url.startswith("https://") and source.licence and source.revision
    for name in ("nltk", "gauntlet-yamls", "gauntlet-local-data", "hellaswag"):
        assert len(SOURCES[name].revision) == 40 and SOURCES[name].revision in SOURCES[name].url
    assert len(SOURCES["mmlu"].members) == 57 * 3


def test_the_offline_folder_is_read_in_place(shared_data: Path) -> None:
    assert source_path("enwiki-sample") == shared_data / "text/enwiki-sample.jsonl.gz"
    assert source_path("gauntlet-local-data", "commonsense_reasoning/copa.jsonl").parent.parent == \
        shared_data / "icl/gauntlet/local_data"
    assert source_path("mmlu") == shared_data / "icl/mmlu"


# --- (a) a loopback HTTP mirror of the offline data folder, and nothing else -------------------------------------

def test_mirror_fetches_each_form_once_and_checks_it(shared_data: Path, no_mirror: Path, serve,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETSCALE_DATA_MIRROR", serve(shared_data))
    wiki = source_path("enwiki-sample")
    assert wiki == no_mirror / "sources/text/enwiki-sample.jsonl.gz"
    assert wiki.read_bytes() == (shared_data / "text/enwiki-sample.jsonl.gz").read_bytes()
    assert json.loads((wiki.parent / ".enwiki-sample.jsonl.gz.source.json").read_text())["origin"].endswith(
        "/text/enwiki-sample.jsonl.gz")
    hellaswag = source_path("hellaswag")
    assert len(read_hellaswag_bz2(hellaswag)) == 10_042
    mmlu = source_path("mmlu")
    assert len(read_mmlu_csv(mmlu, "dev")) == 285
    copa = source_path("gauntlet-local-data", "commonsense_reasoning/copa.jsonl")
    assert copa.read_bytes() == (shared_data / "icl/gauntlet/local_data/commonsense_reasoning/copa.jsonl").read_bytes()
    monkeypatch.setenv("RETSCALE_DATA_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    assert source_path("enwiki-sample") == wiki  # cached: the mirror is not asked again


def test_a_damaged_mirror_file_is_refused_and_not_kept(tmp_path: Path, no_mirror: Path, serve,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "mirror/text/nltk/abc.zip"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the nltk_data abc.zip")
    monkeypatch.setenv("RETSCALE_DATA_MIRROR", serve(tmp_path / "mirror"))
    with pytest.raises(UserError, match=r"git blob id .* where 3719d040d64e… was pinned"):
        source_path("nltk", "abc.zip")
    assert not list((no_mirror / "sources/text/nltk").iterdir())  # neither the file nor a partial one


@pytest.mark.slow
def test_smoke_study_runs_from_a_loopback_http_mirror_alone(shared_data: Path, tmp_path: Path, serve) -> None:
    """Acceptance: RETSCALE_SHARED_DATA unset, only a loopback HTTP server of ../shared/data: the whole smoke study
    (pretrain text, pairs, BEIR, ICL) fetches what it needs through the mirror."""
    env = {k: v for k, v in os.environ.items() if k not in ("RETSCALE_SHARED_DATA", "RETSCALE_DATA_MIRROR")}
    home = tmp_path / "home"
    env.update(RETSCALE_HOME=str(home), RETSCALE_DATA_MIRROR=serve(shared_data), HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-m", "retscale.cli", "study", "smoke", "--output", str(tmp_path / "out"),
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out/results.csv").is_file() and (tmp_path / "out/report.html").is_file()
    fetched = {p.relative_to(home / "sources").as_posix() for p in (home / "sources").rglob("*")
               if p.is_file() and not p.name.startswith(".")}
    assert {"text/enwiki-sample.jsonl.gz", "text/nltk/brown.zip", "icl/gauntlet/yamls/tasks_v0.3.yaml",
            "icl/gauntlet/local_data/commonsense_reasoning/copa.jsonl"} <= fetched
    assert (home / "datasets/scifact.zip").is_file()


# --- (b) neither: one line naming the URL and the setting --------------------------------------------------------

def test_offline_without_a_mirror_the_first_fetch_is_one_line_exit_2(no_mirror: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"  # stands in for the public hosts: nothing answers
    for name, source in SOURCES.items():
        _official(monkeypatch, name, url=source.url.replace("https://", f"{dead}/"))
    for name, spec in TASKS.items():
        if spec.url:
            monkeypatch.setitem(TASKS, name, dataclasses.replace(spec, url=spec.url.replace("https://", f"{dead}/")))
    assert main(["study", "smoke", "--output", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("retscale: error: could not") and f"{dead}/" in err and "RETSCALE_DATA_MIRROR" in err
    assert "Connection refused" in err or "ConnectionRefused" in err


def test_cli_fetch_of_a_source_offline_names_the_url(no_mirror: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/rowanz/hellaswag/data/hellaswag_val.jsonl"
    _official(monkeypatch, "hellaswag", url=url)
    assert main(["data", "fetch", "hellaswag"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and url in err and "RETSCALE_DATA_MIRROR" in err and "RETSCALE_SHARED_DATA" in err


# --- (c) the official formats, converted: tiny files on a loopback server playing the public host ----------------

def _wiki_rows(n: int) -> list[dict[str, str]]:
    return [{"id": str(1000 + i), "url": f"https://en.wikipedia.org/wiki?curid={1000 + i}", "title": f"Article {i}",
             "text": f"Article {i} is a thing. It has a lead section.\nHistory\nIt began in {1900 + i}. It went on."}
            for i in range(n)]


def test_wikipedia_parquet_shard_is_sampled_into_the_project_schema(tmp_path: Path, no_mirror: Path, serve,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    host = tmp_path / "hub"
    shard = host / "wikimedia/wikipedia/20231101.en/train-00000-of-00041.parquet"
    shard.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(_wiki_rows(12)), shard, row_group_size=5)  # 3 row groups
    url = f"{serve(host)}/wikimedia/wikipedia/20231101.en/train-00000-of-00041.parquet"
    _official(monkeypatch, "enwiki-sample", url=url, sample=WikipediaSample(articles=5, seed=3))

    path = source_path("enwiki-sample")
    assert path == no_mirror / "sources/text/enwiki-sample.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    assert len(rows) == 5 and all(list(r) == ["id", "url", "title", "text"] for r in rows)
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == 5  # drawn without replacement, kept in shard order
    sections = split_sections(rows[0]["text"])  # the heading got its trailing "." and is found by the pair builder
    assert [h for h, _ in sections] == [None, "History"]
    manifest = json.loads((path.parent / ".enwiki-sample.jsonl.gz.source.json").read_text())
    assert manifest["origin"] == url and manifest["articles"] == 5
    assert manifest["shard_sha256"] == hashlib.sha256(shard.read_bytes()).hexdigest()
    assert not list((no_mirror / "sources/downloads").iterdir())  # the shard is dropped once sampled

    again = tmp_path / "again.jsonl.gz"
    sample_wikipedia(shard, again, WikipediaSample(articles=5, seed=3))
    assert again.read_bytes() == path.read_bytes()  # deterministic, byte for byte


def test_mark_headings_only_touches_heading_like_lines() -> None:
    text = "Title line\nA sentence. Another one.\nEarly life\nShe was born.\nSee also: things"
    assert mark_headings(text) == "Title line\nA sentence. Another one.\nEarly life.\nShe was born.\nSee also: things"


def test_a_parquet_shard_without_the_wikipedia_columns_is_refused(tmp_path: Path, no_mirror: Path, serve,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shard = tmp_path / "hub/shard.parquet"
    shard.parent.mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": "1", "body": "x"}]), shard)
    _official(monkeypatch, "enwiki-sample", url=f"{serve(tmp_path / 'hub')}/shard.parquet")
    with pytest.raises(UserError, match="parquet file lacks the columns"):
        source_path("enwiki-sample")
    assert find_source("enwiki-sample") is None
    shard.write_bytes(b"<html>not parquet</html>")
    with pytest.raises(UserError, match="not a readable parquet shard"):
        source_path("enwiki-sample")
    assert not list((no_mirror / "sources/downloads").iterdir())  # nothing left to resume from


_HELLASWAG = [
    {"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
     "ctx": "A man is sitting on a roof. he", "split": "val", "split_type": "indomain", "label": 3,
     "endings": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                 "is holding a rubik's cube.", "starts pulling up roofing on a roof."], "source_id": "x"},
    {"ind": 92, "activity_label": "Clean and jerk", "ctx": "A lady walks to a barbell. the lady", "label": 3,
     "endings": ["swings and lands in her arms.", "pulls the barbell forward.",
                 "pulls a rope attached to the barbell.", "stands and lifts the weight over her head."]},
]


def test_hellaswag_official_jsonl_is_fetched_checked_and_read_like_the_offline_form(
        tmp_path: Path, no_mirror: Path, serve, monkeypatch: pytest.MonkeyPatch) -> None:
    host = tmp_path / "github"
    official = host / "rowanz/hellaswag/data/hellaswag_val.jsonl"
    official.parent.mkdir(parents=True)
    data = "".join(json.dumps(row) + "\n" for row in _HELLASWAG).encode()
    official.write_bytes(data)
    _official(monkeypatch, "hellaswag", url=f"{serve(host)}/rowanz/hellaswag/data/hellaswag_val.jsonl",
              git_blob=_blob(data), items=2)
    spec = IclTaskSpec(label="hellaswag", task_type="multiple_choice",
                       dataset_uri="eval/local_data/language_understanding/hellaswag.jsonl", num_fewshot=(0,))
    task = load_task_data(spec)
    assert task is not None and task.source == str(no_mirror / "sources/icl/hellaswag_val.jsonl")
    # the offline folder's 6-lines-an-item form of the same items reads to the same items
    offline = tmp_path / "hellaswag_val_full.txt.bz2"
    offline.write_bytes(bz2.compress("".join(
        f"{r['activity_label']}: {r['ctx']}\n{r['label']}\n" + "".join(e + "\n" for e in r["endings"])
        for r in _HELLASWAG).encode()))
    assert task.partitions[""] == read_hellaswag_bz2(offline) == read_hellaswag_jsonl(official)
    assert task.partitions[""][0].query == "Roof shingle removal: A man is sitting on a roof. he"


def test_hellaswag_with_the_wrong_blob_or_count_is_refused(tmp_path: Path, no_mirror: Path, serve,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    official = tmp_path / "gh/hellaswag_val.jsonl"
    official.parent.mkdir()
    data = "".join(json.dumps(row) + "\n" for row in _HELLASWAG).encode()
    official.write_bytes(data)
    base = serve(tmp_path / "gh")
    _official(monkeypatch, "hellaswag", url=f"{base}/hellaswag_val.jsonl", git_blob="0" * 40, items=2)
    with pytest.raises(UserError, match="git blob id"):
        source_path("hellaswag")
    _official(monkeypatch, "hellaswag", url=f"{base}/hellaswag_val.jsonl", git_blob=_blob(data), items=10_042)
    with pytest.raises(UserError, match="2 items where 10,042 were expected"):
        source_path("hellaswag")
    assert find_source("hellaswag") is None


def _mmlu_tar(path: Path, answer: str = "B", dev_rows: int = 5, choices: str = "a,b,c,d") -> None:
    """An MMLU data.tar: ``dev_rows`` dev rows (5: the few-shot examples) and 1 val/test row per subject."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for split in (*MMLU_SPLITS, "auxiliary_train"):
            for subject in MMLU_SUBJECTS:
                rows = f'"What is {subject}?",{choices},{answer}\n'.encode() * (dev_rows if split == "dev" else 1)
                info = tarfile.TarInfo(f"data/{split}/{subject}_{split}.csv")
                info.size = len(rows)
                tar.addfile(info, io.BytesIO(rows))


def test_mmlu_data_tar_is_unpacked_into_the_csv_folder(tmp_path: Path, no_mirror: Path, serve,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _mmlu_tar(tmp_path / "berkeley/data.tar")
    _official(monkeypatch, "mmlu", url=f"{serve(tmp_path / 'berkeley')}/data.tar")
    folder = source_path("mmlu")
    assert folder == no_mirror / "sources/icl/mmlu" and not (folder / "auxiliary_train").exists()
    items = read_mmlu_csv(folder, "test")
    assert len(items) == 57 and items[0].gold == 1 and items[0].category == "abstract_algebra"


@pytest.mark.parametrize(("changes", "message"), [
    ({"answer": "E"}, r"dev/abstract_algebra_dev.csv line 1: expected 6 columns"),  # no answer letter
    ({"choices": "a,b,c"}, r"dev/abstract_algebra_dev.csv line 1: expected 6 columns"),  # three choices
    ({"dev_rows": 4}, r"dev/abstract_algebra_dev.csv has 4 rows where 5 were expected"),  # not the 5 shots
])
def test_malformed_mmlu_csv_files_are_refused(tmp_path: Path, no_mirror: Path, serve, monkeypatch: pytest.MonkeyPatch,
                                             changes: dict[str, object], message: str) -> None:
    _mmlu_tar(tmp_path / "berkeley/data.tar", **changes)  # type: ignore[arg-type]
    _official(monkeypatch, "mmlu", url=f"{serve(tmp_path / 'berkeley')}/data.tar")
    with pytest.raises(UserError, match=message):
        source_path("mmlu")
    assert find_source("mmlu") is None


def test_an_empty_wikipedia_shard_is_refused(tmp_path: Path, no_mirror: Path, serve,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    shard = tmp_path / "hub/shard.parquet"
    shard.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(_wiki_rows(1)).slice(0, 0), shard)
    _official(monkeypatch, "enwiki-sample", url=f"{serve(tmp_path / 'hub')}/shard.parquet")
    with pytest.raises(UserError, match="the parquet shard has no rows"):
        source_path("enwiki-sample")
    assert find_source("enwiki-sample") is None


def test_a_damaged_mmlu_tar_is_one_user_error_and_not_kept(tmp_path: Path, no_mirror: Path, serve,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "berkeley/data.tar"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00" * 100 + b"not a tar archive" * 50)
    _official(monkeypatch, "mmlu", url=f"{serve(tmp_path / 'berkeley')}/data.tar")
    with pytest.raises(UserError, match=r"MMLU data.tar is damaged") as err:
        source_path("mmlu")
    assert err.value.fix and "re-run" in err.value.fix
    assert not (no_mirror / "sources/icl/mmlu").exists() and (no_mirror / "sources/downloads").is_dir()
    assert not [p for p in (no_mirror / "sources/downloads").glob("*") if p.is_file()]  # no partial to resume from


def test_a_github_member_is_checked_against_its_blob_id(tmp_path: Path, no_mirror: Path, serve,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    zip_bytes = b"PK\x05\x06" + bytes(18)  # an empty zip
    (tmp_path / "gh/packages/corpora").mkdir(parents=True)
    (tmp_path / "gh/packages/corpora/abc.zip").write_bytes(zip_bytes)
    _official(monkeypatch, "nltk", url=f"{serve(tmp_path / 'gh')}/packages/corpora",
              members={"abc.zip": _blob(zip_bytes)})
    assert source_path("nltk", "abc.zip").read_bytes() == zip_bytes
    with pytest.raises(UserError, match="not in the data source 'nltk'"):
        source_path("nltk", "other.zip")


# --- (d) retscale data list ----------------------------------------------------------------------------------

def test_data_list_shows_every_task_and_source_cached_and_on_the_mirror(
        shared_data: Path, no_mirror: Path, serve, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def listing() -> dict[str, list[str]]:
        assert main(["data", "list"]) == 0
        rows = {}
        for line in capsys.readouterr().out.splitlines():
            cells = line.split()
            if cells and (cells[0] in SOURCES or cells[0] in TASKS):
                rows[cells[0]] = cells
        return rows

    rows = listing()
    assert set(rows) == set(SOURCES) | set(TASKS)
    assert rows["enwiki-sample"][2:4] == ["no", "none"] and rows["scifact"][6:8] == ["no", "none"]

    monkeypatch.setenv("RETSCALE_DATA_MIRROR", serve(shared_data))
    source_path("hellaswag")
    rows = listing()
    assert rows["hellaswag"][2:4] == ["yes", "yes"] and rows["enwiki-sample"][2:4] == ["no", "yes"]
    assert rows["scifact"][6:8] == ["no", "yes"] and rows["nq"][7] == "no"
    assert rows["gauntlet-local-data"][2:4] == ["no", "yes"]

    monkeypatch.delenv("RETSCALE_DATA_MIRROR")
    monkeypatch.setenv("RETSCALE_SHARED_DATA", str(shared_data))
    rows = listing()
    assert rows["mmlu"][2:5] == ["no", "in", "place"]


def test_hf_hub_offline_means_the_hub_is_not_asked(no_mirror: Path) -> None:
    """The real Wikipedia URL (huggingface.co) is not contacted while HF_HUB_OFFLINE is set (conftest sets it)."""
    with pytest.raises(UserError, match=r"resolve/.*\.parquet: not tried \(HF_HUB_OFFLINE is set\).*RETSCALE_DATA_MIRROR"):
        source_path("enwiki-sample")
