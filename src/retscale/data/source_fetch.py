"""Public data sources (``retscale.data.sources``) on first use: found in place, cached, or fetched and checked.

Where a file at ``<path>`` comes from, in order:

1. a local mirror — ``RETSCALE_SHARED_DATA`` or a folder / ``file://`` ``RETSCALE_DATA_MIRROR`` — read in place;
2. the cache, ``$RETSCALE_HOME/sources/<path>`` (a file there is complete: it is renamed in only after its checks);
3. an ``http(s)://`` ``RETSCALE_DATA_MIRROR`` (mirror base + ``<path>``), then the official URL, into the cache:
   downloaded into a ``.partial`` file (resumed after an interruption), checked (git blob id, item counts,
   layout), converted where the official format differs (Wikipedia parquet → jsonl.gz sample, MMLU ``data.tar``
   → csv folder), then renamed into place, with ``.<name>.source.json`` (where from, digest) beside it.

Offline with no mirror, the first fetch fails with one line naming the URL and the mirror setting.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import json
import logging
import os
import random
import re
import shutil
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retscale.data.download import acquire, is_url, join_location, partial_path, probe
from retscale.data.sources import MMLU_SPLITS, MMLU_SUBJECTS, PublicSource, WikipediaSample, get_source
from retscale.errors import UserError
from retscale.fileio import atomic_write, exclusive_lock, sha256_file, write_json
from retscale.settings import MIRROR_SETTING, cache_dir, shared_data_dir

log = logging.getLogger(__name__)

WIKI_FIELDS = ("id", "url", "title", "text")


# --- where things are ------------------------------------------------------------------------------------------

def local_mirrors() -> list[Path]:
    """Folders read in place: a folder or ``file://`` mirror setting, then ``RETSCALE_SHARED_DATA``."""
    out: list[Path] = []
    mirror = os.environ.get(MIRROR_SETTING)
    if mirror and not is_url(mirror):
        out.append(Path(join_location(mirror, ".")).resolve())
    shared = shared_data_dir(required=False)
    if shared is not None and shared not in out:
        out.append(shared)
    return out


def url_mirror() -> str | None:
    mirror = os.environ.get(MIRROR_SETTING)
    return mirror if mirror and is_url(mirror) else None


def cache_root() -> Path:
    return cache_dir("sources")


def _relative(source: PublicSource, member: str) -> str:
    return f"{source.path}/{member}" if member else source.path


def _forms(source: PublicSource, member: str) -> list[str]:
    """The relative paths that hold this file: its mirror form first, then its official form if that differs."""
    rel = _relative(source, member)
    return [rel, source.official_path] if source.official_path and not member else [rel]


def _find(source: PublicSource, member: str) -> Path | None:
    for rel in _forms(source, member):
        for root in local_mirrors():
            if (root / rel).exists():
                return root / rel
    for rel in _forms(source, member):
        if (cache_root() / rel).exists():
            return cache_root() / rel
    return None


def find_source(name: str, member: str = "") -> Path | None:
    """The file (or folder) if a local mirror or the cache has it, else None; nothing is fetched."""
    return _find(get_source(name), member)


def source_path(name: str, member: str = "") -> Path:
    """The local path of source ``name`` (a member file of a folder source when ``member`` is given), fetched
    into the cache on first use. A member the registry does not list is found only in a local mirror."""
    source = get_source(name)
    if member and member not in source.members:
        found = _find(source, member)
        if found is None:
            raise UserError(f"{_relative(source, member)} is not in the data source {name!r}",
                            fix="name one of its files (see 'retscale data list'), or add the file to a local mirror")
        return found
    if source.is_folder and not member and source.form == "members":
        raise UserError(f"the data source {name!r} is fetched file by file", fix="name one of its files")
    found = _find(source, member)
    if found is not None:
        return found
    with exclusive_lock(cache_root() / f".{name}.lock"):  # one fetcher at a time (e.g. torchrun ranks)
        found = _find(source, member)
        if found is not None:
            return found
        return _fetch(source, member)


def member_paths(name: str) -> list[Path]:
    """Every member file of a folder source, fetched on first use, in member order."""
    return [source_path(name, member) for member in get_source(name).members]


# --- checks ----------------------------------------------------------------------------------------------------

def git_blob_id(path: Path) -> str:
    """``git hash-object``: sha1 over ``blob <size>\\0`` and the bytes; GitHub trees name files by it."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_blob(path: Path, expected: str, where: str) -> None:
    if expected and (got := git_blob_id(path)) != expected:
        raise UserError(f"git blob id {got[:12]}… where {expected[:12]}… was pinned", path=where,
                        fix="the mirror or server holds a different or damaged file")


def _count_items(path: Path, rel: str) -> int:
    """HellaSwag items in the file at ``path`` whose form ``rel`` names: 6 lines an item in the offline
    ``.txt.bz2`` form, one line an item in the official jsonl."""
    import bz2

    if rel.endswith(".bz2"):
        with bz2.open(path, "rt", encoding="utf-8") as fh:
            lines = [ln for ln in fh if ln.strip()]
        return len(lines) // 6
    with open(path, encoding="utf-8") as fh:
        return sum(1 for ln in fh if ln.strip())


def _check_wiki_sample(path: Path, where: str) -> int:
    """Every line a JSON object with the sample's four fields; returns the article count."""
    n = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            row = json.loads(line)
            if not isinstance(row, dict) or any(key not in row for key in WIKI_FIELDS):
                raise UserError(f"line {n} lacks one of the fields {', '.join(WIKI_FIELDS)}", path=where)
    if not n:
        raise UserError("no articles", path=where)
    return n


def is_mmlu_row(row: list[str]) -> bool:
    """An MMLU csv row: question, four choices, answer letter (no header)."""
    return len(row) == 6 and row[5].strip() in ("A", "B", "C", "D")


def _check_mmlu(folder: Path, where: str) -> None:
    """57 subjects per split, every row a question, four choices and an answer letter, 5 dev rows a subject (the
    few-shot examples; the val/test row counts differ between releases, so they are not pinned)."""
    for split in MMLU_SPLITS:
        have = {p.name for p in (folder / split).glob(f"*_{split}.csv")}
        missing = [s for s in MMLU_SUBJECTS if f"{s}_{split}.csv" not in have]
        if missing:
            raise UserError(f"MMLU {split} lacks {len(missing)} of 57 subjects (e.g. {missing[0]})", path=where)
        for subject in MMLU_SUBJECTS:
            name = f"{split}/{subject}_{split}.csv"
            with open(folder / name, encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
            for line, row in enumerate(rows, start=1):
                if not is_mmlu_row(row):
                    raise UserError(f"{name} line {line}: expected 6 columns ending in the answer letter A-D",
                                    path=where, fix="the mirror or server holds a different or damaged file")
            if not rows or (split == "dev" and len(rows) != 5):
                raise UserError(f"{name} has {len(rows)} rows where {'5' if split == 'dev' else '≥ 1'} were expected",
                                path=where, fix="the mirror or server holds a different or damaged file")


# --- conversions -----------------------------------------------------------------------------------------------

_HEADING_LIKE = re.compile(r"^[A-Z0-9][^.!?;:]{0,58}$")


def mark_headings(text: str) -> str:
    """Give heading-like lines (≤ 6 words, ≤ 59 characters, no sentence punctuation) the trailing "." of the
    WikiExtractor output the offline sample comes from: the pair builder finds sections by it."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if i and _HEADING_LIKE.match(stripped) and len(stripped.split()) <= 6:
            lines[i] = stripped + "."
    return "\n".join(lines)


def _parquet_rows(path: Path, wanted: list[int]) -> Iterator[dict[str, str]]:
    """Rows ``wanted`` (ascending) of a parquet file, one row group in memory at a time."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    missing = [f for f in WIKI_FIELDS if f not in parquet.schema_arrow.names]
    if missing:
        raise UserError(f"parquet file lacks the columns {missing}", path=path,
                        fix="use a shard of a Wikipedia dataset with id, url, title, text")
    start, k = 0, 0
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        picked = []
        while k < len(wanted) and wanted[k] < start + size:
            picked.append(wanted[k] - start)
            k += 1
        if picked:
            table = parquet.read_row_group(group, columns=list(WIKI_FIELDS)).take(picked)
            yield from table.to_pylist()
        start += size


def sample_wikipedia(parquet: Path, out: Path, sample: WikipediaSample) -> int:
    """``sample.articles`` rows of a Wikipedia parquet shard, drawn with ``sample.seed`` and kept in shard order,
    written to ``out`` as the project's jsonl.gz (byte-identical for the same shard); returns the count."""
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(parquet).metadata.num_rows
    wanted = sorted(random.Random(sample.seed).sample(range(rows), min(sample.articles, rows)))
    n = 0
    with atomic_write(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        for row in _parquet_rows(parquet, wanted):
            record = {"id": str(row["id"]), "url": row["url"], "title": row["title"],
                      "text": mark_headings(row["text"] or "")}
            fh.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            n += 1
    return n


def _extract_mmlu(tar: Path, folder: Path) -> None:
    """``data/{dev,val,test}/*.csv`` of the MMLU ``data.tar`` into ``folder/{dev,val,test}/``."""
    with tarfile.open(tar) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[0] == "data" and parts[1] in MMLU_SPLITS \
                    and parts[2].endswith(".csv"):
                target = folder / parts[1] / parts[2]
                target.parent.mkdir(parents=True, exist_ok=True)
                src = archive.extractfile(member)
                assert src is not None
                with src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)


# --- fetching --------------------------------------------------------------------------------------------------

def _unavailable(source: PublicSource, rel: str, official: str, problems: list[str]) -> UserError:
    tried = "; ".join(problems) if problems else f"{official}: not tried"
    return UserError(f"could not fetch {source.name} ({rel}): {tried}",
                     fix=f"set {MIRROR_SETTING} to a folder or http:// base laid out like the offline data folder "
                         f"(holding {rel}), or RETSCALE_SHARED_DATA to such a folder")


def _get(candidates: list[str], partial: Path, desc: str, problems: list[str]) -> tuple[str | None, dict[str, str]]:
    origin, headers, failed = acquire(candidates, partial, desc)
    problems += failed
    return origin, headers


def _manifest(target: Path, source: PublicSource, origin: str, **extra: object) -> None:
    info = {"source": source.name, "origin": origin, "revision": source.revision,
            "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    write_json(target.with_name(f".{target.name}.source.json"), info)


def _check(source: PublicSource, member: str, rel: str, path: Path, origin: str) -> None:
    """The checks a fetched file must pass: its pinned blob id, its item count, or the sample's schema."""
    if member:
        _check_blob(path, source.members[member], origin)
    elif source.form == "wikipedia-parquet":
        _check_wiki_sample(path, origin)
    else:
        if rel == source.official_path or not source.official_path:
            _check_blob(path, source.git_blob or "", origin)
        if source.items is not None and (n := _count_items(path, rel)) != source.items:
            raise UserError(f"{n:,} items where {source.items:,} were expected", path=origin)


def _install(source: PublicSource, member: str, rel: str, partial: Path, origin: str) -> Path:
    """Check ``partial`` and rename it into the cache at ``rel``; bad bytes are deleted, never resumed from."""
    try:
        _check(source, member, rel, partial, origin)
    except UserError:
        partial.unlink()
        raise
    except Exception as exc:  # a truncated gzip/bz2, bad JSON: damaged bytes, not a bug in retscale
        partial.unlink()
        raise UserError(f"the fetched {rel} is damaged ({type(exc).__name__}: {exc})", path=origin,
                        fix="re-run to fetch it again, or check the mirror's copy") from None
    target = cache_root() / rel
    os.replace(partial, target)
    _manifest(target, source, origin, sha256=sha256_file(target))
    log.info("fetched %s from %s into %s", rel, origin, target)
    return target


def _partial(rel: str) -> Path:
    target = cache_root() / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    return partial_path(target)


def _fetch(source: PublicSource, member: str) -> Path:
    if source.form == "mmlu-tar":
        return _fetch_mmlu(source)
    problems = [f"{root / _relative(source, member)}: not found" for root in local_mirrors()]
    mirror = url_mirror()
    if mirror:  # the mirror holds the project's form (or, for HellaSwag, possibly the official one)
        for rel in _forms(source, member):
            partial = _partial(rel)
            origin, _ = _get([join_location(mirror, rel)], partial, f"fetch {rel}", problems)
            if origin is not None:
                return _install(source, member, rel, partial, origin)
    official = join_location(source.url, member) if member else source.url
    if source.form == "wikipedia-parquet":
        return _fetch_wikipedia(source, official, problems)
    rel = source.official_path or _relative(source, member)
    partial = _partial(rel)
    origin, _ = _get([official], partial, f"fetch {source.name}", problems)
    if origin is None:
        raise _unavailable(source, _relative(source, member), official, problems)
    return _install(source, member, rel, partial, origin)


def _fetch_wikipedia(source: PublicSource, official: str, problems: list[str]) -> Path:
    assert source.sample is not None
    target = cache_root() / source.path
    shard = cache_root() / "downloads" / official.rsplit("/", 1)[-1]
    shard.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(shard)
    origin, headers = _get([official], partial, f"fetch {source.name} shard", problems)
    if origin is None:
        raise _unavailable(source, source.path, official, problems)
    shard_sha256 = sha256_file(partial)
    try:
        n = sample_wikipedia(partial, target, source.sample)
        if not n:
            target.unlink()
            raise UserError("the parquet shard has no rows", path=origin,
                            fix="point the Wikipedia source at a shard with articles, or check the mirror's copy")
    except Exception as exc:
        partial.unlink()  # a damaged shard must not be resumed from
        if isinstance(exc, UserError):
            raise
        raise UserError(f"not a readable parquet shard ({type(exc).__name__}: {exc})", path=origin,
                        fix="re-run to download it again, or check the mirror's copy") from None
    _manifest(target, source, origin, articles=n, shard_sha256=shard_sha256, sha256=sha256_file(target),
              repo_commit=headers.get("X-Repo-Commit", headers.get("x-repo-commit", "")),
              sample={"articles": source.sample.articles, "seed": source.sample.seed})
    partial.unlink()
    log.info("sampled %d Wikipedia articles from %s into %s", n, origin, target)
    return target


def _fetch_mmlu(source: PublicSource) -> Path:
    problems = [f"{root / source.path}: not found" for root in local_mirrors()]
    target = cache_root() / source.path
    staging = partial_path(target)
    shutil.rmtree(staging, ignore_errors=True)
    mirror = url_mirror()
    origin = None
    if mirror:
        for member in source.members:
            path = staging / member
            path.parent.mkdir(parents=True, exist_ok=True)
            got, _ = _get([join_location(mirror, f"{source.path}/{member}")], path, f"fetch mmlu/{member}", problems)
            if got is None:
                break
        else:
            origin = join_location(mirror, source.path)
    if origin is None:
        shutil.rmtree(staging, ignore_errors=True)
        tar = cache_root() / "downloads" / "mmlu-data.tar"
        tar.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(tar)
        origin, _ = _get([source.url], partial, "fetch mmlu data.tar", problems)
        if origin is None:
            raise _unavailable(source, source.path, source.url, problems)
        tar_sha256 = sha256_file(partial)
        try:
            _extract_mmlu(partial, staging)
        except (tarfile.TarError, OSError) as exc:
            partial.unlink()
            raise UserError(f"the fetched MMLU data.tar is damaged ({type(exc).__name__}: {exc})", path=origin,
                            fix="re-run to fetch it again") from None
        partial.unlink()
        log.info("MMLU data.tar sha256 %s", tar_sha256)
    _check_mmlu(staging, origin)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(target)
    os.replace(staging, target)
    _manifest(target, source, origin)
    return target


# --- status ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceStatus:
    cached: str  # "yes" | "no" | "m/n files"
    mirror: str  # "in place <folder>" | "yes" | "no" | "unreachable" | "none set"


def source_status(source: PublicSource) -> SourceStatus:
    """Whether ``source`` is in the cache, and whether a mirror has it (one HEAD request for a URL mirror)."""
    root = cache_root()
    if source.form == "members":
        have = sum((root / _relative(source, m)).exists() for m in source.members)
        cached = "yes" if have == len(source.members) else "no" if not have else f"{have}/{len(source.members)} files"
        probe_rel = _relative(source, next(iter(source.members)))
    else:
        cached = "yes" if any((root / rel).exists() for rel in _forms(source, "")) else "no"
        probe_rel = _relative(source, next(iter(source.members))) if source.form == "mmlu-tar" else source.path
    for folder in local_mirrors():
        if any((folder / rel).exists() for rel in _forms(source, "")):
            return SourceStatus(cached, f"in place {folder}")
    mirror = url_mirror()
    return SourceStatus(cached, probe(join_location(mirror, probe_rel)) if mirror else "none set")
