"""Small file helpers shared by every stage: atomic writes, line-numbered JSONL reading, hashing."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from retscale.errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write to a temp file in the same folder, fsync, then rename over ``path``.

    A crash leaves either the old file or none — never a half-written one that looks complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should be readable like any other file
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if needed) for the block: one process at a time does
    the work, the others wait and then usually find it done (re-check inside the block)."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as pretty, key-sorted JSON."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        fh.write("\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON ({exc.msg})", path=path, line=exc.lineno) from None


def open_text(path: str | Path) -> IO[str]:
    """Open a text file (optionally .gz) as UTF-8, tolerating a BOM and CRLF line ends."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=None)
    return open(path, encoding="utf-8-sig", newline=None)


def iter_jsonl(path: str | Path, *, display_name: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; a bad line raises a one-line ``UserError``.

    Lines are decoded one by one, so bytes that are not UTF-8 are reported with their exact line number.
    """
    name = display_name or str(path)
    path = Path(path)
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        fh = opener(path, "rb")
    except FileNotFoundError:
        raise UserError("file not found", path=name) from None
    except IsADirectoryError:
        raise UserError("is a folder, not a JSONL file", path=name) from None
    with fh:
        yield from iter_jsonl_lines(fh, name)


def _read_lines(lines: Any, name: str) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` from text or byte lines; undecodable or damaged input is a ``UserError``."""
    it = iter(lines)
    lineno = 0
    while True:
        lineno += 1
        try:
            raw = next(it)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:  # a text stream decodes ahead: the line is approximate
            raise UserError(f"not UTF-8 text ({exc.reason}) at or after this line", path=name, line=lineno,
                            fix="re-save the file as UTF-8") from None
        except (OSError, EOFError, zlib.error) as exc:  # e.g. a .gz that is not gzip, or a truncated one
            raise UserError(f"cannot read the file ({exc})", path=name, line=lineno,
                            fix="a .gz file must be complete gzip data; otherwise drop the .gz suffix") from None
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line)", path=name,
                                line=lineno, fix="re-save the file as UTF-8") from None
        yield lineno, raw


def iter_jsonl_lines(lines: Any, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Parse an iterable of JSONL lines (text or UTF-8 bytes); ``name`` is used in error messages."""
    for lineno, raw in _read_lines(lines, name):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=name, line=lineno,
                            fix="each line must be one JSON object") from None
        if not isinstance(obj, dict):
            raise UserError(f"expected a JSON object, got {type(obj).__name__}", path=name, line=lineno)
        yield lineno, obj


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: list[Path]) -> str:
    """One digest over several files (name + content), order-independent — e.g. a model folder's weights."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable object, independent of dict order — used as a cache key."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
