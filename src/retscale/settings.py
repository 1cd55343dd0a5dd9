"""Where retscale keeps things, from environment variables.

| variable               | meaning                                                                 | default                          |
|------------------------|-------------------------------------------------------------------------|----------------------------------|
| ``RETSCALE_HOME``      | cache root: datasets, embeddings, checkpoints                           | the user cache dir + ``retscale``|
| ``RETSCALE_DATA_MIRROR``| a mirror laid out like the offline data folder (path, file:// or http://)| ``$RETSCALE_SHARED_DATA``        |
| ``RETSCALE_SHARED_DATA``| an offline data folder with ``beir/``, ``text/``, ``icl/`` (read in place)| unset                            |

A data set missing from both is downloaded from its official URL (``retscale.data.sources``) into
``$RETSCALE_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from retscale.errors import UserError


def retscale_home() -> Path:
    home = os.environ.get("RETSCALE_HOME")
    path = Path(home).expanduser() if home else Path(platformdirs.user_cache_dir("retscale"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(kind: str) -> Path:
    """A sub-folder of the cache root, e.g. ``cache_dir("datasets")``."""
    path = retscale_home() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir(required: bool = True) -> Path | None:
    """The offline data folder (``RETSCALE_SHARED_DATA``), checked to exist."""
    value = os.environ.get("RETSCALE_SHARED_DATA")
    if not value:
        if required:
            raise UserError("RETSCALE_SHARED_DATA is not set",
                            fix="export RETSCALE_SHARED_DATA=/path/to/shared/data (the folder with beir/, text/, icl/)")
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise UserError(f"RETSCALE_SHARED_DATA points to {path}, which is not a folder",
                        fix="point it at the folder that holds beir/, text/ and icl/")
    return path


def shared_path(*parts: str) -> Path:
    """A path inside the offline data folder, with a clear error if it is missing."""
    root = shared_data_dir(required=True)
    assert root is not None
    path = root.joinpath(*parts)
    if not path.exists():
        raise UserError(f"{path} does not exist", fix="check RETSCALE_SHARED_DATA")
    return path


MIRROR_SETTING = "RETSCALE_DATA_MIRROR"


def data_mirror() -> str | None:
    """Base location replacing the official download URLs (laid out like the offline data folder: ``beir/``,
    ``text/``, ``icl/``), or None for the official ones. Defaults to the offline data folder."""
    value = os.environ.get(MIRROR_SETTING)
    if value:
        return value
    root = shared_data_dir(required=False)
    return None if root is None else str(root)
