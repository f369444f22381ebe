"""JSON schema of the dialplan format, for editor completion and inline docs.

Generated from the models so it cannot drift from what the loader accepts. The checked-in copy
(dialplans/dialplan.schema.json) is what YAML editors read through the
``# yaml-language-server: $schema=...`` comment at the top of each example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ivr.dialplan.models import Dialplan


def json_schema() -> dict[str, Any]:
    """The dialplan JSON schema (draft 2020-12, as pydantic writes it)."""
    schema = Dialplan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ivr dialplan"
    return schema


def write_schema(path: str | Path) -> None:
    """Write the schema where editors find it (run after changing the models)."""
    Path(path).write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
