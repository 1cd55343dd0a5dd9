"""Copy what a reader needs from a study folder — no models, no caches — into a folder to commit or share.

``docs/results/full/`` is made this way: the self-contained report, ``results.csv``, the config snapshot, the
tables (CSV) and figures (PNG + PDF). ``retscale report RUN --publish DIR`` rebuilds them from the store first, so
the copy is current.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from retscale.errors import UserError
from retscale.fileio import atomic_write
from retscale.study.names import CONFIG_FILE, FIGURES_DIR, REPORT_FILE, RESULTS_CSV, TABLES_DIR

FILES = (REPORT_FILE, RESULTS_CSV, CONFIG_FILE)
FOLDERS = (TABLES_DIR, FIGURES_DIR)


def publish(study_dir: str | Path, dest: str | Path) -> list[Path]:
    """Copy the report, results.csv, config.json, tables/ and figures/ of ``study_dir`` into ``dest``."""
    study_dir, dest = Path(study_dir), Path(dest)
    if dest.resolve() == study_dir.resolve():
        raise UserError("the publish folder is the run folder itself", path=dest, fix="give another folder")
    sources = [study_dir / f for f in FILES] + sorted(p for d in FOLDERS for p in (study_dir / d).glob("*") if p.is_file())
    missing = [str(p) for p in sources[:len(FILES)] if not p.is_file()]
    if missing:
        raise UserError(f"{', '.join(missing)} not found", path=study_dir,
                        fix="run `retscale study` (or `retscale report STUDY_DIR`) on this folder first")
    written = []
    for src in sources:
        target = dest / src.relative_to(study_dir)
        with atomic_write(target, "wb") as fh, src.open("rb") as inp:
            shutil.copyfileobj(inp, fh)
        written.append(target)
    return written
