"""The server's background build of ASR-noised examples: one child per plan version, a stamp so
nobody speaks a version twice, a rebuild when it is done, and a failed build that only logs.

The first tests drive :class:`BackgroundBuild` with stand-in child commands (the logic: locks,
stamps, callbacks); the last runs the real thing, Piper and Whisper in a real child process,
behind a real :class:`ivr.server.PlanSource`.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path

import pytest

from ivr.nlu.noised import heard_examples, menu_hints
from ivr.nlu.noised_build import BackgroundBuild, plan_key, stamp_path
from tests.test_dialplan_loader import MINIMAL

OK = [sys.executable, "-c", "import sys; sys.exit(0)"]
FAIL = [sys.executable, "-c", "import sys; sys.exit(3)"]


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "plan.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


def test_a_plan_version_is_its_content(plan: Path, tmp_path: Path) -> None:
    key = plan_key(plan)
    assert stamp_path(plan).parent == tmp_path / "cache" / "noised"
    plan.write_text(MINIMAL.replace("[my bill]", "[my bill, a bill question]"), encoding="utf-8")
    assert plan_key(plan) != key


def test_built_once_then_skipped(plan: Path) -> None:
    done: list[int] = []
    build = BackgroundBuild(lambda: done.append(1), command=OK)
    assert build.request(plan) is True
    assert build.finished.wait(30)
    assert done == [1] and stamp_path(plan).exists()
    # The next start finds the stamp: nothing to speak, and the plan was built complete already.
    again = BackgroundBuild(lambda: done.append(2), command=FAIL)
    assert again.request(plan) is False and again.finished.is_set()
    assert done == [1]


def test_a_failed_build_is_logged_and_not_stamped(plan: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    done: list[int] = []
    build = BackgroundBuild(lambda: done.append(1), command=FAIL)
    with caplog.at_level(logging.ERROR, logger="ivr.nlu.noised_build"):
        assert build.request(plan) is True
        assert build.finished.wait(30)
    assert done == [] and not stamp_path(plan).exists()
    assert "exited with 3" in caplog.text


def test_a_failing_rebuild_is_logged_not_raised(plan: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def boom() -> None:
        raise RuntimeError("no memory for the new classifiers")

    build = BackgroundBuild(boom, command=OK)
    with caplog.at_level(logging.ERROR, logger="ivr.nlu.noised_build"):
        build.request(plan)
        assert build.finished.wait(30)
    assert "serving without them" in caplog.text and "no memory" in caplog.text


@pytest.mark.slow
def test_a_server_speaks_its_examples_in_the_background_and_swaps_them_in(plan: Path) -> None:
    from ivr.dialplan import load_dialplan
    from ivr.server import PlanSource

    plan.write_text(MINIMAL.replace("examples: [my bill]", textwrap.dedent("""\
        examples: [my bill is wrong, I was charged twice]""")), encoding="utf-8")
    source = PlanSource(plan, noised="background")
    try:
        first = source()
        assert source.noised is not None
        assert source.noised.finished.wait(240), "the background build did not finish"
        assert stamp_path(plan).exists()
        # Every example was heard by the real ASR and is in the cache the server reads...
        loaded = load_dialplan(plan)
        hints = menu_hints(loaded.vocabulary, ["billing"], list(loaded.agents))
        examples = {"billing": ["my bill is wrong", "I was charged twice"]}
        heard = heard_examples(examples, hints, cached_only=True)
        assert set(heard) == set(examples["billing"])
        assert all(t.strip() for t in heard.values())
        # ...and new calls get a plan built with them.
        assert source() is not first
    finally:
        source.close()
    # A restart finds the version built: no child, the first build already has every transcript.
    again = PlanSource(plan, noised="background")
    try:
        assert again.noised is not None and again.noised.finished.is_set()
    finally:
        again.close()


def test_each_asr_model_has_its_own_build(plan: Path, tmp_path: Path) -> None:
    """A server on another recogniser needs copies with that recogniser's errors."""
    assert plan_key(plan) == plan_key(plan, "tiny.en") != plan_key(plan, "base")
    build = BackgroundBuild(lambda: None, command=OK, asr_model="base")
    assert build.request(plan) is True and build.finished.wait(30)
    assert stamp_path(plan, "base").exists() and not stamp_path(plan).exists()


_WORKER = """
import logging, sys, time
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
from ivr.server import PlanSource
source = PlanSource(Path(sys.argv[1]), noised="background")
first = source()
assert source.noised is not None and source.noised.finished.wait(240)
print("REBUILT" if source() is not first else "SAME", flush=True)
source.close()
"""


@pytest.mark.slow
def test_two_workers_share_one_build(plan: Path, tmp_path: Path) -> None:
    """Two server processes on one host and plan: one child speaks, both get the new build."""
    import os
    import subprocess

    plan.write_text(MINIMAL.replace("examples: [my bill]",
                                    "examples: [my bill is wrong, a charge I don't know]"),
                    encoding="utf-8")
    script = tmp_path / "worker.py"
    script.write_text(_WORKER, encoding="utf-8")
    env = dict(os.environ)  # IVR_CACHE_DIR from the fixture
    procs = [subprocess.Popen([sys.executable, str(script), str(plan)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum(o.count("speaking the ASR-noised examples") for o in outs) == 1, outs
    assert all("REBUILT" in o for o in outs), outs


def test_a_menu_that_answers_faqs_also_speaks_their_questions() -> None:
    """The FAQ questions that join a menu's classifier are said by callers too, so they get
    noised copies; one definition serves the server, the build and ivr eval."""
    from ivr.dialplan import load_dialplan
    from ivr.dialplan.models import MenuNode
    from ivr.engine.factory import noised_inputs
    from tests.conftest import REPO_ROOT

    shop = load_dialplan(REPO_ROOT / "dialplans" / "shop.yaml")
    main = shop.nodes["main"]
    assert isinstance(main, MenuNode) and main.knowledge_base and shop.knowledge_base
    examples, hints = noised_inputs(shop, main)
    said = {t for texts in examples.values() for t in texts}
    assert {q for e in shop.knowledge_base.entries for q in e.questions} <= said
    assert {t for o in main.options for t in o.examples} <= said
    assert hints == menu_hints(shop.vocabulary, [o.name for o in main.options],
                               list(shop.agents))
