"""Paths into, and single-point replacements of, a parsed JSON/YAML tree: the fuzz tests
mutate real documents (Twilio messages, the example dialplan) one node at a time."""

from __future__ import annotations

from typing import Any


def tree_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node's path (dict keys / list indexes), the root's included."""
    found = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            found += tree_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += tree_paths(v, (*prefix, i))
    return found


def tree_replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``obj`` with the node at ``path`` replaced by ``value``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: tree_replace(obj[head], rest, value)}
    copy = list(obj)
    copy[head] = tree_replace(copy[head], rest, value)
    return copy
