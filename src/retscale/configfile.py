"""YAML (or command-line values) into a pydantic model; every mistake becomes a one-line ``UserError``.

The one converter used wherever YAML is loaded into pydantic (the study config, ``retscale finetune --config``).
An error names the key by its dotted path (``mining.depth``) and the YAML line it is on; a value that came from
a command-line flag is named by that flag instead (``flags``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from retscale.errors import UserError

M = TypeVar("M", bound=BaseModel)


def parse_yaml_mapping(text: str, path: str | Path, what: str = "a config") -> dict[str, Any]:
    """The YAML mapping in ``text`` (empty text: an empty mapping); malformed YAML names its line."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"malformed YAML ({getattr(exc, 'problem', None) or exc})".splitlines()[0], path=path,
                        line=None if mark is None else mark.line + 1) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{what} must be a YAML mapping", path=path)
    return raw


def read_yaml_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError("config file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None


def validate(model: type[M], values: Mapping[str, Any], *, path: str | Path = "<config>", text: str | None = None,
             fix: str | None = None, flags: Mapping[str, str] | None = None) -> M:
    """``model.model_validate(values)``, with the first error as a one-line ``UserError``.

    ``text``: the YAML the values came from (for line numbers). ``flags``: top-level keys whose values came from
    the command line, mapped to their flag, so the message names what the user typed.
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise validation_error(exc, path=path, text=text, fix=fix, flags=flags) from None


def validation_error(exc: ValidationError, *, path: str | Path = "<config>", text: str | None = None,
                     fix: str | None = None, flags: Mapping[str, str] | None = None) -> UserError:
    """The first error of ``exc`` as a ``UserError`` naming the key (or flag) and its YAML line."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if flags and loc and loc[0] in flags:
        return UserError(f"{flags[loc[0]]}: {msg}{more}", fix=fix)
    key = ".".join(loc) or "(top level)"
    return UserError(f"{key}: {msg}{more}", path=path, line=None if text is None else yaml_line(text, loc), fix=fix)


def yaml_line(text: str, loc: list[str]) -> int | None:
    """The 1-based line of the deepest existing YAML node along ``loc``."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line
