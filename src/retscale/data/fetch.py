"""Download registry tasks into the cache (``cache_dir("datasets")``), verified and atomic; load tasks by name.

Where from: the mirror (``RETSCALE_DATA_MIRROR``: a plain folder, ``file://`` or ``http(s)://`` base laid out like
the offline data folder, zips under ``beir/``; by default ``$RETSCALE_SHARED_DATA``) replaces the official base URL;
if the mirror lacks the file, the official URL is tried. A download lands in ``.<name>.zip.partial`` (an interrupted HTTP download resumes from there), is checked
(zip layout, expected counts, pinned sha256), and only then renamed to ``<name>.zip``; ``<name>.json`` (sha256,
source, counts) is written last. A cached zip without a matching manifest is treated as absent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from retscale.data.beir import check_counts, load_beir
from retscale.data.download import acquire, join_location, partial_path, probe
from retscale.data.registry import TASKS, canonical_name, get_task
from retscale.data.types import BeirDataset, TaskSpec
from retscale.errors import UserError
from retscale.fileio import exclusive_lock, read_json, sha256_file, write_json
from retscale.settings import MIRROR_SETTING, cache_dir, data_mirror

log = logging.getLogger(__name__)


def cached_archive(spec: TaskSpec) -> Path:
    return cache_dir("datasets") / spec.archive_name


def _manifest_path(archive: Path) -> Path:
    return archive.with_suffix(".json")


def read_manifest(spec: TaskSpec) -> dict | None:
    """The manifest of a complete cached download, or None if the task is not (fully) cached."""
    archive = cached_archive(spec)
    manifest = _manifest_path(archive)
    if not archive.is_file() or not manifest.is_file():
        return None
    try:
        info = read_json(manifest)
    except UserError:
        return None
    return info if isinstance(info, dict) and info.get("bytes") == archive.stat().st_size else None


def _sources(spec: TaskSpec) -> list[str]:
    """Candidate locations of the archive, mirror first: ``<mirror>/beir/<zip>`` (a mirror laid out like the
    offline data folder), then ``<mirror>/<zip>`` (a folder of BEIR zips), then the official URL."""
    out = []
    mirror = data_mirror()
    if mirror:
        out += [join_location(mirror, f"beir/{spec.archive_name}"), join_location(mirror, spec.archive_name)]
    if spec.url:
        out.append(spec.url)
    return out


def mirror_status(spec: TaskSpec) -> str:
    """Whether the data mirror holds the task's archive: ``yes``, ``no``, ``unreachable`` or ``none set``."""
    if not data_mirror():
        return "none set"
    answers = [probe(location) for location in _sources(spec)[:2]]
    return "yes" if "yes" in answers else "unreachable" if "unreachable" in answers else "no"


def _acquire(spec: TaskSpec, partial: Path) -> str:
    """Put the archive bytes into ``partial`` from the first source that has them; returns that source."""
    source, _, problems = acquire(_sources(spec), partial, f"fetch {spec.archive_name}")
    if source is not None:
        return source
    if not problems:
        raise UserError(f"{spec.name} has no download URL and no data mirror is set",
                        fix=f"set {MIRROR_SETTING} to a folder or http:// base laid out like the offline data "
                            f"folder (beir/{spec.archive_name})")
    raise UserError(f"could not get {spec.archive_name}: " + "; ".join(problems),
                    fix=f"set {MIRROR_SETTING} to a folder, file:// or http:// base that holds "
                        f"beir/{spec.archive_name}, or check the network")


def _verify(spec: TaskSpec, archive: Path, source: str) -> dict:
    """Check pinned digest, layout and counts of every task stored in ``archive``; return the manifest."""
    digest = sha256_file(archive)
    if spec.sha256 and digest != spec.sha256:
        raise UserError(f"checksum mismatch for {spec.archive_name}: sha256 {digest[:12]}… expected "
                        f"{spec.sha256[:12]}…", path=source, fix="the mirror holds a different or damaged file")
    counts = {}
    beir_log = logging.getLogger("retscale.data.beir")
    level = beir_log.level
    beir_log.setLevel(logging.ERROR)  # data warnings (e.g. ArguAna's 5 absent docs) show on load, not twice
    try:
        for member in (s for s in TASKS.values() if s.archive_name == spec.archive_name):
            dataset = load_beir(archive, member.split, spec=member, archive_sha256=digest)
            check_counts(dataset, member, source)
            counts[member.name] = dataset.counts()
    finally:
        beir_log.setLevel(level)
    return {"archive": spec.archive_name, "sha256": digest, "bytes": archive.stat().st_size, "source": source,
            "counts": counts, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def fetch_task(name: str, force: bool = False) -> Path:
    """The verified cached zip of registry task ``name``, downloading it first if needed (or if ``force``)."""
    spec = get_task(name)
    archive = cached_archive(spec)
    if not force and read_manifest(spec) is not None:
        return archive
    # One fetcher at a time (e.g. torchrun ranks all calling load_task); the others then find it cached.
    with exclusive_lock(archive.with_name(f".{archive.name}.lock")):
        if not force and read_manifest(spec) is not None:
            return archive
        return _fetch_locked(spec, archive, force)


def _fetch_locked(spec: TaskSpec, archive: Path, force: bool) -> Path:
    partial = partial_path(archive)
    if force:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    source = _acquire(spec, partial)
    try:
        manifest = _verify(spec, partial, source)
    except UserError:
        partial.unlink()  # bad bytes must not be resumed from
        raise
    with contextlib.suppress(FileNotFoundError):
        _manifest_path(archive).unlink()  # never leave an old manifest beside new bytes
    os.replace(partial, archive)
    write_json(_manifest_path(archive), manifest)
    log.info("fetched %s from %s into %s", spec.archive_name, source, archive)
    return archive


def _is_path(value: str | Path) -> bool:
    """A ``Path``, or a string that is not a registry name and looks like (or is) a file system path."""
    if isinstance(value, Path):
        return True
    text = str(value)
    if canonical_name(text) is not None:
        return False  # registry names win over same-named folders in the working directory (use ./name)
    return "/" in text or os.sep in text or text.endswith(".zip") or Path(text).exists()


def load_task(name_or_path: str | Path, split: str | None = None) -> BeirDataset:
    """Load a registry task (fetched on first use) or a BEIR folder/zip path.

    ``split`` defaults to the task's evaluation split (``dev`` for msmarco, else ``test``). A path whose dataset
    name is a registry task gets that task's conventions (e.g. ArguAna's ``ignore_identical_ids``); its counts are
    compared with the registry's and a difference is logged, not raised (it may be a deliberate subset).
    """
    if _is_path(name_or_path):
        dataset = load_beir(name_or_path, split or "test")
        key = canonical_name(dataset.name)
        if key is not None:
            dataset.spec = TASKS[key]
            dataset.name = key
            try:
                check_counts(dataset, dataset.spec, dataset.source)
            except UserError as exc:
                log.warning("%s: %s (a subset or another version? its conventions still apply)", exc.path,
                            exc.problem)
        return dataset
    spec = get_task(str(name_or_path))
    archive = fetch_task(spec.name)
    manifest = read_manifest(spec) or {}
    return load_beir(archive, split or spec.split, spec=spec, archive_sha256=manifest.get("sha256"))
