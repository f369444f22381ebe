"""``ivr customers import/show`` on a real SQLite database and ``ivr agents`` on a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.cli import main
from ivr.contact.queue import QueueEntry
from ivr.contact.redis_state import RedisOccupancy, RedisQueue

from .redis_server import RedisServer, redis_server  # noqa: F401

CSV = Path(__file__).parent / "fixtures" / "routing" / "customers.csv"
PLAN = Path(__file__).resolve().parents[1] / "dialplans" / "contact_centre.yaml"


def test_customers_import_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_DB_SPOOL", str(tmp_path / "spool"))
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    assert main(["customers", "import", str(CSV), "--db", db]) == 0
    assert "imported 4 customers" in capsys.readouterr().out
    assert main(["customers", "show", "(555) 555-0142", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Ana Lima" in out and "gold" in out and "vip, newsletter" in out
    assert main(["customers", "show", "+15550000000", "--db", db]) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("number\nnope\n")
    assert main(["customers", "import", str(bad), "--db", db]) == 1
    assert "bad.csv:2" in capsys.readouterr().err


def test_agents_prints_seats_queues_and_waits(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    redis_server.flush()
    occ = RedisOccupancy(redis_server.url)
    assert occ.try_claim("billing", "CA1", 3, 600) and occ.try_claim("billing", "CA2", 3, 600)
    RedisQueue(redis_server.url).add(QueueEntry("CA3", "billing", 0, 0.0))
    assert main(["agents", "--dialplan", str(PLAN), "--store", redis_server.url]) == 0
    out = capsys.readouterr().out
    billing = next(line for line in out.splitlines() if line.startswith("billing"))
    assert billing.split()[:3] == ["billing", "2/3", "1"]
    assert "call-backs pending: 0" in out
    assert main(["agents", "--dialplan", str(PLAN), "--store", ""]) == 2
