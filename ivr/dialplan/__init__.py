"""The operator dialplan language: load, check, describe (schema) and hot-reload YAML plans."""

from __future__ import annotations

from ivr.dialplan.check import check_main
from ivr.dialplan.errors import DialplanError
from ivr.dialplan.holder import PlanHolder
from ivr.dialplan.loader import load_dialplan
from ivr.dialplan.models import Dialplan
from ivr.dialplan.schema import json_schema

__all__ = ["Dialplan", "DialplanError", "PlanHolder", "check_main", "json_schema", "load_dialplan"]
