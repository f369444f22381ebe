"""The one error a broken dialplan raises, carrying every problem found with its FILE:LINE.

Operators fix dialplans in an editor, so each problem names the file and line it is on and says
what is wrong in plain English; collecting them all (instead of stopping at the first) saves an
edit-check-edit loop per mistake.
"""

from __future__ import annotations

from collections.abc import Sequence

from ivr.errors import IvrError

ErrorItem = tuple[str, int, str]


class DialplanError(IvrError):
    """A dialplan failed to load. ``errors`` lists ``(file, line, message)``, in file order."""

    code = "dialplan_invalid"

    def __init__(self, errors: Sequence[ErrorItem]) -> None:
        self.errors: list[ErrorItem] = sorted(errors, key=lambda e: (e[0], e[1]))
        super().__init__("\n".join(format_error(e) for e in self.errors) or "invalid dialplan")


def format_error(err: ErrorItem) -> str:
    """``file:line: message``, the format editors and CI annotate."""
    file, line, message = err
    return f"{file}:{line}: {message}"
