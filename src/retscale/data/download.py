"""Byte transfer shared by the BEIR fetcher and the public-source fetcher: copy a local file or download an
``http(s)://`` URL into a ``.partial`` file, with a progress bar; try candidate locations in order and say why each
one failed. An interrupted HTTP download resumes with a Range request guarded by If-Range: the URL and the
server's validator (a strong ETag, else Last-Modified) are kept beside the partial file, so a file that changed on
the server, or another URL, starts over instead of splicing two versions together.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from tqdm import tqdm

from retscale.errors import UserError
from retscale.fileio import write_json

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_S = 60


def partial_path(target: Path) -> Path:
    """Where ``target`` is written until it is complete and checked: a hidden file beside it."""
    return target.with_name(f".{target.name}.partial")


def join_location(base: str, relative: str) -> str:
    """``base`` (a folder, ``file://`` or ``http(s)://`` base) joined with a ``/``-separated relative path."""
    if base.startswith(("http://", "https://")):
        return base.rstrip("/") + "/" + urllib.parse.quote(relative.lstrip("/"))
    if base.startswith("file://"):
        base = urllib.request.url2pathname(urllib.parse.urlparse(base).path)
    return str(Path(base).expanduser() / relative)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def probe(location: str) -> str:
    """Whether ``location`` exists: a file test, or one HEAD request (``"yes"``, ``"no"`` or ``"unreachable"``)."""
    if not is_url(location):
        return "yes" if Path(location).exists() else "no"
    request = urllib.request.Request(location, method="HEAD", headers={"User-Agent": "retscale"})
    try:
        with urllib.request.urlopen(request, timeout=5):
            return "yes"
    except urllib.error.HTTPError:
        return "no"
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return "unreachable"


def _hub_offline(location: str) -> bool:
    """A Hugging Face hub URL while ``HF_HUB_OFFLINE`` is set: the user said not to contact the hub."""
    host = urllib.parse.urlparse(location).hostname or ""
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return is_url(location) and host.endswith("huggingface.co") and flag not in ("", "0", "false", "no", "off")


def copy_stream(src: IO[bytes], dst: IO[bytes], total: int | None, desc: str) -> int:
    done = 0
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False,
              disable=total is not None and total < 8 * CHUNK) as bar:
        while block := src.read(CHUNK):
            dst.write(block)
            done += len(block)
            bar.update(len(block))
    return done


def origin_path(partial: Path) -> Path:
    """Where the URL and validator of the bytes in ``partial`` are kept while a download is unfinished."""
    return partial.with_name(partial.name + ".origin.json")


def _validator(headers: http.client.HTTPMessage) -> str | None:
    """What If-Range may carry: a strong ETag (RFC 9110 forbids weak ones there), else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _resume_validator(url: str, partial: Path) -> str | None:
    """The validator under which ``partial`` holds a prefix of ``url``, or None when it cannot be resumed."""
    if not partial.exists() or not partial.stat().st_size:
        return None
    try:
        origin = json.loads(origin_path(partial).read_text())
    except (OSError, ValueError):
        return None  # no record of where these bytes came from: do not splice onto them
    if not isinstance(origin, dict) or origin.get("url") != url:
        return None
    validator = origin.get("validator")
    return validator if isinstance(validator, str) and validator else None


def _resume_is_consistent(response: http.client.HTTPResponse, have: int, validator: str) -> bool:
    """A 206 continues our bytes only if it starts where they stop and comes from the same version of the file
    (a server or proxy that ignores If-Range would otherwise splice two versions together)."""
    content_range = response.headers.get("Content-Range", "")
    fresh = _validator(response.headers)
    return content_range.startswith(f"bytes {have}-") and (fresh is None or fresh == validator)


def http_download(url: str, partial: Path, desc: str) -> dict[str, str]:
    """HTTP(S) download into ``partial``, resuming a previous partial download of the same unchanged file;
    returns the response headers."""
    validator = _resume_validator(url, partial)
    have = partial.stat().st_size if validator else 0
    request = urllib.request.Request(url, headers={"User-Agent": "retscale"})
    if validator:
        request.add_header("Range", f"bytes={have}-")
        request.add_header("If-Range", validator)  # changed on the server: a 200 with the whole new file
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the partial file is already whole
            origin_path(partial).unlink(missing_ok=True)
            return {}
        raise
    with response:
        resumed = bool(have) and response.status == 206
        if resumed and not _resume_is_consistent(response, have, validator or ""):
            partial.unlink(missing_ok=True)
            origin_path(partial).unlink(missing_ok=True)
            raise UserError(f"{url} answered a resumed download with other bytes than the partial file's "
                            f"continuation; the partial file was deleted", fix="re-run to download it from the start")
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with open(partial, "ab" if resumed else "wb") as out:
            if not resumed:  # the file is empty now: record where the bytes about to be written come from
                fresh = _validator(response.headers)
                if fresh:
                    write_json(origin_path(partial), {"url": url, "validator": fresh})
                else:  # nothing to check a resume against: an interrupted download starts over
                    origin_path(partial).unlink(missing_ok=True)
            got = copy_stream(response, out, total, desc)
            out.flush()
            os.fsync(out.fileno())
        headers = dict(response.headers.items())
    if total is not None and got != total:
        raise UserError(f"download of {url} stopped after {got:,} of {total:,} bytes",
                        fix="re-run the same command to resume")
    origin_path(partial).unlink(missing_ok=True)  # complete: nothing left to resume
    return headers


def acquire(candidates: list[str], partial: Path, desc: str) -> tuple[str | None, dict[str, str], list[str]]:
    """Put the bytes of the first candidate that has them into ``partial``.

    Returns ``(source, response headers, problems)``: ``source`` is None when every candidate failed, and
    ``problems`` says why each one before the winner failed (``"<location>: <reason>"``).
    """
    problems: list[str] = []
    for source in candidates:
        if _hub_offline(source):
            problems.append(f"{source}: not tried (HF_HUB_OFFLINE is set)")
            continue
        try:
            if is_url(source):
                log.debug("downloading %s", source)  # a failure is reported once, by the caller
                return source, http_download(source, partial, desc), problems
            path = Path(source)
            if not path.is_file():
                problems.append(f"{source}: not found")
                continue
            with open(path, "rb") as src, open(partial, "wb") as dst:
                copy_stream(src, dst, path.stat().st_size, desc)
            origin_path(partial).unlink(missing_ok=True)
            return source, {}, problems
        except urllib.error.HTTPError as exc:  # nothing was written: a partial file from before stays resumable
            problems.append(f"{source}: HTTP {exc.code} {exc.reason}")
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            problems.append(f"{source}: {type(exc).__name__} ({reason})")
    return None, {}, problems
