"""Fetching registry tasks: mirrors (path, file://, loopback http://), verification, atomicity, resume."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import ClassVar

import pytest

from data_fixtures import write_zip
from retscale.cli import main
from retscale.data import TaskSpec, fetch_task, load_task
from retscale.data.download import origin_path
from retscale.data.fetch import cached_archive, read_manifest
from retscale.data.registry import TASKS
from retscale.errors import UserError
from retscale.fileio import sha256_file, write_json

TINY = TaskSpec(name="tiny", url=None, docs=3, queries=2, qrels=3)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Register a 'tiny' task, point the mirror at a folder holding tiny.zip, and use a fresh cache."""
    monkeypatch.setitem(TASKS, "tiny", TINY)
    monkeypatch.setenv("RETSCALE_HOME", str(tmp_path / "home"))
    mirror = tmp_path / "mirror"
    write_zip(mirror / "tiny.zip")
    monkeypatch.setenv("RETSCALE_DATA_MIRROR", str(mirror))
    return mirror


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range and If-Range support (enough to test resumed downloads); quiet. The ETag
    is the file's size and mtime, as many static servers make it."""

    ranges: ClassVar[list[str]] = []  # Range headers seen, so the resume test can prove it resumed
    ignore_if_range: ClassVar[bool] = False  # play a server (or proxy) that answers every Range with a 206
    requests: ClassVar[list[str]] = []  # paths requested, so the concurrency test can count downloads

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        self.requests.append(self.path)
        ranged = self.headers.get("Range")
        if ranged:
            self.ranges.append(ranged)
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return super().send_head()
        data = path.read_bytes()
        etag = f'"{len(data)}-{path.stat().st_mtime_ns}"'
        if_range = self.headers.get("If-Range")
        honoured = if_range in (None, etag) or self.ignore_if_range
        start = int(ranged.removeprefix("bytes=").split("-")[0]) if ranged and honoured else 0
        self.send_response(206 if start else 200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        return io.BytesIO(data[start:])


@pytest.fixture
def http_mirror(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(tiny)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setenv("RETSCALE_DATA_MIRROR", base)
    yield base
    server.shutdown()
    server.server_close()


def test_plain_path_mirror_fetches_once_and_writes_manifest(tiny: Path) -> None:
    archive = fetch_task("tiny")
    assert archive == cached_archive(TINY) and archive.is_file()
    manifest = read_manifest(TINY)
    assert manifest is not None and manifest["sha256"] == sha256_file(tiny / "tiny.zip")
    assert manifest["counts"]["tiny"] == {"docs": 3, "queries": 2, "qrels": 3}
    (tiny / "tiny.zip").unlink()  # cached: the mirror is not needed again
    assert fetch_task("tiny") == archive
    assert load_task("tiny").checksum == manifest["sha256"]


def test_file_url_mirror(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETSCALE_DATA_MIRROR", tiny.as_uri())
    assert fetch_task("tiny").is_file()


def test_http_mirror_and_fetch_on_first_use(http_mirror: str) -> None:
    ds = load_task("tiny")
    assert ds.counts() == {"docs": 3, "queries": 2, "qrels": 3}
    assert read_manifest(TINY)["source"] == http_mirror + "tiny.zip"


def _interrupted_download(url: str, partial_file: Path, data: bytes, validator: str) -> None:
    """What an interrupted download leaves: the first half of the bytes and the record of their origin."""
    partial_file.parent.mkdir(parents=True, exist_ok=True)
    partial_file.write_bytes(data[: len(data) // 2])
    write_json(origin_path(partial_file), {"url": url, "validator": validator})


def test_http_resumes_a_partial_download(http_mirror: str, tiny: Path) -> None:
    whole = (tiny / "tiny.zip").read_bytes()
    partial_file = cached_archive(TINY).with_name(".tiny.zip.partial")
    etag = f'"{len(whole)}-{(tiny / "tiny.zip").stat().st_mtime_ns}"'
    _interrupted_download(http_mirror + "tiny.zip", partial_file, whole, etag)
    assert read_manifest(TINY) is None  # a partial download never looks complete
    _RangeHandler.ranges.clear()
    assert fetch_task("tiny").read_bytes() == whole
    # beir/tiny.zip (absent, and another URL: not resumed; the 404 leaves the partial file) and then tiny.zip,
    # whose unchanged ETag lets it resume
    assert _RangeHandler.ranges == [f"bytes={len(whole) // 2}-"]
    assert not partial_file.exists() and not origin_path(partial_file).exists()


def test_http_starts_over_when_the_file_changed_on_the_server(http_mirror: str, tiny: Path) -> None:
    whole = (tiny / "tiny.zip").read_bytes()
    partial_file = cached_archive(TINY).with_name(".tiny.zip.partial")
    # the first half of an older version of the file: resuming onto it would splice two versions together
    _interrupted_download(http_mirror + "tiny.zip", partial_file, b"x" * len(whole), '"older-version"')
    _RangeHandler.ranges.clear()
    assert fetch_task("tiny").read_bytes() == whole  # If-Range did not match: the server sent the whole file
    assert _RangeHandler.ranges == [f"bytes={len(whole) // 2}-"]


def test_a_206_from_another_version_is_refused_not_spliced(http_mirror: str, tiny: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    whole = (tiny / "tiny.zip").read_bytes()
    partial_file = cached_archive(TINY).with_name(".tiny.zip.partial")
    _interrupted_download(http_mirror + "tiny.zip", partial_file, b"x" * len(whole), '"older-version"')
    monkeypatch.setattr(_RangeHandler, "ignore_if_range", True)
    with pytest.raises(UserError, match="answered a resumed download with other bytes"):
        fetch_task("tiny")
    assert not partial_file.exists() and not origin_path(partial_file).exists()
    assert fetch_task("tiny").read_bytes() == whole  # re-run: from the start


def test_http_partial_without_an_origin_record_is_not_resumed(http_mirror: str, tiny: Path) -> None:
    whole = (tiny / "tiny.zip").read_bytes()
    partial_file = cached_archive(TINY).with_name(".tiny.zip.partial")
    partial_file.parent.mkdir(parents=True, exist_ok=True)
    partial_file.write_bytes(b"x" * (len(whole) // 2))
    _RangeHandler.ranges.clear()
    assert fetch_task("tiny").read_bytes() == whole
    assert _RangeHandler.ranges == []


def test_concurrent_fetches_download_once(http_mirror: str) -> None:
    _RangeHandler.requests.clear()
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(fetch_task("tiny"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [cached_archive(TINY)] * 3
    # one download: the mirror's beir/ folder first (the offline data folder's layout), then its top level
    assert _RangeHandler.requests == ["/beir/tiny.zip", "/tiny.zip"]


def test_http_404_is_a_user_error(http_mirror: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASKS, "absent", TaskSpec(name="absent", url=None, docs=1, queries=1, qrels=1))
    with pytest.raises(UserError, match=r"absent\.zip: HTTP 404"):
        fetch_task("absent")


def test_count_mismatch_leaves_nothing_cached(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASKS, "tiny", TaskSpec(name="tiny", url=None, docs=4, queries=2, qrels=3))
    with pytest.raises(UserError, match=r"tiny count mismatch: docs 3 \(expected 4\)"):
        fetch_task("tiny")
    left = [p.name for p in cached_archive(TINY).parent.iterdir() if not p.name.endswith(".lock")]
    assert left == []  # no zip, no manifest, no partial to resume from


def test_pinned_checksum_mismatch(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASKS, "tiny", TaskSpec(name="tiny", url=None, docs=3, queries=2, qrels=3, sha256="0" * 64))
    with pytest.raises(UserError, match=r"checksum mismatch for tiny\.zip"):
        fetch_task("tiny")
    assert not cached_archive(TINY).exists()


def test_wrong_layout_in_mirror(tiny: Path) -> None:
    write_zip(tiny / "tiny.zip", members={"tiny/readme.txt": "not a dataset"})
    with pytest.raises(UserError, match="wrong zip layout"):
        fetch_task("tiny")
    assert not cached_archive(TINY).exists()


def test_no_source_at_all(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETSCALE_DATA_MIRROR", str(tiny / "empty"))
    with pytest.raises(UserError, match=r"could not get tiny.zip: .*not found"):
        fetch_task("tiny")


def test_zip_without_manifest_is_refetched_and_force_replaces(tiny: Path) -> None:
    archive = cached_archive(TINY)
    archive.write_bytes(b"half a zip")  # e.g. a crash before the manifest was written
    assert fetch_task("tiny").read_bytes() == (tiny / "tiny.zip").read_bytes()
    write_zip(tiny / "tiny.zip", qrels="q1\td1\t1\nq1\t3\t1\nq2\td2\t2\n")  # new upstream version
    old = read_manifest(TINY)["sha256"]
    assert fetch_task("tiny")  # cached copy still used without --force
    assert read_manifest(TINY)["sha256"] == old
    fetch_task("tiny", force=True)
    assert read_manifest(TINY)["sha256"] == sha256_file(tiny / "tiny.zip") != old


def test_cli_fetch(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "tiny"]) == 0
    assert str(cached_archive(TINY)) in capsys.readouterr().out
    assert main(["data", "fetch", "tiny", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown task 'nope'" in err
    assert main(["data", "list"]) == 0
    assert "trec-dl19-pool" in capsys.readouterr().out
