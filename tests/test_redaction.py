"""PII detectors: card numbers (Luhn), PIN/CVV in context, SSN/IBAN shapes, keyed digits."""

from __future__ import annotations

import pytest

from ivr.handoff.redact import partial, redact_caller, redact_keys, redact_text, scrub

CARD = "4111111111111111"  # a Luhn-valid test card number


@pytest.mark.parametrize("text", [
    "my card number is 4111 1111 1111 1111",
    "my card number is 4111-1111-1111-1111 thanks",
    "four one one one one one one one one one one one one one one one",
    "4111111111111111",
])
def test_card_numbers_keep_only_the_last_four(text: str) -> None:
    red = redact_text(text)
    assert "card_number" in red.kinds
    assert "ending 1111" in red.text
    assert "4111 1111" not in red.text and CARD not in red.text.replace(" ", "").replace("-", "")


def test_digit_runs_that_fail_luhn_are_kept() -> None:
    assert redact_text("my order number is 4111111111111112").kinds == ()
    assert redact_text("order 123456 please").text == "order 123456 please"


@pytest.mark.parametrize(("text", "hint", "kind"), [
    ("my pin is 8 3 7 5", "", "pin"),
    ("eight three seven five", "Please say your four digit PIN.", "pin"),
    ("the security code is 123", "", "cvv"),
    ("it's 123", "What is the CVV on the back of the card?", "cvv"),
    ("my social is 123 45 6789", "", "ssn"),
    ("123-45-6789", "", "ssn"),
    ("my IBAN is GB82 WEST 1234 5698 7654 32", "", "iban"),
])
def test_pins_cvvs_ssns_and_ibans_in_context(text: str, hint: str, kind: str) -> None:
    red = redact_text(text, hint)
    assert red.kinds == (kind,)
    assert f"[{kind}]" in red.text
    assert not any(ch.isdigit() for ch in red.text)


def test_a_number_without_pin_context_is_kept() -> None:
    assert redact_text("I want to return 2 items from order 8375").kinds == ()


def test_keyed_digits() -> None:
    assert redact_keys(CARD + "#").text == "[card number ending 1111]"
    assert redact_keys("8375", "pin").text == "[pin]"
    assert redact_keys("8375", hint="Please key in your PIN").text == "[pin]"
    assert redact_keys("3").text == "3"
    assert redact_caller("8 3 7 5", "speech", "pin") == "[pin]"
    assert redact_caller("8375", "dtmf", "account_pin") == "[account_pin]"


def test_partial_read_back_and_scrub() -> None:
    assert partial(CARD) == "ending in 1 1 1 1"
    assert partial("8375") == "of 4 digits"
    assert scrub({"a": ["card 4111 1111 1111 1111"], "n": 3}) == {
        "a": ["card [card number ending 1111]"], "n": 3}


def test_sensitive_answers_without_digits_are_kept() -> None:
    assert redact_caller("Yes, that's right.", "speech", "card_number") == "Yes, that's right."
    assert redact_caller("no it's two four six eight one one", "speech", "pin") == "[pin]"
    assert redact_caller("1", "dtmf", "card_number") == "1"


def test_log_lines_are_masked_as_a_backstop() -> None:
    import io
    import logging

    from ivr.handoff.redact import RedactingFilter

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("ivr.test.redaction")
    log.addHandler(handler)
    try:
        log.error("lookup failed for %s", "4111 1111 1111 1111")
        try:
            raise ValueError("bad card 4111111111111111")
        except ValueError:
            log.exception("action raised")
    finally:
        log.removeHandler(handler)
    out = buf.getvalue()
    assert "4111 1111 1111 1111" not in out and "4111111111111111" not in out
    assert out.count("ending 1111") >= 2  # the message, the traceback
