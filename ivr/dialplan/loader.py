"""``load_dialplan``: YAML file -> validated, cross-checked :class:`Dialplan`, or every error.

Three passes, each reporting FILE:LINE: strict YAML (no 1.1 surprises, no duplicate keys), the
pydantic models (types, unknown keys), then whole-plan references. Files the plan points at (the
knowledge-base file, in-process action modules) are loaded here too, so a plan that loads is a
plan that runs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ivr.actions.loading import load_action_class
from ivr.dialplan.checks import check_plan
from ivr.dialplan.errors import DialplanError, ErrorItem
from ivr.dialplan.models import Dialplan, FaqEntry, Model
from ivr.dialplan.pydantic_errors import dotted, to_items
from ivr.dialplan.yamlload import Located, read_yaml


class FaqFile(Model):
    """A knowledge-base file: ``entries:`` then a list of {id, questions, answer}."""

    entries: list[FaqEntry]


def _read(path: Path, shown: str) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DialplanError([(shown, 1, f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise DialplanError([(shown, 1, "the file is not UTF-8 text")]) from None
    return read_yaml(text, shown)


def load_dialplan(path: str | Path) -> Dialplan:
    """Load and fully check a dialplan; raise :class:`DialplanError` listing every problem."""
    path = Path(path)
    shown = str(path)
    located = _read(path, shown)
    if not isinstance(located.data, dict):
        raise DialplanError(
            [(shown, 1, "a dialplan must be a map of keys (name:, start:, nodes: ...)")]
        )
    try:
        plan = Dialplan.model_validate(located.data)
    except ValidationError as exc:
        raise DialplanError(to_items(exc, Dialplan, located, shown)) from None

    errors: list[ErrorItem] = []
    kb = plan.knowledge_base
    if kb is not None and kb.file:
        kb_path = path.parent / kb.file
        try:
            kb_loc = _read(kb_path, str(kb_path))
            faq = FaqFile.model_validate(kb_loc.data)
        except DialplanError as exc:
            errors.extend(exc.errors)
        except ValidationError as exc:
            errors.extend(to_items(exc, FaqFile, kb_loc, str(kb_path)))
        else:
            merged = kb.model_copy(update={"entries": [*kb.entries, *faq.entries]})
            plan = plan.model_copy(update={"knowledge_base": merged})

    for where, message in check_plan(plan):
        errors.append((shown, located.line_of(where), f"{dotted(where)}: {message}"))

    classes: dict[str, type] = {}
    for name, adef in plan.actions.items():
        if adef.python is None:
            continue
        try:
            classes[name] = load_action_class(adef.python, path.parent)
        except ValueError as exc:
            errors.append(
                (
                    shown,
                    located.line_of(("actions", name, "python")),
                    f"actions.{name}.python: {exc}",
                )
            )
    if errors:
        raise DialplanError(errors)
    plan._source = str(path)
    plan._action_classes = classes
    return plan
