"""Turn pydantic's validation errors into plain-English lines an operator can act on.

Pydantic says "Extra inputs are not permitted" at ``('nodes', 'main', 'menu', 'promt')``; an
operator needs ``nodes.main.promt: unknown key "promt" (did you mean "prompt"?)`` at the line
where they typed it. Walking the models along the error location gives the allowed keys.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ivr.dialplan.errors import ErrorItem
from ivr.dialplan.yamlload import Located, Path_, data_path


def dotted(path: Path_) -> str:
    """('nodes', 'main', 'options', 0) -> 'nodes.main.options[0]'."""
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "(top level)"


def _strip(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow field types along ``loc`` to the model that owns the last part."""
    tp: Any = root
    for part in loc:
        tp = _strip(tp)
        origin = get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            members = [_strip(a) for a in get_args(tp) if a is not type(None)]
            chosen = None
            for m in members:
                if isinstance(m, type) and issubclass(m, BaseModel):
                    f = m.model_fields.get("type")
                    if (
                        f is not None
                        and get_origin(f.annotation) is Literal
                        and part in get_args(f.annotation)
                    ):
                        chosen = m
                        break
            if chosen is not None:
                tp = chosen
                continue  # the tag itself consumed this part
            if len(members) == 1:
                tp = members[0]
            else:
                return None
            tp = _strip(tp)
            origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif origin is dict:
            tp = get_args(tp)[1]
        elif origin is list:
            tp = get_args(tp)[0]
        else:
            return None
    tp = _strip(tp)
    if get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        tp = _strip(members[0]) if len(members) == 1 else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _describe(v: Any) -> str:
    if v is True or v is False:
        return str(v).lower()
    if v is None:
        return "nothing"
    if isinstance(v, dict):
        return "a map of keys"
    if isinstance(v, list):
        return "a list"
    return repr(v)


def message(err: ErrorDetails, root: type[BaseModel], data: Any) -> tuple[Path_, str]:
    """(document path, plain-English message) for one pydantic error."""
    loc = tuple(err["loc"])
    path = data_path(loc, data)
    where = dotted(path)
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    got = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        where = dotted(path[:-1]) if path and path[-1] == key else where
        owner = _model_at(root, loc[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        near = difflib.get_close_matches(key, allowed, n=1)
        hint = f' (did you mean "{near[0]}"?)' if near else ""
        listing = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return path, f'{where}: unknown key "{key}"{hint}{listing}'
    if kind == "missing":
        key = str(loc[-1])
        return path, f'{where}: missing required key "{key}"'
    if kind == "union_tag_invalid":
        if isinstance(got, dict) and "type" in got:
            path = (*path, "type")  # point at the bad `type:` line, not the node's name
        return path, (
            f'{where}: unknown node type "{ctx.get("tag")}" '
            f"(expected one of: {ctx.get('expected_tags')})"
        )
    if kind == "union_tag_not_found":
        return (
            path,
            f'{where}: a node needs a "type:" key (menu, answer, collect, question, '
            "action, branch, transfer or hangup)",
        )
    if kind in ("string_type",):
        return path, (
            f"{where}: expected text, got {_describe(got)}"
            + (" (quote it if you mean the word)" if isinstance(got, bool) else "")
        )
    if kind in ("bool_type", "bool_parsing"):
        return path, f"{where}: expected true or false, got {_describe(got)}"
    if kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"):
        return path, f"{where}: expected a number, got {_describe(got)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return path, f"{where}: expected a map of keys, got {_describe(got)}"
    if kind == "list_type":
        return path, f"{where}: expected a list, got {_describe(got)}"
    if kind == "string_pattern_mismatch":
        return (
            path,
            f"{where}: {_describe(got)} is not in the expected format "
            f"(pattern {ctx.get('pattern')})",
        )
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return path, f"{where}: {msg}"


def to_items(
    exc: ValidationError, root: type[BaseModel], located: Located, filename: str
) -> list[ErrorItem]:
    """Every pydantic error as (file, line, message), one per distinct message."""
    out: list[ErrorItem] = []
    seen: set[tuple[int, str]] = set()
    for err in exc.errors():
        path, msg = message(err, root, located.data)
        line = located.line_of(path)
        if (line, msg) not in seen:
            seen.add((line, msg))
            out.append((filename, line, msg))
    return out
