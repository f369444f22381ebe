"""bench/routing.py drives the real routing code; on its simulated clock, occupancy-aware
routing with overflow and priority must beat static routing at the same load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "routing.py"


def test_dynamic_routing_beats_static_on_the_simulated_hour() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--json", "--seeds", "2", "--rates", "260"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    [load] = json.loads(out.strip().splitlines()[-1])["loads"]
    static, full = load["static"], load["full"]
    assert full["p90_wait_s"] < static["p90_wait_s"]
    assert full["abandoned"] < static["abandoned"]
    assert full["priority_p90_wait_s"] < static["priority_p90_wait_s"]
    assert static["occupancy"]["senior"] == 0 < full["occupancy"]["senior"]
