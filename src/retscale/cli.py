"""The ``retscale`` command: a thin driver over the stages.

Each sub-command lives in its stage as a ``commands`` module that defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import heavy libraries (torch, transformers)
inside ``run`` so that ``retscale --help`` stays fast.

``main`` is the one place where failures become output: a ``UserError`` and the other expected failures
(``explain``: a path that cannot be written, a damaged file, invalid settings) print one line and exit 2; any
other exception is a bug and prints one line saying so (exit 1), with the traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sqlite3
import sys
import traceback
import zipfile
from types import ModuleType

from retscale import __version__
from retscale.errors import UserError

# Pipeline order: this is also the order ``retscale --help`` lists them in.
COMMANDS: dict[str, str] = {
    "data": "retscale.data.commands",
    "evaluate": "retscale.evaluate.commands",
    "pairs": "retscale.pairs.commands",
    "mine": "retscale.mining.commands",
    "finetune": "retscale.finetune.commands",
    "pretrain": "retscale.pretrain.commands",
    "icl": "retscale.icl.commands",
    "study": "retscale.experiment",
    "report": "retscale.report.commands",
}


def _load(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # A stage that is not part of this build yet; any other missing import is a real error.
        if exc.name and module_name.startswith(exc.name):
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retscale",
        description="Measure how a decoder LLM's retrieval ability scales with pretraining compute: "
        "pretrain or load checkpoints, fine-tune them as embedders (InfoNCE), evaluate on BEIR, "
        "score in-context learning, and fit scaling laws.",
        epilog="Run 'retscale COMMAND --help' for a command's options. Offline data: set RETSCALE_SHARED_DATA.",
    )
    parser.add_argument("--version", action="version", version=f"retscale {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="print the traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        cmd = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    from retscale.runtime import reuse_freed_memory

    reuse_freed_memory()
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("retscale: interrupted; finished work is saved — re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `retscale ... | head`: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the one funnel: expected failures are one line, bugs say so
        if args.debug:
            traceback.print_exc()
        error = explain(exc)
        if error is not None:
            print(f"retscale: error: {error.one_line()}", file=sys.stderr)
            return error.exit_code
        print(f"retscale: internal error (a bug in retscale, not in your input): {type(exc).__name__}: {exc}"
              .splitlines()[0] + ("" if args.debug else " — run 'retscale --debug ...' to see the traceback"),
              file=sys.stderr)
        return 1


# errno → what to do about a path that cannot be used
_OS_FIXES = {
    errno.EEXIST: "a file is where a folder should be: choose another path or move the file",
    errno.ENOTDIR: "a file is where a folder should be: choose another path or move the file",
    errno.EISDIR: "a folder is where a file should be: choose another path",
    errno.EACCES: "choose a location you can write to, or fix its permissions",
    errno.EPERM: "choose a location you can write to, or fix its permissions",
    errno.EROFS: "the file system is read-only: choose another location",
    errno.ENOSPC: "free some disk space (or set RETSCALE_HOME to a larger disk) and re-run to resume",
    errno.ENOENT: "check the path",
}


def explain(exc: BaseException) -> UserError | None:
    """The expected failure ``exc`` as a one-line ``UserError``, or None if it is a bug."""
    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return UserError(f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})",
                         fix="re-save it as UTF-8")
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else None
        problem = exc.strerror or str(exc) or type(exc).__name__
        if exc.filename2 is not None:
            problem += f" (→ {exc.filename2})"
        return UserError(problem, path=where, fix=_OS_FIXES.get(exc.errno or 0))
    if isinstance(exc, sqlite3.DatabaseError):
        return UserError(f"a results store (SQLite) is damaged or not a database: {exc}",
                         fix="restore it from a copy, or re-run into a new --output folder")
    if isinstance(exc, zipfile.BadZipFile):
        return UserError(f"a damaged zip archive: {exc}", fix="delete it so that it is fetched again")
    if type(exc).__module__.startswith("pydantic") and hasattr(exc, "errors"):
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = ".".join(str(part) for part in first.get("loc", ()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return UserError(f"invalid {getattr(exc, 'title', 'settings')}: {loc + ': ' if loc else ''}"
                         f"{first.get('msg', exc)}{more}", fix="see the command's --help for the allowed values")
    if type(exc).__module__.startswith("yaml"):
        return UserError(f"malformed YAML: {exc}", fix="check the indentation and quoting at that line")
    return None


if __name__ == "__main__":
    sys.exit(main())
