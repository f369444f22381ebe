"""Property-based fuzzing of the dialplan loader: any YAML an operator (or an editor crash) can
produce either loads or raises the project's own errors (a :class:`DialplanError` with
file:line items) -- never a raw KeyError / TypeError / yaml error from deep inside.

Inputs: random YAML text, random YAML documents built from dialplan-shaped keys, and mutations of
the real example ``dialplans/shop.yaml`` (line edits, and subtree replacements in its parsed
tree). The example's kb/ and actions/ folders are copied beside each mutant so references
resolve as they do for the original.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ivr.dialplan import DialplanError, load_dialplan
from ivr.errors import IvrError

from .conftest import REPO_ROOT
from .mutate import tree_paths, tree_replace

SHOP = REPO_ROOT / "dialplans" / "shop.yaml"
SHOP_TEXT = SHOP.read_text(encoding="utf-8")
SHOP_LINES = SHOP_TEXT.splitlines()
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
KEYS = ["name", "greeting", "start", "default_group", "vocabulary", "settings", "agents",
        "global_intents", "hours", "frustration", "knowledge_base", "slots", "actions", "nodes",
        "type", "prompt", "options", "examples", "dtmf", "go", "transfer", "then", "say", "slot",
        "timeout_s", "retries", "number", "workflow_sid", "file", "threshold", "menu", "collect"]
# Scalars that YAML 1.1 / 1.2 read in surprising ways, and YAML syntax fragments.
TRICKY = ["", "no", "yes", "012", "1:30", "2024-12-25", "~", "null", ".inf", "-.nan", "0x1F",
          "[", "]", "{", "{a: 1}", "- x", "&a x", "*a", "!!python/object:os.system", "'", '"',
          "|", ">", "?", "%YAML 1.1", "---", "...", "\t", "é", "\x00", "1e400", "-1", "0"]

scalars = (st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True)
           | st.sampled_from(TRICKY) | st.text(max_size=12))
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def plan_dir() -> Iterator[Path]:
    """A scratch copy of dialplans/ so a mutant's kb/ and actions/ references resolve."""
    tmp = Path(tempfile.mkdtemp(prefix="ivr-fuzz-"))
    shutil.copytree(REPO_ROOT / "dialplans", tmp / "dialplans")
    yield tmp / "dialplans"
    shutil.rmtree(tmp, ignore_errors=True)


def check(plan_dir: Path, text: str | bytes) -> None:
    path = plan_dir / "fuzz.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_dialplan(path)
    except DialplanError as exc:
        assert exc.errors, "a DialplanError must list at least one file:line problem"
        for shown, line, message in exc.errors:
            assert shown and isinstance(line, int) and line >= 1 and message
    except IvrError:
        pass




SHOP_TREE = yaml.safe_load(SHOP_TEXT)
SHOP_PATHS = tree_paths(SHOP_TREE)


def test_the_example_itself_loads(plan_dir: Path) -> None:
    plan = load_dialplan(plan_dir / "shop.yaml")  # the seed the mutations start from is valid
    assert plan.start in plan.nodes and plan.default_group in plan.agents


@FUZZ
@given(st.text(max_size=300))
@example("a: &a [*a, *a]")
@example("nodes: !!python/object/apply:os.system ['true']")
@example("[" * 5000)
@example("name: x\nname: y")
@example("\ufeffname: x")
def test_random_yaml_text(plan_dir: Path, text: str) -> None:
    check(plan_dir, text)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(plan_dir: Path, raw: bytes) -> None:
    check(plan_dir, raw)


@FUZZ
@given(documents)
def test_random_documents(plan_dir: Path, doc: Any) -> None:
    check(plan_dir, yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.sampled_from(SHOP_PATHS), documents)
def test_shop_with_a_subtree_replaced(plan_dir: Path, path: tuple[Any, ...], value: Any) -> None:
    check(plan_dir, yaml.safe_dump(tree_replace(SHOP_TREE, path, value), allow_unicode=True,
                                   sort_keys=False))


@FUZZ
@given(st.data())
def test_shop_with_lines_edited(plan_dir: Path, data: st.DataObject) -> None:
    lines = list(SHOP_LINES)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "value", "indent", "insert"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {data.draw(st.sampled_from(TRICKY) | st.text(max_size=10))}"
        elif op == "indent":
            lines[i] = " " * data.draw(st.integers(0, 7)) + lines[i].lstrip()
        else:
            lines.insert(i, data.draw(st.sampled_from(TRICKY) | st.text(max_size=20)))
    check(plan_dir, "\n".join(lines) + "\n")


def test_alias_bomb_is_refused_not_expanded(plan_dir: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (plan_dir / "bomb.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DialplanError, match="expands to more than"):
        load_dialplan(plan_dir / "bomb.yaml")
