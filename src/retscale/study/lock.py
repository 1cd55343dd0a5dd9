"""One study process per output folder: an exclusive ``flock`` on ``OUT/.lock`` for the whole run.

A second ``retscale study`` on a folder in use exits at once with one line naming the folder and the PID holding
it (it does not wait: a study can run for days). The kernel drops the lock when its holder exits, even on
``kill -9``, so a stale ``.lock`` file never blocks anyone; the file is left in place (deleting a lock file races
with its next taker). Linux/macOS only (``fcntl``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retscale.errors import UserError

LOCK_NAME = ".lock"


@contextmanager
def study_lock(out_dir: Path) -> Iterator[Path]:
    """Hold the folder's lock for the ``with`` block; ``UserError`` if another process holds it."""
    path = out_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise UserError(f"another retscale study (PID {holder}) is running in {out_dir}",
                            fix="wait for it to finish, or give this one another --output folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
