"""Resolve an operator's ``python:`` action reference to a rasa_sdk Action class, at load time.

Importing when the plan loads (not on the first call that needs it) turns a typo or a syntax
error in the action file into a dialplan error with a line number instead of a failed call.
Files are imported under a name that includes their modification time, so a hot reload of the
plan picks up an edited action file while calls in flight keep the class they started with.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from rasa_sdk import Action


def load_action_class(spec: str, base_dir: Path) -> type[Action]:
    """``"pkg.module:Class"``, ``"pkg.module.Class"`` or ``"file.py:Class"`` -> the class.

    Raises ValueError with an operator-readable message.
    """
    if ":" in spec:
        where, _, cls_name = spec.rpartition(":")
    else:
        where, _, cls_name = spec.rpartition(".")
    if not where or not cls_name:
        raise ValueError(
            f'"{spec}" should look like "package.module:ClassName" or "actions/file.py:ClassName"'
        )
    if where.endswith(".py") or "/" in where:
        path = (base_dir / where).resolve()
        if not path.is_file():
            raise ValueError(f"action file {where} not found (looked at {path})")
        stamp = f"{path}:{path.stat().st_mtime_ns}"
        mod_name = "ivr_dialplan_action_" + hashlib.sha1(stamp.encode()).hexdigest()[:16]
        module = sys.modules.get(mod_name)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise ValueError(f"cannot import {where}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module
            try:
                loader_spec.loader.exec_module(module)
            except Exception as exc:  # the operator's code: report anything it raises
                del sys.modules[mod_name]
                raise ValueError(f"importing {where} failed: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise ValueError(f"cannot import module {where}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ValueError(f"{where} has no class {cls_name}")
    if not (isinstance(cls, type) and issubclass(cls, Action)):
        raise ValueError(f"{spec} is not a rasa_sdk Action subclass")
    return cls
