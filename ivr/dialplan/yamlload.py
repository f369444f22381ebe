"""A strict YAML reader that remembers where every key and value came from.

Why not ``yaml.safe_load``: PyYAML implements YAML 1.1, where ``no`` is ``False``, ``012`` is 10
(octal), ``1:30`` is 90 (base 60) and ``2024-12-25`` is a date object. An operator who writes
``examples: [yes, no]`` or ``dtmf: 012`` means the text. Here plain scalars resolve the YAML 1.2
core way: ``true``/``false``, ``null``/``~``/empty, decimal integers without a leading zero and
plain decimals; everything else stays the string that was typed. Duplicate keys (which PyYAML
silently lets the last one win) are errors.

Positions are kept in a side table keyed by the path of each value (``("nodes", "main",
"options", 0, "go")``) so validation errors found later can be reported as FILE:LINE.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ivr.dialplan.errors import DialplanError, ErrorItem

Path_ = tuple[str | int, ...]

_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
MAX_NODES = 200_000
"""Far above any real plan (bank.yaml, 77 intents, is a few thousand values)."""


class Located:
    """The parsed document plus ``lines[path]``: 1-based line of each key (or list item)."""

    def __init__(self, data: Any, lines: dict[Path_, int]) -> None:
        self.data = data
        self.lines = lines

    def line_of(self, loc: tuple[Any, ...]) -> int:
        """The line of the deepest prefix of ``loc`` that exists in the document."""
        path = data_path(loc, self.data)
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return self.lines.get((), 1)


def _child(cur: Any, part: Any) -> tuple[bool, Any]:
    if isinstance(cur, dict):
        return part in cur, cur.get(part)
    if isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
        return True, cur[part]
    return False, None


def data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """The parts of ``loc`` that are really in ``data`` (drops a validator's union tags)."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        found, child = _child(cur, part)
        if found:
            cur = child
            out.append(part)
    return tuple(out)


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.style is not None and node.style != "":
        return node.value  # quoted or block scalar: always text
    if node.tag not in (
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:timestamp",
        "tag:yaml.org,2002:value",
        "tag:yaml.org,2002:merge",
    ):
        raise ValueError(f"YAML tag {node.tag!r} is not allowed in a dialplan")
    v = node.value
    if v in _NULL:
        return None
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    if _INT.fullmatch(v):
        return int(v)
    if _FLOAT.fullmatch(v):
        return float(v)
    return v


def read_yaml(text: str, filename: str) -> Located:
    """Parse ``text`` into plain dicts/lists/scalars with positions; raise DialplanError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise DialplanError([(filename, line, f"not valid YAML: {problem}")]) from None
    except RecursionError:  # '[[[[...' thousands deep (found by tests/test_fuzz_dialplan.py)
        raise DialplanError([(filename, 1, "not valid YAML: nested too deeply")]) from None
    lines: dict[Path_, int] = {}
    errors: list[ErrorItem] = []
    if root is None:
        raise DialplanError([(filename, 1, "the file is empty")])

    budget = [MAX_NODES]

    def build(node: yaml.Node, path: Path_) -> Any:
        budget[0] -= 1
        if budget[0] < 0:  # aliases of aliases expand exponentially ("billion laughs")
            raise DialplanError([(filename, node.start_mark.line + 1,
                                  f"the document expands to more than {MAX_NODES} values")])
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            try:
                return _scalar(node)
            except ValueError as exc:
                errors.append((filename, node.start_mark.line + 1, str(exc)))
                return None
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                line = knode.start_mark.line + 1
                if not isinstance(knode, yaml.ScalarNode):
                    errors.append((filename, line, "a key must be a plain word, not a list/map"))
                    continue
                if knode.value == "<<":
                    errors.append((filename, line, "YAML merge keys (<<) are not supported"))
                    continue
                key = knode.value  # keys are always text: `1:` or `no:` mean the words
                if key in out:
                    errors.append(
                        (
                            filename,
                            line,
                            f"duplicate key {key!r} (first at line {lines.get((*path, key), '?')})",
                        )
                    )
                    continue
                lines[(*path, key)] = line
                out[key] = build(vnode, (*path, key))
            return out
        raise DialplanError([(filename, node.start_mark.line + 1, "unsupported YAML node")])

    try:
        data = build(root, ())
    except RecursionError:
        raise DialplanError([(filename, 1, "the document is nested too deeply")]) from None
    if errors:
        raise DialplanError(errors)
    return Located(data, lines)
