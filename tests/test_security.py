"""Signature checks against Twilio's official test vectors, and forged requests refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from ivr.app import create_app
from ivr.config import Settings
from ivr.errors import ConfigError, ForbiddenRequest
from ivr.security import check_signature

from .fakes import fake_services

# From twilio-python's tests/unit/test_request_validator.py (shared/data/twilio/*.ref).
TOKEN = "12345"
URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_vectors_are_the_shipped_ones(twilio_data: Path) -> None:
    ref = (twilio_data / "twilio_python_test_request_validator.py.ref").read_text()
    assert EXPECTED in ref and URI in ref and '"12345"' in ref


def test_official_vector_accepted() -> None:
    check_signature(TOKEN, URI, PARAMS, EXPECTED)
    # Twilio may sign with or without the default port; both must pass.
    check_signature(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", PARAMS, EXPECTED)


@pytest.mark.parametrize(
    "token,uri,params,sig",
    [
        ("wrong", URI, PARAMS, EXPECTED),
        (TOKEN, URI.replace("foo=1", "foo=2"), PARAMS, EXPECTED),
        (TOKEN, URI, {**PARAMS, "Digits": "9999"}, EXPECTED),
        (TOKEN, URI, PARAMS, ""),
        (TOKEN, URI, PARAMS, "AAAA" + EXPECTED[4:]),
        ("", URI, PARAMS, EXPECTED),
    ],
)
def test_tampered_requests_rejected(token: str, uri: str, params: dict[str, str], sig: str) -> None:
    with pytest.raises(ForbiddenRequest):
        check_signature(token, uri, params, sig)


BASE = "https://ivr.example.com"


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    settings = Settings(dialplan=Path("unused.yaml"), public_url=BASE, auth_token=TOKEN)
    app = create_app(settings, fake_services())
    return app.test_client()


def sign(url: str, params: dict[str, str]) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params)


CALL = {"CallSid": "CA1", "AccountSid": "AC1", "From": "+15551230000", "To": "+15559870000",
        "CallStatus": "ringing"}


def test_signed_voice_webhook_answers_with_connect_stream(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/twilio/voice", data=CALL,
                       headers={"X-Twilio-Signature": sign(BASE + "/twilio/voice", CALL)})
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert f'<Connect action="{BASE}/twilio/after-stream">' in body
    assert '<Stream url="wss://ivr.example.com/twilio/media">' in body  # no query string
    assert '<Parameter name="token" value="' in body


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "forged"}])
def test_forged_voice_webhook_is_403_and_nothing_processed(client, headers) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/twilio/voice", data=CALL, headers=headers)
    assert resp.status_code == 403
    services = client.application.config["IVR_SERVICES"]
    assert services.store.get_record("CA1") is None


def test_signature_over_other_url_rejected(client) -> None:  # type: ignore[no-untyped-def]
    sig = sign("https://evil.example.com/twilio/voice", CALL)
    assert client.post("/twilio/voice", data=CALL,
                       headers={"X-Twilio-Signature": sig}).status_code == 403


def test_forged_websocket_upgrade_refused(client) -> None:  # type: ignore[no-untyped-def]
    ws_headers = {"Upgrade": "websocket", "Connection": "Upgrade",
                  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
    assert client.get("/twilio/media", headers=ws_headers).status_code == 403
    forged = {**ws_headers, "x-twilio-signature": sign("wss://evil.example.com/twilio/media", {})}
    assert client.get("/twilio/media", headers=forged).status_code == 403


def test_serve_refuses_without_token_unless_insecure_dev() -> None:
    with pytest.raises(ConfigError):
        Settings(dialplan=Path("x.yaml")).check_security()
    Settings(dialplan=Path("x.yaml"), insecure_dev=True).check_security()
