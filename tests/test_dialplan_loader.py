"""Loader strictness: every rule reports FILE:LINE and a plain-English message."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ivr.dialplan import DialplanError, check_main, json_schema, load_dialplan
from ivr.dialplan.models import CollectNode, MenuNode

REPO = Path(__file__).resolve().parents[1]
DIALPLANS = REPO / "dialplans"

MINIMAL = """\
name: Test
start: main
default_group: general
agents:
  general: {number: "+15555550100"}
nodes:
  main:
    type: menu
    prompt: Say billing or press 1.
    options:
      - name: billing
        dtmf: 1
        examples: [my bill]
        go: bye
  bye:
    type: hangup
    say: Bye.
"""


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def errors_of(path: Path) -> list[tuple[str, int, str]]:
    with pytest.raises(DialplanError) as exc:
        load_dialplan(path)
    assert exc.value.code == "dialplan_invalid"
    return exc.value.errors


def test_minimal_plan_loads(tmp_path: Path) -> None:
    plan = load_dialplan(write(tmp_path, MINIMAL))
    menu = plan.nodes["main"]
    assert isinstance(menu, MenuNode) and menu.options[0].dtmf == "1"


@pytest.mark.parametrize("name", ["shop.yaml", "bank.yaml"])
def test_examples_load(name: str) -> None:
    plan = load_dialplan(DIALPLANS / name)
    assert plan.nodes and plan.agents


def test_unknown_key_has_line_and_suggestion(tmp_path: Path) -> None:
    p = write(tmp_path, MINIMAL.replace("    prompt: Say", "    promt: Say"))
    errs = errors_of(p)
    msgs = [f"{line}: {m}" for _, line, m in errs]
    assert any(line == 9 and 'unknown key "promt"' in m and 'did you mean "prompt"' in m
               for _, line, m in errs), msgs
    assert any('missing required key "prompt"' in m for _, _, m in errs), msgs
    assert all(f == str(p) for f, _, _ in errs)


def test_option_to_missing_node(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("go: bye", "go: nowhere")))
    assert errs[0][1] == 14 and '"nowhere" is not a node' in errs[0][2]


def test_undefined_agent_group(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("go: bye", "transfer: sales")))
    assert errs[0][1] == 14 and '"sales" is not an agent group' in errs[0][2]


def test_duplicate_dtmf_in_menu(tmp_path: Path) -> None:
    text = MINIMAL.replace("        go: bye\n", "        go: bye\n"
                           "      - name: sales\n        dtmf: 1\n        go: bye\n", 1)
    errs = errors_of(write(tmp_path, text))
    assert errs[0][1] == 16 and "keypad key 1 is already used" in errs[0][2]


def test_dtmf_clashing_with_global_key(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("dtmf: 1", "dtmf: 0")))
    assert errs[0][1] == 12 and 'global "agent" intent' in errs[0][2]


def test_yaml11_surprises_stay_text(tmp_path: Path) -> None:
    text = MINIMAL.replace("examples: [my bill]", "examples: [yes, no, on, off, 012, 1:30]")
    plan = load_dialplan(write(tmp_path, text))
    menu = plan.nodes["main"]
    assert isinstance(menu, MenuNode)
    assert menu.options[0].examples == ["yes", "no", "on", "off", "012", "1:30"]


def test_octal_looking_key_is_rejected_with_line(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("dtmf: 1", "dtmf: 012")))
    assert errs[0][1] == 12 and "keypad key" in errs[0][2] and "'012'" in errs[0][2]


def test_sexagesimal_number_is_not_a_number(tmp_path: Path) -> None:
    text = MINIMAL.replace("name: Test\n", "name: Test\nsettings:\n  timeout_s: 1:30\n")
    errs = errors_of(write(tmp_path, text))
    assert errs[0][1] == 3 and "expected a number" in errs[0][2] and "'1:30'" in errs[0][2]


def test_boolean_where_text_expected(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("say: Bye.", "say: true")))
    assert errs[0][1] == 17 and "expected text, got true" in errs[0][2]


def test_duplicate_key(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("    say: Bye.", "    say: Bye.\n    say: x")))
    assert errs[0][1] == 18 and "duplicate key 'say' (first at line 17)" in errs[0][2]


def test_bad_yaml_syntax(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("examples: [my bill]", "examples: [my bill")))
    assert "not valid YAML" in errs[0][2]


def test_unknown_node_type(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("type: hangup", "type: hangupp")))
    assert errs[0][1] == 16 and 'unknown node type "hangupp"' in errs[0][2]


def test_unknown_slot_in_template(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("say: Bye.", "say: Bye {name}.")))
    assert errs[0][1] == 17 and "{name} is not a declared slot" in errs[0][2]


def test_bad_timezone_and_hours(tmp_path: Path) -> None:
    text = MINIMAL + "hours:\n  timezone: Mars/Olympus\n  open: {mon: '9-5'}\n"
    errs = errors_of(write(tmp_path, text))
    lines = {line: m for _, line, m in errs}
    assert "unknown time zone" in lines[19]
    assert "should look like '09:00-17:30'" in lines[20]


def test_agent_group_needs_one_route(tmp_path: Path) -> None:
    text = MINIMAL.replace('general: {number: "+15555550100"}',
                           'general: {number: "+15555550100", client: bob}')
    errs = errors_of(write(tmp_path, text))
    assert errs[0][1] == 5 and "exactly one of number, sip, client" in errs[0][2]


def test_menu_without_keypad(tmp_path: Path) -> None:
    errs = errors_of(write(tmp_path, MINIMAL.replace("        dtmf: 1\n", "")))
    assert errs[0][1] == 10 and "at least one option with a dtmf key" in errs[0][2]


def test_bad_python_action_is_a_load_error(tmp_path: Path) -> None:
    text = MINIMAL + "actions:\n  lookup: {python: missing_file.py:Nope}\n"
    errs = errors_of(write(tmp_path, text))
    assert errs[0][1] == 19 and "missing_file.py not found" in errs[0][2]


def test_kb_file_errors_point_into_kb_file(tmp_path: Path) -> None:
    write(tmp_path, "entries:\n  - questions: [a]\n    answr: b\n", "faq.yaml")
    errs = errors_of(write(tmp_path, MINIMAL + "knowledge_base: {file: faq.yaml}\n"))
    assert all(f.endswith("faq.yaml") for f, _, _ in errs)
    assert (str(tmp_path / "faq.yaml"), 3, 'entries[0]: unknown key "answr" (did you mean '
            '"answer"?); allowed here: answer, id, questions') in errs


def test_collect_slot_must_be_declared(tmp_path: Path) -> None:
    text = MINIMAL + ("  ask:\n    type: collect\n    slot: acct\n    prompt: Number?\n"
                      "    then: bye\n")
    errs = errors_of(write(tmp_path, text))
    assert errs[0][1] == 20 and 'slot "acct" is not declared' in errs[0][2]


def test_check_main_prints_file_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, MINIMAL.replace("go: bye", "go: nowhere"))
    assert check_main([str(bad)]) == 1
    assert capsys.readouterr().out.startswith(f"{bad}:14: ")
    assert check_main([str(DIALPLANS / "shop.yaml")]) == 0


def test_schema_matches_checked_in_copy() -> None:
    schema = json_schema()
    assert "nodes" in schema["properties"]
    on_disk = json.loads((DIALPLANS / "dialplan.schema.json").read_text())
    assert on_disk == schema, "run: python -c 'from ivr.dialplan.schema import write_schema; " \
        "write_schema(\"dialplans/dialplan.schema.json\")'"


def test_collect_defaults(tmp_path: Path) -> None:
    text = MINIMAL + "slots:\n  acct: {type: digits, max_length: 8}\n"
    text = text.replace("  bye:\n", "  ask:\n    type: collect\n    slot: acct\n"
                        "    prompt: Number?\n    then: bye\n  bye:\n")
    plan = load_dialplan(write(tmp_path, text))
    node = plan.nodes["ask"]
    assert isinstance(node, CollectNode) and node.retries == 2 and node.on_fail == "agent"


def test_unquoted_yes_no_keys_are_words(tmp_path: Path) -> None:
    text = MINIMAL + ("  ask:\n    type: question\n    prompt: Sure?\n    yes: bye\n"
                      "    no: main\n")
    plan = load_dialplan(write(tmp_path, text))
    node = plan.nodes["ask"]
    assert node.type == "question" and (node.yes, node.no) == ("bye", "main")


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    text = MINIMAL.replace("go: bye", "go: nowhere").replace("default_group: general",
                                                             "default_group: sales")
    errs = errors_of(write(tmp_path, text))
    assert [line for _, line, _ in errs] == [3, 14]
