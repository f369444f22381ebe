"""``ivr eval``: the tests file is checked against the plan, and the report adds up.

The spoken channel is replaced by one that hears every phrase perfectly, so this checks the
folds, the decisions and the report; the real channel (Piper -> phone line -> Whisper) is what
``ivr eval`` and ``bench/understanding.py`` run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from ivr.cli import main
from ivr.dialplan import load_dialplan
from ivr.evaluate.plan import evaluate_plan, read_tests

REPO = Path(__file__).resolve().parents[1]
SHOP = REPO / "dialplans" / "shop.yaml"


class PerfectEar:
    def hear(self, texts: Sequence[str], hints: Any = None, progress: Any = None) -> list[str]:
        return list(texts)


def test_tests_file_typos_are_errors(tmp_path: Path) -> None:
    plan = load_dialplan(SHOP)
    bad = tmp_path / "t.yaml"
    bad.write_text("main:\n  biling: [my bill]\n")
    with pytest.raises(ValueError, match="no option named 'biling'"):
        read_tests(bad, plan)
    bad.write_text("nowhere:\n  billing: [my bill]\n")
    with pytest.raises(ValueError, match="not a menu node"):
        read_tests(bad, plan)


def test_report_from_a_tests_file(tmp_path: Path) -> None:
    plan = load_dialplan(SHOP)
    f = tmp_path / "t.yaml"
    f.write_text("main:\n  billing: [I was charged twice]\n"
                 "  returns: [return a pair of shoes, I want a refund]\n")
    r = evaluate_plan(plan, read_tests(f, plan), channel=cast(Any, PerfectEar()), progress=False)
    assert r["turns"] == 3
    assert {row["option"] for row in r["options"]} == {"billing", "returns"}
    for row in r["options"]:
        assert row["n"] == sum(row[k] for k in ("right", "confirmed_right", "confirmed_wrong",
                                                  "wrong", "no_match"))
    # verbatim examples heard perfectly: accepted, right
    assert r["overall"]["right"] == 1.0
    assert 0.4 <= r["suggested_accept"] <= 0.95
    json.dumps(r)


def test_cross_validated_mode_covers_every_option() -> None:
    plan = load_dialplan(SHOP)
    r = evaluate_plan(plan, None, per_option=1, channel=cast(Any, PerfectEar()), progress=False)
    menu = next(n for n in plan.nodes if n == "main")
    options = {o.name for o in plan.nodes[menu].options}  # type: ignore[union-attr]
    assert {row["option"] for row in r["options"] if row["menu"] == "main"} == options
    assert r["turns"] >= len(options)


def test_cli_reports_a_bad_tests_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("- not a mapping\n")
    assert main(["eval", str(SHOP), "--tests", str(f)]) == 2
    assert "expected a mapping" in capsys.readouterr().err
