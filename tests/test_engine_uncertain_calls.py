"""Uncertain understanding on recorded calls: real server, Whisper, Piper, the calibrated NLU.

The card-services plan (``tests/fixtures/plans/cards.yaml``) has neighbouring options on purpose
and a cautious operator's thresholds; synthesized callers (``tests/fixtures/make_audio.py``)
take the confirm, disambiguate and rejected-guess paths, and an out-of-scope question that
contains "agent" must not be transferred.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.caller import play_call
from ivr.caller.local_server import LocalServer

from .conftest import REPO_ROOT
from .test_calls_e2e import needs_shared_data

PLANS = REPO_ROOT / "tests" / "fixtures" / "plans"
SCENARIOS = sorted(p for p in (PLANS / "uncertain").iterdir() if (p / "call.yaml").exists())


@pytest.fixture(scope="module")
def cards_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    tmp = tmp_path_factory.mktemp("cards")
    with LocalServer(PLANS / "cards.yaml", workdir=tmp) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.parametrize("fixture", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_uncertain_call(cards_server: LocalServer, fixture: Path) -> None:
    needs_shared_data(fixture)
    report = play_call(fixture, cards_server.url, cards_server.token, speed=2.0, timeout_s=120)
    report.print()
    assert report.ok, f"{fixture.name}: {report.failures}\n{cards_server.output()}"
