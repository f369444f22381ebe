"""Shared test paths. The external data lives in ../shared beside the repo (read-only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IVR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
TWILIO_DATA = SHARED_DATA / "twilio"


@pytest.fixture
def twilio_data() -> Path:
    if not TWILIO_DATA.exists():
        pytest.skip(f"shared Twilio data not found at {TWILIO_DATA}")
    return TWILIO_DATA
