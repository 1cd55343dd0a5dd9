"""The ``retscale`` command: a thin driver over the stages.

Each sub-command lives in its stage as a ``commands`` module that defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import heavy libraries (torch, transformers)
inside ``run`` so that ``retscale --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
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
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"retscale: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("retscale: interrupted; finished work is saved — re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `retscale ... | head`: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
